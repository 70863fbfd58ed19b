import { seededJobId } from '../src/emulator/seed';
import { codes, startTestGateway, type TestGateway } from './utils/gateway';

/** How a router fetches our jobs by key: `_entities`, through the per-request loaders. */

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
});

afterAll(() => t.close());

const ENTITIES = `query ($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on IdMappingJob { jobId status metrics { inputRecords } }
    ... on MatchingWorkflow { workflowName resolutionType }
  }
}`;

test('_entities resolves each distinct job with one Get; a missing or malformed key fails only its own item', async () => {
  const known = { __typename: 'IdMappingJob', workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 4) };
  t.emulator.resetRequests();
  const res = await t.post<{ _entities: ({ jobId?: string; workflowName?: string } | null)[] }>(ENTITIES, {
    representations: [
      known,
      known,
      { __typename: 'IdMappingJob', workflowName: 'customer-id-map', jobId: 'f'.repeat(32) },
      { __typename: 'IdMappingJob', workflowName: 'customer-id-map', jobId: 'not-a-job-id' },
      { __typename: 'MatchingWorkflow', workflowName: 'customer-matching' },
    ],
  });
  const [a, b, missing, malformed, workflow] = res.data!._entities;
  expect(a).toMatchObject({ jobId: known.jobId, status: 'SUCCEEDED', metrics: { inputRecords: expect.any(Number) } });
  expect(b).toEqual(a);
  expect(missing).toBeNull();
  expect(malformed).toBeNull();
  expect(workflow).toEqual({ workflowName: 'customer-matching', resolutionType: 'RULE_MATCHING' });
  // Errors come in the order they happen: the refused key first, the missing one after its Get.
  expect(res.errors!.map((error) => [error.path, error.extensions?.code])).toEqual(
    expect.arrayContaining([
      [['_entities', 2], 'NOT_FOUND'],
      [['_entities', 3], 'BAD_USER_INPUT'],
    ]),
  );
  expect(codes(res)).toHaveLength(2);
  expect(t.emulator.requests('GetIdMappingJob')).toBe(2);
  expect(t.emulator.requests('GetMatchingWorkflow')).toBe(1);
  expect(t.emulator.requests()).toBe(3);
});
