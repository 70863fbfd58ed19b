import { CUSTOMER_ID_MAP_JOBS, seededJobId } from '../src/emulator/seed';
import { IdMappingJobsWithMetricsDocument } from './generated/graphql';
import { codes, startTestGateway, type TestGateway } from './utils/gateway';

/** Upstream calls are the cost that matters: the service throttles at a few per second. */

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
});

afterAll(() => t.close());

beforeEach(() => t.emulator.resetRequests());

test('20 aliases of one job cost exactly one GetIdMappingJob', async () => {
  const jobId = seededJobId('customer-id-map', 10);
  const aliases = Array.from(
    { length: 20 },
    (_, i) => `j${i}: idMappingJob(workflowName: "customer-id-map", jobId: "${jobId}") { status metrics { inputRecords } }`,
  );
  const { data, errors } = await t.post<Record<string, { status: string }>>(`{ ${aliases.join('\n')} }`);
  expect(errors).toBeUndefined();
  expect(Object.values(data!)).toHaveLength(20);
  expect(new Set(Object.values(data!).map((job) => JSON.stringify(job))).size).toBe(1);
  expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
  expect(t.emulator.requests()).toBe(1);
});

test(`a list of all ${CUSTOMER_ID_MAP_JOBS} jobs with metrics costs exactly ${CUSTOMER_ID_MAP_JOBS} Gets and 4 Lists`, async () => {
  const { data } = await t.execute(IdMappingJobsWithMetricsDocument, { workflowName: 'customer-id-map', first: 100 });
  expect(data!.idMappingJobs!.nodes).toHaveLength(CUSTOMER_ID_MAP_JOBS);
  expect(data!.idMappingJobs!.nodes.every((job) => job.metrics?.inputRecords)).toBe(true);
  expect(t.emulator.requests('GetIdMappingJob')).toBe(CUSTOMER_ID_MAP_JOBS);
  expect(t.emulator.requests('ListIdMappingJobs')).toBe(Math.ceil(CUSTOMER_ID_MAP_JOBS / 25));
});

test('a job named both in a list and directly in one request is fetched once', async () => {
  const jobId = seededJobId('customer-id-map', 99);
  const { data } = await t.post<{ idMappingJobs: { nodes: { jobId: string }[] }; idMappingJob: { jobId: string } }>(`{
    idMappingJobs(workflowName: "customer-id-map", first: 3) { nodes { jobId metrics { inputRecords } } }
    idMappingJob(workflowName: "customer-id-map", jobId: "${jobId}") { jobId metrics { inputRecords } }
  }`);
  expect(data!.idMappingJobs.nodes.map((job) => job.jobId)).toContain(jobId);
  expect(t.emulator.requests('GetIdMappingJob')).toBe(3);
});

test("a failed Get fails only its own item's fields", async () => {
  t.emulator.failNext('GetIdMappingJob', 'AccessDeniedException', 1);
  const res = await t.execute(IdMappingJobsWithMetricsDocument, { workflowName: 'customer-id-map', first: 3 });
  const nodes = res.data!.idMappingJobs!.nodes;
  expect(nodes).toHaveLength(3);
  expect(nodes.filter((job) => job.metrics === null)).toHaveLength(1);
  expect(nodes.filter((job) => job.metrics !== null)).toHaveLength(2);
  // metrics, errorDetails, outputSourceConfig and jobType of the one job, each with the same cause.
  expect(codes(res)).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
  expect(new Set(res.errors!.map((error) => error.path![2])).size).toBe(1);
  expect(t.emulator.requests('GetIdMappingJob')).toBe(3);
});

test('a missing job among aliases is null with NOT_FOUND while the others resolve', async () => {
  const res = await t.post<Record<string, { jobId: string } | null>>(`{
    a: matchingJob(workflowName: "customer-matching", jobId: "${seededJobId('customer-matching', 0)}") { jobId }
    b: matchingJob(workflowName: "customer-matching", jobId: "${'e'.repeat(32)}") { jobId }
  }`);
  expect(res.data!.a).toEqual({ jobId: seededJobId('customer-matching', 0) });
  expect(res.data!.b).toBeNull();
  expect(codes(res)).toEqual(['NOT_FOUND']);
  expect(res.errors![0].path).toEqual(['b']);
});
