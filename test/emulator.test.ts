import {
  EntityResolutionClient,
  GetIdMappingJobCommand,
  GetIdMappingWorkflowCommand,
  GetMatchingJobCommand,
  GetMatchingWorkflowCommand,
  ListIdMappingJobsCommand,
  ListIdMappingWorkflowsCommand,
  ListMatchingJobsCommand,
  ListMatchingWorkflowsCommand,
  StartIdMappingJobCommand,
  StartMatchingJobCommand,
  type JobSummary,
} from '@aws-sdk/client-entityresolution';
import { startEmulator, type Emulator } from '../src/emulator/http';
import { CUSTOMER_ID_MAP_JOBS, seededJobId } from '../src/emulator/seed';
import { ManualClock } from './utils/clock';

const clock = new ManualClock();
let emulator: Emulator;
let sdk: EntityResolutionClient;

beforeAll(async () => {
  emulator = await startEmulator({ clock: clock.read, jobSeconds: 20 });
  sdk = new EntityResolutionClient({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  sdk.destroy();
  await emulator.close();
});

beforeEach(() => {
  emulator.resetRequests();
  emulator.setFaults({});
});

async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata: { httpStatusCode?: number; attempts?: number } }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { $metadata: { httpStatusCode?: number; attempts?: number } };
  }
  throw new Error('expected the call to fail');
}

