import { ServiceError } from '../src/emulator/http';
import { CUSTOMER_ID_MAP_JOBS, seededJobId } from '../src/emulator/seed';
import { StartIdMappingJobDocument, StartMatchingJobDocument, type StartIdMappingJobMutationVariables } from './generated/graphql';
import { MemoryIdempotencyStore } from '../src/upstream/idempotency';
import { openPolicyEnv } from './utils/auth';
import { ManualClock } from './utils/clock';
import { capturedLogger, codes, startTestGateway, type TestGateway } from './utils/gateway';

/** The emulator's clock starts at the real time so that a lost start's job is found by its start time. */
const clock = new ManualClock(Date.now());
let t: TestGateway;
let keyCounter = 0;

const ROLE = 'arn:aws:iam::123456789012:role/ErOutput';
const output = { roleArn: ROLE, outputS3Path: 's3://my-results/id-map/' };
const newKey = () => `click-${++keyCounter}-${Date.now()}`;
/** Anyone may do anything, and starts may write with ROLE under s3://my-results/ (see auth.test.ts for the policy itself). */
const env = openPolicyEnv({
  grants: [{ to: { anyone: true }, workflows: ['*'], actions: ['read', 'start', 'subscribe'] }],
  outputs: [{ workflows: ['customer-id-map'], roles: [ROLE], s3Prefixes: ['s3://my-results/'] }],
});

beforeAll(async () => {
  t = await startTestGateway({ emulator: { clock: clock.read }, env });
});

afterAll(() => t.close());

beforeEach(() => {
  t.emulator.resetRequests();
  t.emulator.setFaults({});
});

// Let every job a test started finish, so the next test's workflow is free.
afterEach(() => clock.advance(20_000));

const startIdMapping = (input: StartIdMappingJobMutationVariables['input']) => t.execute(StartIdMappingJobDocument, { input });

