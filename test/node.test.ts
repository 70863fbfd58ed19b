import { seededJobId } from '../src/emulator/seed';
import { openPolicyEnv } from './utils/auth';
import { codes, startTestGateway, type TestGateway } from './utils/gateway';

/** Global object ids: every job and workflow has an `id` that `node` and `nodes` read back, through the same loaders and checks. */

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
});

afterAll(async () => {
  await t.close();
});

const JOB = seededJobId('customer-id-map', 3);
const MATCHING_JOB = seededJobId('customer-matching', 2);

async function idsOfEveryType(): Promise<Record<string, string>> {
  const res = await t.post<Record<string, { id: string }>>(`{
    idMappingJob(workflowName: "customer-id-map", jobId: "${JOB}") { id }
    matchingJob(workflowName: "customer-matching", jobId: "${MATCHING_JOB}") { id }
    idMappingWorkflow(workflowName: "customer-id-map") { id }
    matchingWorkflow(workflowName: "customer-matching") { id }
  }`);
  expect(res.errors).toBeUndefined();
  return Object.fromEntries(Object.entries(res.data!).map(([field, value]) => [field, value.id]));
}

test('every type has an opaque, stable id, the same however the object is reached', async () => {
  const ids = await idsOfEveryType();
  expect(new Set(Object.values(ids)).size).toBe(4);
  for (const id of Object.values(ids)) expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
  expect(await idsOfEveryType()).toEqual(ids);
  const gets = t.emulator.requests('GetIdMappingJob') + t.emulator.requests('GetIdMappingWorkflow');
  const listed = await t.post<{
    idMappingWorkflows: { nodes: { workflowName: string; id: string; jobs: { nodes: { jobId: string; id: string }[] } }[] };
  }>(`{ idMappingWorkflows(first: 5) { nodes { workflowName id jobs(first: 100) { nodes { jobId id } } } } }`);
  expect(listed.errors).toBeUndefined();
  // An id comes from the key a list already gives: no Get for it.
  expect(t.emulator.requests('GetIdMappingJob') + t.emulator.requests('GetIdMappingWorkflow')).toBe(gets);
  const workflow = listed.data!.idMappingWorkflows.nodes.find((wf) => wf.workflowName === 'customer-id-map')!;
  expect(workflow.id).toBe(ids.idMappingWorkflow);
  expect(workflow.jobs.nodes.find((job) => job.jobId === JOB)!.id).toBe(ids.idMappingJob);
});

test('node and nodes read every type back from its id, with one Get per distinct object', async () => {
  const ids = await idsOfEveryType();
  const single = await t.post<{ node: { __typename: string; id: string; jobId: string } }>(
    `query ($id: ID!) { node(id: $id) { __typename id ... on IdMappingJob { jobId } } }`,
    { id: ids.idMappingJob },
  );
  expect(single.data!.node).toEqual({ __typename: 'IdMappingJob', id: ids.idMappingJob, jobId: JOB });
  const before = t.emulator.requests();
  const res = await t.post<{ nodes: Record<string, unknown>[] }>(
    `query ($ids: [ID!]!) { nodes(ids: $ids) {
      __typename id
      ... on IdMappingJob { jobId status }
      ... on MatchingJob { jobId status }
      ... on IdMappingWorkflow { workflowName }
      ... on MatchingWorkflow { workflowName }
    } }`,
    { ids: [ids.idMappingJob, ids.matchingJob, ids.idMappingWorkflow, ids.matchingWorkflow, ids.idMappingJob] },
  );
  expect(res.errors).toBeUndefined();
  expect(res.data!.nodes).toEqual([
    { __typename: 'IdMappingJob', id: ids.idMappingJob, jobId: JOB, status: 'SUCCEEDED' },
    { __typename: 'MatchingJob', id: ids.matchingJob, jobId: MATCHING_JOB, status: expect.any(String) },
    { __typename: 'IdMappingWorkflow', id: ids.idMappingWorkflow, workflowName: 'customer-id-map' },
    { __typename: 'MatchingWorkflow', id: ids.matchingWorkflow, workflowName: 'customer-matching' },
    { __typename: 'IdMappingJob', id: ids.idMappingJob, jobId: JOB, status: 'SUCCEEDED' },
  ]);
  expect(t.emulator.requests() - before).toBe(4);
});

test('a bad id fails its own item only: BAD_USER_INPUT for one not ours, NOT_FOUND for a job that does not exist', async () => {
  const { idMappingJob } = await idsOfEveryType();
  const missing = Buffer.from(`IdMappingJob:customer-id-map:${'e'.repeat(32)}`).toString('base64url');
  const res = await t.post<{ nodes: unknown[] }>(`query ($ids: [ID!]!) { nodes(ids: $ids) { id } }`, {
    ids: [idMappingJob, 'not-an-id', missing],
  });
  expect(res.data!.nodes).toEqual([{ id: idMappingJob }, null, null]);
  expect(res.errors!.map((error) => [error.path, error.extensions?.code])).toEqual([
    [['nodes', 1], 'BAD_USER_INPUT'],
    [['nodes', 2], 'NOT_FOUND'],
  ]);
  expect(codes(await t.post(`{ node(id: "${Buffer.from('Secret:x').toString('base64url')}") { id } }`))).toEqual(['BAD_USER_INPUT']);
});

test('nodes names at most ER_MAX_ENTITIES ids, refused before any call', async () => {
  const { idMappingJob } = await idsOfEveryType();
  const before = t.emulator.requests();
  const res = await t.post(`query ($ids: [ID!]!) { nodes(ids: $ids) { id } }`, { ids: Array.from({ length: 101 }, () => idMappingJob) });
  expect(res.errors![0].extensions).toEqual({ code: 'LIMIT_EXCEEDED', limit: 'entities', limitValue: 100 });
  expect(t.emulator.requests()).toBe(before);
});

test("node goes through the policy as the type's own query does: a workflow the caller may not read is FORBIDDEN, with no call", async () => {
  const { idMappingJob, matchingJob } = await idsOfEveryType();
  const limited = await startTestGateway({
    env: openPolicyEnv({ grants: [{ to: { anyone: true }, workflows: ['customer-matching'], actions: ['read'] }] }),
  });
  try {
    const before = limited.emulator.requests();
    const res = await limited.post<{ nodes: unknown[] }>(`query ($ids: [ID!]!) { nodes(ids: $ids) { id } }`, {
      ids: [matchingJob, idMappingJob],
    });
    expect(res.data!.nodes).toEqual([{ id: matchingJob }, null]);
    expect(res.errors!.map((error) => [error.path, error.extensions?.code])).toEqual([[['nodes', 1], 'FORBIDDEN']]);
    expect(limited.emulator.requests() - before).toBe(1);
  } finally {
    await limited.close();
  }
});