describe('the emulator answers the real SDK', () => {
  test('GetIdMappingJob returns every field of a finished job, times as Dates and all 15 metrics', async () => {
    const jobId = seededJobId('customer-id-map', 3);
    const job = await sdk.send(new GetIdMappingJobCommand({ workflowName: 'customer-id-map', jobId }));
    expect(job.jobId).toBe(jobId);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.startTime).toBeInstanceOf(Date);
    expect(job.endTime!.getTime()).toBeGreaterThan(job.startTime!.getTime());
    expect(job.jobType).toBe('BATCH');
    expect(Object.keys(job.metrics!)).toHaveLength(15);
    expect(job.outputSourceConfig).toEqual([
      expect.objectContaining({
        roleArn: expect.stringMatching(/^arn:aws:iam::/),
        outputS3Path: expect.stringMatching(/^s3:\/\//),
        KMSArn: expect.stringMatching(/^arn:aws:kms:/),
      }),
    ]);
  });

  test('a failed job carries its error message; a large count is a plain number', async () => {
    const failed = await sdk.send(
      new GetIdMappingJobCommand({ workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 97) }),
    );
    expect(failed.status).toBe('FAILED');
    expect(failed.errorDetails?.errorMessage).toMatch(/Access denied/);
    const large = await sdk.send(
      new GetIdMappingJobCommand({ workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 98) }),
    );
    expect(large.metrics?.inputRecords).toBe(2_100_000_000);
  });

  test('GetMatchingJob returns matching metrics and no jobType', async () => {
    const job = await sdk.send(
      new GetMatchingJobCommand({ workflowName: 'customer-matching', jobId: seededJobId('customer-matching', 3) }),
    );
    expect(job.metrics?.inputRecords).toBe(1_900_000_000);
    expect(Object.keys(job.metrics!).sort()).toEqual([
      'deleteRecordsProcessed',
      'inputRecords',
      'matchIDs',
      'recordsNotProcessed',
      'totalRecordsProcessed',
    ]);
    expect(job).not.toHaveProperty('jobType');
  });

  test('the demo data has finished jobs, succeeded and failed, of both batch and incremental types, and none running (it would hold the region)', async () => {
    const statuses = new Set<string>();
    for (const [list, workflowName] of [
      [ListIdMappingJobsCommand, 'loyalty-id-map'],
      [ListMatchingJobsCommand, 'customer-matching'],
      [ListMatchingJobsCommand, 'household-matching'],
    ] as const) {
      const page = await sdk.send(new list({ workflowName }));
      page.jobs!.forEach((job: JobSummary) => statuses.add(job.status!));
    }
    expect([...statuses].sort()).toEqual(['FAILED', 'SUCCEEDED']);
    const types = await Promise.all(
      [0, 1].map((i) => sdk.send(new GetIdMappingJobCommand({ workflowName: 'loyalty-id-map', jobId: seededJobId('loyalty-id-map', i) }))),
    );
    expect(types.map((job) => job.jobType)).toEqual(['BATCH', 'INCREMENTAL']);
  });

  test('workflows list and read by name (an ARN only where the model takes one)', async () => {
    const idMapping = await sdk.send(new ListIdMappingWorkflowsCommand({}));
    expect(idMapping.workflowSummaries!.map((wf) => wf.workflowName)).toEqual(['customer-id-map', 'loyalty-id-map']);
    const matching = await sdk.send(new ListMatchingWorkflowsCommand({}));
    expect(matching.workflowSummaries!.map((wf) => [wf.workflowName, wf.resolutionType])).toEqual([
      ['address-matching', 'RULE_MATCHING'],
      ['customer-matching', 'RULE_MATCHING'],
      ['household-matching', 'ML_MATCHING'],
    ]);
    const byName = await sdk.send(new GetIdMappingWorkflowCommand({ workflowName: 'loyalty-id-map' }));
    expect(byName.workflowArn).toBe(idMapping.workflowSummaries![1].workflowArn);
    expect(byName.incrementalRunConfig?.incrementalRunType).toBe('ON_DEMAND');
    // GetIdMappingWorkflow takes an EntityName: an ARN breaks its pattern.
    await expect(sdk.send(new GetIdMappingWorkflowCommand({ workflowName: byName.workflowArn }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    const detail = await sdk.send(new GetMatchingWorkflowCommand({ workflowName: 'customer-matching' }));
    expect(detail.resolutionTechniques?.resolutionType).toBe('RULE_MATCHING');
    expect(detail.createdAt).toBeInstanceOf(Date);
  });
});

describe('paging', () => {
  test('List pages at most 25 with opaque tokens until the last page, newest first', async () => {
    const seen: JobSummary[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await sdk.send(new ListIdMappingJobsCommand({ workflowName: 'customer-id-map', nextToken }));
      expect(page.jobs!.length).toBeLessThanOrEqual(25);
      seen.push(...page.jobs!);
      nextToken = page.nextToken;
      pages++;
    } while (nextToken);
    expect(pages).toBe(Math.ceil(CUSTOMER_ID_MAP_JOBS / 25));
    expect(new Set(seen.map((job) => job.jobId)).size).toBe(CUSTOMER_ID_MAP_JOBS);
    const times = seen.map((job) => job.startTime!.getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(emulator.requests('ListIdMappingJobs')).toBe(pages);
  });

  test('maxResults outside 1–25 and a token it did not issue are ValidationExceptions', async () => {
    for (const maxResults of [0, 26]) {
      const err = await rejection(sdk.send(new ListIdMappingJobsCommand({ workflowName: 'customer-id-map', maxResults })));
      expect(err.name).toBe('ValidationException');
      expect(err.$metadata.httpStatusCode).toBe(400);
    }
    const forged = await rejection(sdk.send(new ListIdMappingJobsCommand({ workflowName: 'customer-id-map', nextToken: 'not-a-token' })));
    expect(forged.name).toBe('ValidationException');
    const other = await sdk.send(new ListIdMappingJobsCommand({ workflowName: 'customer-id-map', maxResults: 1 }));
    const borrowed = await rejection(
      sdk.send(new ListMatchingJobsCommand({ workflowName: 'customer-matching', nextToken: other.nextToken })),
    );
    expect(borrowed.name).toBe('ValidationException');
  });
});

describe('errors on the wire', () => {
  test('a missing job is a 404 ResourceNotFoundException named by x-amzn-errortype', async () => {
    const res = await fetch(`${emulator.url}/idmappingworkflows/customer-id-map/jobs/${'0'.repeat(32)}`);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
    expect(res.headers.get('x-amzn-requestid')).toBeTruthy();
    expect(await res.json()).toEqual({ message: expect.any(String) });
    const err = await rejection(sdk.send(new GetIdMappingJobCommand({ workflowName: 'customer-id-map', jobId: '0'.repeat(32) })));
    expect(err.name).toBe('ResourceNotFoundException');
  });

  test('a malformed job ID and a missing workflow are refused as the service refuses them', async () => {
    const malformed = await rejection(sdk.send(new GetIdMappingJobCommand({ workflowName: 'customer-id-map', jobId: 'ABC' })));
    expect(malformed.name).toBe('ValidationException');
    const missing = await rejection(sdk.send(new ListMatchingJobsCommand({ workflowName: 'no-such-workflow' })));
    expect(missing.name).toBe('ResourceNotFoundException');
  });
});

describe('started jobs advance with the clock', () => {
  test('QUEUED, then RUNNING with growing metrics, then SUCCEEDED at ER_EMULATOR_JOB_SECONDS', async () => {
    const started = await sdk.send(
      new StartIdMappingJobCommand({
        workflowName: 'customer-id-map',
        outputSourceConfig: [{ roleArn: 'arn:aws:iam::123456789012:role/Out', outputS3Path: 's3://bucket/out/' }],
      }),
    );
    expect(started.jobId).toMatch(/^[a-f0-9]{32}$/);
    expect(started.jobType).toBe('BATCH');
    expect(started.outputSourceConfig).toEqual([{ roleArn: 'arn:aws:iam::123456789012:role/Out', outputS3Path: 's3://bucket/out/' }]);
    const get = () => sdk.send(new GetIdMappingJobCommand({ workflowName: 'customer-id-map', jobId: started.jobId }));

    expect((await get()).status).toBe('QUEUED');
    clock.advance(5_000);
    const early = await get();
    clock.advance(10_000);
    const later = await get();
    expect([early.status, later.status]).toEqual(['RUNNING', 'RUNNING']);
    expect(later.metrics!.totalRecordsProcessed!).toBeGreaterThan(early.metrics!.totalRecordsProcessed!);
    expect(later.endTime).toBeUndefined();

    clock.advance(5_000);
    const done = await get();
    expect(done.status).toBe('SUCCEEDED');
    expect(done.endTime!.getTime() - done.startTime!.getTime()).toBe(20_000);
    expect(done.metrics!.totalRecordsProcessed).toBeGreaterThan(later.metrics!.totalRecordsProcessed!);

    const list = await sdk.send(new ListIdMappingJobsCommand({ workflowName: 'customer-id-map', maxResults: 1 }));
    expect(list.jobs![0]).toMatchObject({ jobId: started.jobId, status: 'SUCCEEDED' });
  });

  test('a second start while a job is queued or running on the workflow is a ConflictException', async () => {
    const first = await sdk.send(new StartMatchingJobCommand({ workflowName: 'customer-matching' }));
    const err = await rejection(sdk.send(new StartMatchingJobCommand({ workflowName: 'customer-matching' })));
    expect(err.name).toBe('ConflictException');
    expect(err.message).toContain(first.jobId);
    expect(err.$metadata.attempts).toBe(1);
    clock.advance(20_000);
    await expect(sdk.send(new StartMatchingJobCommand({ workflowName: 'customer-matching' }))).resolves.toHaveProperty('jobId');
    clock.advance(20_000);
  });

  test('an output source list of other than one item is refused', async () => {
    const out = { roleArn: 'arn:aws:iam::123456789012:role/Out', outputS3Path: 's3://bucket/out/' };
    const err = await rejection(
      sdk.send(new StartIdMappingJobCommand({ workflowName: 'customer-id-map', outputSourceConfig: [out, out] })),
    );
    expect(err.name).toBe('ValidationException');
  });
});

describe('fault injection', () => {
  test('scripted throttling is retried by the SDK and counted at the emulator', async () => {
    emulator.failNext('GetMatchingJob', 'ThrottlingException', 2);
    const job = await sdk.send(
      new GetMatchingJobCommand({ workflowName: 'customer-matching', jobId: seededJobId('customer-matching', 0) }),
    );
    expect(job.$metadata.attempts).toBe(3);
    expect(emulator.requests('GetMatchingJob')).toBe(3);
  });

  test('a throttle rate of 1 fails every attempt with a 429 ThrottlingException', async () => {
    emulator.setFaults({ throttleRate: 1 });
    const err = await rejection(sdk.send(new ListIdMappingWorkflowsCommand({})));
    expect(err.name).toBe('ThrottlingException');
    expect(err.$metadata.httpStatusCode).toBe(429);
    expect(emulator.requests('ListIdMappingWorkflows')).toBe(3);
  });

  test('an internal error rate of 1 answers 500 InternalServerException', async () => {
    emulator.setFaults({ internalErrorRate: 1 });
    const res = await fetch(`${emulator.url}/matchingworkflows`);
    expect(res.status).toBe(500);
    expect(res.headers.get('x-amzn-errortype')).toBe('InternalServerException');
  });

  test('latency delays the answer by at least the configured time', async () => {
    emulator.setFaults({ latencyMs: 50 });
    const started = performance.now();
    await sdk.send(new ListMatchingWorkflowsCommand({}));
    expect(performance.now() - started).toBeGreaterThanOrEqual(49);
  });
});

describe('rate limit', () => {
  test('past its rate per operation the emulator throttles, as the service does', async () => {
    emulator.setFaults({ rateLimitPerSecond: 3 });
    const plain = new EntityResolutionClient({
      endpoint: emulator.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
      maxAttempts: 1,
    });
    try {
      const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => plain.send(new ListMatchingWorkflowsCommand({}))));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
      expect(outcomes.filter((o) => o.status === 'rejected').map((o) => ((o as PromiseRejectedResult).reason as Error).name)).toEqual([
        'ThrottlingException',
        'ThrottlingException',
      ]);
      // Another operation has a budget of its own.
      await expect(plain.send(new ListIdMappingWorkflowsCommand({}))).resolves.toBeDefined();
    } finally {
      plain.destroy();
    }
  });
});