describe('starting jobs', () => {
  test('startIdMappingJob starts one job and returns it as the service now reports it', async () => {
    const res = await startIdMapping({ workflowName: 'customer-id-map', outputSourceConfig: [output], jobType: 'BATCH' });
    expect(res.errors).toBeUndefined();
    const payload = res.data!.startIdMappingJob;
    expect(payload.jobId).toMatch(/^[a-f0-9]{32}$/);
    expect(payload).toMatchObject({ jobType: 'BATCH', outputSourceConfig: [{ ...output, kmsArn: null }] });
    expect(payload.job).toMatchObject({ workflowName: 'customer-id-map', jobId: payload.jobId, status: 'QUEUED', jobType: 'BATCH' });
    expect(t.emulator.requests('StartIdMappingJob')).toBe(1);
    expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
  });

  test("without an output source the workflow's own is used; an incremental workflow defaults to INCREMENTAL", async () => {
    const res = await startIdMapping({ workflowName: 'arn:aws:entityresolution:us-east-1:123456789012:idmappingworkflow/customer-id-map' });
    expect(res.data!.startIdMappingJob.outputSourceConfig).toEqual([
      expect.objectContaining({ outputS3Path: 's3://er-demo-output/customer-id-map/' }),
    ]);
  });

  test('when reading the new job fails, the payload still carries it, as QUEUED since the start', async () => {
    t.emulator.failNext('GetIdMappingJob', 'AccessDeniedException');
    const before = Date.now();
    const res = await startIdMapping({ workflowName: 'customer-id-map', outputSourceConfig: [output] });
    expect(res.errors).toBeUndefined();
    const payload = res.data!.startIdMappingJob;
    expect(payload.job).toMatchObject({ workflowName: 'customer-id-map', jobId: payload.jobId, status: 'QUEUED', jobType: 'BATCH' });
    expect(new Date(payload.job.startTime).getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(t.emulator.requests('StartIdMappingJob')).toBe(1);
    expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
  });

  test('startMatchingJob starts one job', async () => {
    const res = await t.execute(StartMatchingJobDocument, { input: { workflowName: 'customer-matching' } });
    expect(res.data!.startMatchingJob.job).toMatchObject({ jobId: res.data!.startMatchingJob.jobId, status: 'QUEUED' });
    expect(t.emulator.requests('StartMatchingJob')).toBe(1);
  });
});

describe("the service's refusals", () => {
  test('a job already running is CONFLICT, said in words a UI can show, and the start is not repeated', async () => {
    const held = t.emulator.state.holdRunning('idMapping', 'loyalty-id-map');
    try {
      const res = await startIdMapping({ workflowName: 'loyalty-id-map' });
      expect(res.data).toBeNull();
      expect(codes(res)).toEqual(['CONFLICT']);
      expect(res.errors![0].message).toMatch(/already queued or running.*one at a time per workflow/);
      expect(t.emulator.requests('StartIdMappingJob')).toBe(1);
    } finally {
      t.emulator.state.failJob('idMapping', 'loyalty-id-map', held.jobId, 'ended by the test');
    }
  });

  test('a missing workflow is NOT_FOUND', async () => {
    const res = await t.execute(StartMatchingJobDocument, { input: { workflowName: 'no-such-workflow' } });
    expect(codes(res)).toEqual(['NOT_FOUND']);
  });

  test('a quota is LIMIT_EXCEEDED with its name and value; a denied identity is FORBIDDEN', async () => {
    t.emulator.failNext(
      'StartIdMappingJob',
      new ServiceError('ExceedsLimitException', 'Limit.', { quotaName: 'Jobs per day', quotaValue: 100 }),
    );
    const limited = await startIdMapping({ workflowName: 'customer-id-map' });
    expect(limited.errors![0].extensions).toEqual({ code: 'LIMIT_EXCEEDED', quotaName: 'Jobs per day', quotaValue: 100 });
    t.emulator.failNext('StartIdMappingJob', 'AccessDeniedException');
    const denied = await startIdMapping({ workflowName: 'customer-id-map' });
    expect(codes(denied)).toEqual(['FORBIDDEN']);
    expect(denied.errors![0].message).toMatch(/not allowed to start a job/);
  });

  test('throttling is retried (the service did nothing); past the retries it is THROTTLED with a hint', async () => {
    t.emulator.failNext('StartIdMappingJob', 'ThrottlingException', 2);
    const retried = await startIdMapping({ workflowName: 'customer-id-map' });
    expect(retried.errors).toBeUndefined();
    expect(t.emulator.requests('StartIdMappingJob')).toBe(3);
    clock.advance(20_000);
    t.emulator.failNext('StartMatchingJob', 'ThrottlingException', 3);
    const throttled = await t.execute(StartMatchingJobDocument, { input: { workflowName: 'customer-matching' } });
    expect(throttled.errors![0].extensions).toEqual({ code: 'THROTTLED', retryAfterSeconds: expect.any(Number) });
  });

  test('a 5xx on a start is not retried: the service may have acted', async () => {
    t.emulator.failNext('StartIdMappingJob', 'InternalServerException');
    const res = await startIdMapping({ workflowName: 'customer-id-map' });
    expect(codes(res)).toEqual(['UPSTREAM_UNAVAILABLE']);
    expect(t.emulator.requests('StartIdMappingJob')).toBe(1);
  });
});

describe('input is checked before anything is sent', () => {
  const out = (patch: Partial<typeof output> & { kmsArn?: string }) => [{ ...output, ...patch }];
  test.each([
    ['a workflow name with a space', 'workflowName', { workflowName: 'customer id map' }],
    [
      'a matching workflow ARN',
      'workflowName',
      { workflowName: 'arn:aws:entityresolution:us-east-1:123456789012:matchingworkflow/customer-matching' },
    ],
    ['two output sources', 'outputSourceConfig', { workflowName: 'customer-id-map', outputSourceConfig: [output, output] }],
    ['an empty output source list', 'outputSourceConfig', { workflowName: 'customer-id-map', outputSourceConfig: [] }],
    [
      'an https output path',
      'outputSourceConfig.outputS3Path',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ outputS3Path: 'https://bucket/x' }) },
    ],
    [
      'a bucket name with capitals',
      'outputSourceConfig.outputS3Path',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ outputS3Path: 's3://My_Bucket/x' }) },
    ],
    [
      'an output path with .. segments',
      'outputSourceConfig.outputS3Path',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ outputS3Path: 's3://my-results/../../other-prefix/' }) },
    ],
    [
      'an output path with a query and a fragment',
      'outputSourceConfig.outputS3Path',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ outputS3Path: 's3://my-results/id-map/?x=1#y' }) },
    ],
    [
      'an output path with an empty segment',
      'outputSourceConfig.outputS3Path',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ outputS3Path: 's3://my-results//id-map/' }) },
    ],
    [
      'an output path with percent-escapes',
      'outputSourceConfig.outputS3Path',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ outputS3Path: 's3://my-results/%2e%2e/x/' }) },
    ],
    [
      'a workflow ARN of another account',
      'workflowName',
      { workflowName: 'arn:aws:entityresolution:us-east-1:999988887777:idmappingworkflow/customer-id-map' },
    ],
    [
      'a workflow ARN of another region',
      'workflowName',
      { workflowName: 'arn:aws:entityresolution:eu-west-1:123456789012:idmappingworkflow/customer-id-map' },
    ],
    [
      'a user ARN as the role',
      'outputSourceConfig.roleArn',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ roleArn: 'arn:aws:iam::123456789012:user/alice' }) },
    ],
    [
      'a role of the aws-cn partition, which the model does not take',
      'outputSourceConfig.roleArn',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ roleArn: 'arn:aws-cn:iam::123456789012:role/ErOutput' }) },
    ],
    [
      'a role ARN with a three-digit account',
      'outputSourceConfig.roleArn',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ roleArn: 'arn:aws:iam::123:role/ErOutputRole' }) },
    ],
    [
      'a KMS key of the aws-us-gov partition',
      'outputSourceConfig.kmsArn',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ kmsArn: 'arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/abc' }) },
    ],
    ['a workflow name with =, which no workflow can have', 'workflowName', { workflowName: 'customer=id' }],
    [
      'a role ARN as the KMS key',
      'outputSourceConfig.kmsArn',
      { workflowName: 'customer-id-map', outputSourceConfig: out({ kmsArn: ROLE }) },
    ],
    ['an idempotency key with a space', 'idempotencyKey', { workflowName: 'customer-id-map', idempotencyKey: 'my key' }],
    ['an idempotency key of 256 characters', 'idempotencyKey', { workflowName: 'customer-id-map', idempotencyKey: 'k'.repeat(256) }],
  ])('%s is BAD_USER_INPUT naming %s, and nothing is sent', async (_name, field, input) => {
    const res = await startIdMapping(input);
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    expect(t.emulator.requests()).toBe(0);
  });

  test('an ID-mapping workflow ARN is refused by startMatchingJob', async () => {
    const res = await t.execute(StartMatchingJobDocument, {
      input: { workflowName: 'arn:aws:entityresolution:us-east-1:123456789012:idmappingworkflow/customer-id-map' },
    });
    expect(res.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'workflowName' });
    expect(t.emulator.requests()).toBe(0);
  });

  test('a mutation over GET is refused', async () => {
    const query = 'mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }';
    const res = await fetch(`${t.endpoint}?query=${encodeURIComponent(query)}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(res.status).toBe(405);
    expect(t.emulator.requests()).toBe(0);
  });
});

describe('idempotency keys', () => {
  test('a repeat with the same key and input returns the first result and starts nothing', async () => {
    const input = { workflowName: 'customer-id-map', outputSourceConfig: [output], idempotencyKey: newKey() };
    const first = await startIdMapping(input);
    clock.advance(5_000);
    const again = await startIdMapping(input);
    expect(again.data!.startIdMappingJob.jobId).toBe(first.data!.startIdMappingJob.jobId);
    expect(again.data!.startIdMappingJob.job.status).toBe('RUNNING');
    expect(t.emulator.requests('StartIdMappingJob')).toBe(1);
  });

  test('the same key with another input is BAD_USER_INPUT and starts nothing', async () => {
    const idempotencyKey = newKey();
    await t.execute(StartMatchingJobDocument, { input: { workflowName: 'customer-matching', idempotencyKey } });
    const reused = await startIdMapping({ workflowName: 'customer-id-map', idempotencyKey });
    expect(reused.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'idempotencyKey' });
    expect(t.emulator.requests('StartIdMappingJob')).toBe(0);
  });

  test('concurrent requests with one key start one job', async () => {
    t.emulator.setFaults({ latencyMs: 100 });
    const input = { workflowName: 'customer-id-map', idempotencyKey: newKey() };
    const results = await Promise.all(Array.from({ length: 8 }, () => startIdMapping(input)));
    expect(results.map((res) => res.errors)).toEqual(Array(8).fill(undefined));
    expect(new Set(results.map((res) => res.data!.startIdMappingJob.jobId)).size).toBe(1);
    expect(t.emulator.requests('StartIdMappingJob')).toBe(1);
  });

  test('a key whose start was refused is free again once the refusal has passed', async () => {
    const input = { workflowName: 'customer-id-map', idempotencyKey: newKey() };
    await startIdMapping({ workflowName: 'customer-id-map' });
    const refused = await startIdMapping(input);
    expect(codes(refused)).toEqual(['CONFLICT']);
    clock.advance(20_000);
    const started = await startIdMapping(input);
    expect(started.errors).toBeUndefined();
    expect(t.emulator.requests('StartIdMappingJob')).toBe(3);
  });
});

/**
 * A lost answer is found again by its job's start time, which the service
 * stamps with its own clock: here both clocks are the real one, as with AWS.
 */
describe('lost answers', () => {
  let lt: TestGateway;

  beforeEach(async () => {
    lt = await startTestGateway({ env });
  });

  afterEach(() => lt.close());

  test('a start whose answer was lost, retried with its key, finds the job and starts no second one', async () => {
    lt.emulator.dropNextResponse('StartIdMappingJob');
    const input = { workflowName: 'customer-id-map', outputSourceConfig: [output], idempotencyKey: newKey() };
    const lost = await lt.execute(StartIdMappingJobDocument, { input });
    expect(codes(lost)).toEqual(['UPSTREAM_UNAVAILABLE']);
    expect(lost.errors![0].message).toMatch(/may have started.*same idempotencyKey/);
    const jobsNow = () => lt.emulator.state.listJobs('idMapping', 'customer-id-map', 25, undefined).items;
    const launched = jobsNow()[0];
    expect(launched.jobId).not.toBe(seededJobId('customer-id-map', CUSTOMER_ID_MAP_JOBS - 1));

    const retried = await lt.execute(StartIdMappingJobDocument, { input });
    expect(retried.errors).toBeUndefined();
    expect(retried.data!.startIdMappingJob).toMatchObject({
      jobId: launched.jobId,
      jobType: 'BATCH',
      outputSourceConfig: [expect.objectContaining(output)],
    });
    expect(lt.emulator.requests('StartIdMappingJob')).toBe(1);

    const third = await lt.execute(StartIdMappingJobDocument, { input });
    expect(third.data!.startIdMappingJob.jobId).toBe(launched.jobId);
    expect(lt.emulator.requests('StartIdMappingJob')).toBe(1);
    expect(jobsNow()[1].jobId).toBe(seededJobId('customer-id-map', CUSTOMER_ID_MAP_JOBS - 1));
  });

  test('a start refused with a 5xx before acting, retried with its key, looks first and then starts once', async () => {
    lt.emulator.failNext('StartMatchingJob', 'InternalServerException');
    const input = { workflowName: 'customer-matching', idempotencyKey: newKey() };
    const failed = await lt.execute(StartMatchingJobDocument, { input });
    expect(codes(failed)).toEqual(['UPSTREAM_UNAVAILABLE']);
    const retried = await lt.execute(StartMatchingJobDocument, { input });
    expect(retried.data!.startMatchingJob.job.status).toMatch(/^(QUEUED|RUNNING)$/);
    expect(lt.emulator.requests('ListMatchingJobs')).toBe(1);
    expect(lt.emulator.requests('StartMatchingJob')).toBe(2);
    const jobs = lt.emulator.state.listJobs('matching', 'customer-matching', 25, undefined).items;
    expect(jobs.filter((job) => job.status === 'QUEUED' || job.status === 'RUNNING')).toHaveLength(1);
  });

  test('a lost start without a key says how to check before starting again', async () => {
    lt.emulator.dropNextResponse('StartMatchingJob');
    const res = await lt.execute(StartMatchingJobDocument, { input: { workflowName: 'customer-matching' } });
    expect(codes(res)).toEqual(['UPSTREAM_UNAVAILABLE']);
    expect(res.errors![0].message).toMatch(/Check the workflow's jobs/);
  });
});

/**
 * Which job a lost start launched, when the workflow's previous job started
 * shortly before: one clock serves the emulator and the idempotency keys, so
 * the window is exact. The allowance for clock skew is ER_START_CLOCK_SKEW_MS.
 */
describe('lost answers next to a previous job', () => {
  async function lostStartAfterPrevious(env: Record<string, string>, previousAgoMs: number) {
    const own = new ManualClock();
    const g = await startTestGateway({
      emulator: { clock: own.read },
      idempotencyStore: new MemoryIdempotencyStore({ clock: own.read }),
      env,
    });
    const previous = (await g.execute(StartIdMappingJobDocument, { input: { workflowName: 'customer-id-map' } })).data!.startIdMappingJob
      .jobId;
    own.advance(previousAgoMs);
    g.emulator.dropNextResponse('StartIdMappingJob');
    const input = { workflowName: 'customer-id-map', idempotencyKey: newKey() };
    expect(codes(await g.execute(StartIdMappingJobDocument, { input }))).toEqual(['UPSTREAM_UNAVAILABLE']);
    const launched = g.emulator.state.listJobs('idMapping', 'customer-id-map', 25, undefined).items[0].jobId;
    own.advance(1000);
    g.emulator.resetRequests();
    return { g, previous, launched, retry: () => g.execute(StartIdMappingJobDocument, { input }) };
  }

  test('the previous job, finished before the key was reserved, is never adopted: the retry finds the job the lost start launched', async () => {
    // The previous job started 25 s before the key and succeeded 5 s before it (the old lookup took any job from 60 s before).
    const { g, previous, launched, retry } = await lostStartAfterPrevious({}, 25_000);
    try {
      const res = await retry();
      expect(res.errors).toBeUndefined();
      expect(res.data!.startIdMappingJob.jobId).toBe(launched);
      expect(launched).not.toBe(previous);
      expect(g.emulator.requests('StartIdMappingJob')).toBe(0);
      expect(g.emulator.requests('GetIdMappingJob')).toBeLessThanOrEqual(2);
    } finally {
      await g.close();
    }
  });

  test('a lookup that fails (here throttled) keeps the key unknown: the next retry still finds the lost job and starts none', async () => {
    const { g, launched, retry } = await lostStartAfterPrevious({}, 25_000);
    try {
      g.emulator.failNext('ListIdMappingJobs', 'ThrottlingException', 3);
      expect(codes(await retry())).toEqual(['THROTTLED']);
      const res = await retry();
      expect(res.errors).toBeUndefined();
      expect(res.data!.startIdMappingJob.jobId).toBe(launched);
      expect(g.emulator.requests('StartIdMappingJob')).toBe(0);
    } finally {
      await g.close();
    }
  });

  test('a previous job that finished seconds before is told apart when it started outside the skew allowance', async () => {
    const { g, launched, retry } = await lostStartAfterPrevious({ ER_EMULATOR_JOB_SECONDS: '3', ER_START_CLOCK_SKEW_MS: '2000' }, 5000);
    try {
      const res = await retry();
      expect(res.data!.startIdMappingJob.jobId).toBe(launched);
      expect(g.emulator.requests('StartIdMappingJob')).toBe(0);
    } finally {
      await g.close();
    }
  });

  test('when two jobs with the same input started within the allowance, the answer is START_OUTCOME_UNKNOWN with both, never a guess', async () => {
    const { g, previous, launched, retry } = await lostStartAfterPrevious({ ER_EMULATOR_JOB_SECONDS: '3' }, 5000);
    try {
      const res = await retry();
      expect(res.data).toBeNull();
      expect(codes(res)).toEqual(['START_OUTCOME_UNKNOWN']);
      expect(res.errors![0].message).toMatch(/cannot tell which job.*new idempotencyKey/);
      const candidates = (res.errors![0].extensions!.candidates as { jobId: string }[]).map((c) => c.jobId);
      expect(candidates.sort()).toEqual([previous, launched].sort());
      // The key keeps its answer; nothing is started on a guess.
      expect(codes(await retry())).toEqual(['START_OUTCOME_UNKNOWN']);
      expect(g.emulator.requests('StartIdMappingJob')).toBe(0);
    } finally {
      await g.close();
    }
  });
});

test('with the emulator holding one running job per region (the default), a start elsewhere is LIMIT_EXCEEDED naming the quota', async () => {
  const regional = await startTestGateway();
  try {
    // A loyalty-id-map job runs: the region's one ID-mapping job.
    regional.emulator.state.holdRunning('idMapping', 'loyalty-id-map');
    const res = await regional.execute(StartIdMappingJobDocument, { input: { workflowName: 'customer-id-map' } });
    expect(res.errors![0].extensions).toEqual({ code: 'LIMIT_EXCEEDED', quotaName: 'Concurrent ID mapping jobs', quotaValue: 1 });
    expect(res.errors![0].message).toContain('start again once the running one has finished');
  } finally {
    await regional.close();
  }
});

/**
 * A start that reaches the service after the gateway gave up on it: the
 * emulator holds the StartIdMappingJob request and carries it out only when
 * the test lets it, after the request's deadline and after the start's call
 * was cut. One clock serves the emulator and the keys, so the window in
 * which the start may still land is exact.
 */
describe('a start that lands late', () => {
  test('retries within the window get START_OUTCOME_UNKNOWN with Retry-After and start nothing; after it, the retry names the one job', async () => {
    const own = new ManualClock();
    const log = capturedLogger('warn');
    const g = await startTestGateway({
      emulator: { clock: own.read },
      idempotencyStore: new MemoryIdempotencyStore({ clock: own.read }),
      logger: log.logger,
      env: { ER_REQUEST_DEADLINE_MS: '400', ER_START_TIMEOUT_MS: '3000', ER_START_CLOCK_SKEW_MS: '5000' },
    });
    try {
      const held = g.emulator.holdNext('StartIdMappingJob');
      const input = { workflowName: 'customer-id-map', idempotencyKey: newKey() };
      const retry = () => g.execute(StartIdMappingJobDocument, { input });
      const first = retry();
      await held.arrived;
      const answered = await first;
      expect(codes(answered)).toEqual(['UPSTREAM_UNAVAILABLE']);
      expect(answered.errors![0].message).toMatch(/may have started.*same idempotencyKey/);

      // The first start's call is still under way: a retry waits for it within its own deadline, then says so.
      const during = await retry();
      expect(codes(during)).toEqual(['START_OUTCOME_UNKNOWN']);
      expect(during.errors![0].extensions).toMatchObject({ candidates: [], retryAfterSeconds: 1 });
      expect(during.headers.get('retry-after')).toBe('1');

      // The call is cut at ER_START_TIMEOUT_MS without an answer: the start may still land for the skew allowance.
      await log.line((line) => line.operation === 'StartIdMappingJob' && line.msg === 'upstream call failed');
      const cut = await retry();
      expect(codes(cut)).toEqual(['START_OUTCOME_UNKNOWN']);
      expect(cut.errors![0].extensions).toMatchObject({ candidates: [], retryAfterSeconds: 5 });
      expect(cut.errors![0].message).toMatch(/may still reach the service.*Retry with the same idempotencyKey after 5 s/);
      expect(cut.headers.get('retry-after')).toBe('5');
      expect(
        g.emulator.state.listJobs('idMapping', 'customer-id-map', 25, undefined).items.filter((job) => job.startTime === own.now),
      ).toEqual([]);

      // The held start lands now, long after the gateway gave up on it.
      await held.release();
      const launched = g.emulator.state.listJobs('idMapping', 'customer-id-map', 25, undefined).items[0];
      expect(launched.startTime).toBe(own.now);

      own.advance(5000);
      const after = await retry();
      expect(after.errors).toBeUndefined();
      expect(after.data!.startIdMappingJob.jobId).toBe(launched.jobId);
      expect(codes(await retry())).toEqual([]);
      expect(g.emulator.requests('StartIdMappingJob')).toBe(1);
    } finally {
      await g.close();
    }
  });
});
