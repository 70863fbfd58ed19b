import { ServiceError } from '../src/emulator/http';
import { seededJobId } from '../src/emulator/seed';
import { IdMappingJobStatusesDocument, MatchingJobDocument } from './generated/graphql';
import { codes, startTestGateway, type GraphQLResponse, type TestGateway } from './utils/gateway';

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
});

afterAll(() => t.close());

beforeEach(() => {
  t.emulator.resetRequests();
  t.emulator.setFaults({});
});

const job = { workflowName: 'customer-matching', jobId: seededJobId('customer-matching', 0) };
const ALLOWED_EXTENSIONS = ['code', 'field', 'retryAfterSeconds', 'quotaName', 'quotaValue'];

/** Nothing of the SDK or the server's insides reaches a client. */
function expectNothingInternal(res: GraphQLResponse<unknown>): void {
  const body = JSON.stringify(res);
  for (const secret of ['$metadata', 'requestId', 'stacktrace', 'Exception', 'x-amzn', 'Injected', 'node_modules', '127.0.0.1']) {
    expect(body).not.toContain(secret);
  }
  for (const error of res.errors ?? []) {
    for (const key of Object.keys(error.extensions ?? {})) expect(ALLOWED_EXTENSIONS).toContain(key);
  }
}

describe('each service exception maps to one code', () => {
  test.each([
    ['ResourceNotFoundException', 'NOT_FOUND', 1],
    ['AccessDeniedException', 'FORBIDDEN', 1],
    ['ConflictException', 'CONFLICT', 1],
    ['ThrottlingException', 'THROTTLED', 3],
    ['InternalServerException', 'UPSTREAM_UNAVAILABLE', 3],
  ] as const)('%s → %s', async (exception, code, attempts) => {
    t.emulator.failNext('GetMatchingJob', exception, attempts);
    const res = await t.execute(MatchingJobDocument, job);
    expect(res.data).toEqual({ matchingJob: null });
    expect(codes(res)).toEqual([code]);
    expect(t.emulator.requests('GetMatchingJob')).toBe(attempts);
    expectNothingInternal(res);
  });

  test("AccessDeniedException → FORBIDDEN naming what was asked and the IAM action the gateway's identity lacks", async () => {
    t.emulator.failNext('GetMatchingJob', 'AccessDeniedException');
    const res = await t.execute(MatchingJobDocument, job);
    expect(res.errors![0].message).toBe(
      `The gateway is not allowed to read Matching job ${job.jobId} of workflow ${job.workflowName} (its AWS identity lacks entityresolution:GetMatchingJob).`,
    );
  });

  test('ValidationException → BAD_USER_INPUT with the service reason', async () => {
    t.emulator.failNext('GetMatchingJob', new ServiceError('ValidationException', 'jobId is not valid.'));
    const res = await t.execute(MatchingJobDocument, job);
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors![0].message).toContain('jobId is not valid.');
  });

  test('ExceedsLimitException → LIMIT_EXCEEDED with the quota name and value', async () => {
    t.emulator.failNext(
      'GetMatchingJob',
      new ServiceError('ExceedsLimitException', 'Limit exceeded.', { quotaName: 'Concurrent jobs', quotaValue: 1 }),
    );
    const res = await t.execute(MatchingJobDocument, job);
    expect(res.errors![0].extensions).toEqual({ code: 'LIMIT_EXCEEDED', quotaName: 'Concurrent jobs', quotaValue: 1 });
  });

  test('THROTTLED carries a retry hint', async () => {
    t.emulator.failNext('GetMatchingJob', 'ThrottlingException', 3);
    const res = await t.execute(MatchingJobDocument, job);
    expect(res.errors![0].extensions).toEqual({ code: 'THROTTLED', retryAfterSeconds: expect.any(Number) });
  });

  test('throttling that clears within the SDK retries is invisible to the client', async () => {
    t.emulator.failNext('GetMatchingJob', 'ThrottlingException', 2);
    const res = await t.execute(MatchingJobDocument, job);
    expect(res.errors).toBeUndefined();
    expect(res.data!.matchingJob!.jobId).toBe(job.jobId);
  });
});

test('an unreachable service is UPSTREAM_UNAVAILABLE, with no address or stack', async () => {
  const down = await startTestGateway();
  await down.emulator.close();
  const res = await down.execute(IdMappingJobStatusesDocument, { workflowName: 'customer-id-map' });
  await down.close();
  expect(res.data).toEqual({ idMappingJobs: null });
  expect(codes(res)).toEqual(['UPSTREAM_UNAVAILABLE']);
  expectNothingInternal(res);
});

describe('bad input is refused before any upstream call', () => {
  test.each([
    ['a malformed jobId', 'jobId', '{ idMappingJob(workflowName: "customer-id-map", jobId: "ABC123") { jobId } }'],
    ['a jobId one digit short', 'jobId', `{ matchingJob(workflowName: "customer-matching", jobId: "${'a'.repeat(31)}") { jobId } }`],
    [
      'a workflow name with a space',
      'workflowName',
      `{ idMappingJob(workflowName: "customer id map", jobId: "${'a'.repeat(32)}") { jobId } }`,
    ],
    ['an empty workflow name', 'workflowName', '{ idMappingJobs(workflowName: "") { nodes { jobId } } }'],
    ['a workflow name of 256 characters', 'workflowName', `{ idMappingWorkflow(workflowName: "${'w'.repeat(256)}") { workflowName } }`],
    ['an ARN of another service', 'workflowName', '{ matchingWorkflow(workflowName: "arn:aws:s3:::bucket/key") { workflowName } }'],
    ['first: 0', 'first', '{ idMappingJobs(workflowName: "customer-id-map", first: 0) { nodes { jobId } } }'],
    ['first: 101', 'first', '{ matchingWorkflows(first: 101) { nodes { workflowName } } }'],
    [
      'a cursor that is not one',
      'after',
      '{ idMappingJobs(workflowName: "customer-id-map", after: "bm90IGEgY3Vyc29y") { nodes { jobId } } }',
    ],
    [
      'a cursor with a skip past a page',
      'after',
      `{ idMappingJobs(workflowName: "customer-id-map", after: "${Buffer.from('[null,99]').toString('base64url')}") { nodes { jobId } } }`,
    ],
    [
      'a nested page size over the limit',
      'first',
      '{ idMappingWorkflow(workflowName: "customer-id-map") { workflowName jobs(first: 500) { nodes { jobId } } } }',
    ],
  ])('%s is BAD_USER_INPUT naming %s', async (_name, field, query) => {
    const res = await t.post(query);
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors![0].extensions).toMatchObject({ field });
    expectNothingInternal(res);
    // The nested case reads the workflow itself; the page size is refused before its jobs are listed.
    expect(t.emulator.requests('ListIdMappingJobs') + t.emulator.requests('GetIdMappingJob') + t.emulator.requests('GetMatchingJob')).toBe(
      0,
    );
    if (!query.includes('jobs(first: 500)')) expect(t.emulator.requests()).toBe(0);
  });
});
