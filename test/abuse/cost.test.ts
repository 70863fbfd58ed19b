import { print } from 'graphql';
import { namedWorkflows, seededJobId } from '../../src/emulator/seed';
import { IdMappingJobUpdatedDocument } from '../generated/graphql';
import { openPolicyEnv } from '../utils/auth';
import { codes, startTestGateway, type TestGateway, type TestGatewayOptions } from '../utils/gateway';
import { RawSocket } from '../utils/subscriptions';

/**
 * Operations that would spend the service's rate budget: counted from what
 * they will really do, variables applied, and refused before any call.
 */

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({ env: { ER_MAX_UPSTREAM_CALLS: '200', ER_MAX_ENTITIES: '100' } });
});

afterAll(async () => {
  await t.close();
});

const NESTED = `query ($f: Int) { idMappingWorkflows(first: $f) { nodes { jobs(first: $f) { nodes { metrics { inputRecords } } } } } }`;

test('the cost counts variables: a nested list sized by a variable is refused with its estimate and the limit, before any call', async () => {
  const before = t.emulator.requests();
  // 4 pages of workflows; under each of 100, 4 pages of jobs; a Get for each of 10,000 jobs' metrics.
  const res = await t.post(NESTED, { f: 100 });
  expect(res.status).toBe(400);
  expect(res.errors).toEqual([
    {
      message:
        'This operation could make up to 10404 calls to the Entity Resolution service; the limit is 200. Ask for fewer items (first), fewer lists or fewer details of listed items.',
      extensions: { code: 'LIMIT_EXCEEDED', limit: 'upstreamCalls', limitValue: 200 },
    },
  ]);
  expect(t.emulator.requests()).toBe(before);
  expect(await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text()).toMatch(
    /^er_gateway_limit_refusals_total\{limit="upstreamCalls"\} 1$/m,
  );
  // The same operation, asking for little, runs.
  expect((await t.post(NESTED, { f: 2 })).errors).toBeUndefined();
});

test('the estimate is what the operation really costs with nothing cached', async () => {
  const query = `{ idMappingJobs(workflowName: "customer-id-map", first: 30) { nodes { jobId metrics { inputRecords } } } }`;
  const limited = await startTestGateway({ env: { ER_MAX_UPSTREAM_CALLS: '31' } });
  try {
    expect((await limited.post(query)).errors![0].message).toMatch(/^This operation could make up to 32 calls/);
  } finally {
    await limited.close();
  }
  const before = t.emulator.requests();
  expect((await t.post(query)).errors).toBeUndefined();
  // Two pages of 25 and 5, and one Get per job for its metrics.
  expect(t.emulator.requests() - before).toBe(32);
});

test('identical lists under fifty aliases cost one read', async () => {
  const jobs = Array.from(
    { length: 50 },
    (_, i) => `j${i}: idMappingJobs(workflowName: "customer-id-map", first: 5) { nodes { jobId status } }`,
  );
  const workflows = Array.from({ length: 49 }, (_, i) => `w${i}: idMappingWorkflows(first: 5) { nodes { workflowName } }`);
  const [listJobs, listWorkflows] = [t.emulator.requests('ListIdMappingJobs'), t.emulator.requests('ListIdMappingWorkflows')];
  const res = await t.post(`{ ${jobs.join(' ')} }`);
  expect(res.errors).toBeUndefined();
  expect((await t.post(`{ ${workflows.join(' ')} }`)).errors).toBeUndefined();
  expect([t.emulator.requests('ListIdMappingJobs') - listJobs, t.emulator.requests('ListIdMappingWorkflows') - listWorkflows]).toEqual([
    1, 1,
  ]);
});

test('_entities names at most ER_MAX_ENTITIES representations, over HTTP and websockets', async () => {
  const representations = Array.from({ length: 101 }, (_, i) => ({
    __typename: 'IdMappingJob',
    workflowName: 'customer-id-map',
    jobId: seededJobId('customer-id-map', i % 100),
  }));
  const query = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on IdMappingJob { status } } }`;
  const before = t.emulator.requests();
  const res = await t.post(query, { r: representations });
  expect(res.errors![0]).toEqual({
    message: '_entities may name 100 representations at once; this one names 101.',
    extensions: { code: 'LIMIT_EXCEEDED', limit: 'entities', limitValue: 100 },
  });
  const socket = await RawSocket.open(t.gateway.url);
  try {
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { r: representations } } }));
    await socket.until(() => socket.messages.some((m) => m.id === '1'));
    expect(socket.messages.find((m) => m.id === '1')).toEqual({
      id: '1',
      type: 'error',
      payload: [expect.objectContaining({ extensions: { code: 'LIMIT_EXCEEDED', limit: 'entities', limitValue: 100 } })],
    });
  } finally {
    socket.close();
  }
  expect(t.emulator.requests()).toBe(before);
});

test('__typename aliases count toward the alias limit, and an operation reads the schema once', async () => {
  const typenames = Array.from({ length: 60 }, (_, i) => `t${i}: __typename`).join(' ');
  expect(codes(await t.post(`{ ${typenames} }`))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  const twice = await t.post(`{ a: __schema { queryType { name } } b: __schema { queryType { name } } }`);
  expect(twice.errors![0]).toMatchObject({
    message: 'An operation may ask for the schema (__schema) once.',
    extensions: { code: 'LIMIT_EXCEEDED' },
  });
  expect((await t.post(`{ __schema { queryType { name } } }`)).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
});

/**
 * The estimate a gateway of `options` makes of an operation, read from its
 * refusal at ER_MAX_UPSTREAM_CALLS=`limit`: the refusal is LIMIT_EXCEEDED
 * and reaches the service not once.
 */
async function estimateOf(options: TestGatewayOptions, limit: number, query: string): Promise<number> {
  const probe = await startTestGateway({ ...options, env: { ...options.env, ER_MAX_UPSTREAM_CALLS: String(limit) } });
  try {
    const res = await probe.post(query);
    expect(res.errors).toEqual([
      expect.objectContaining({ extensions: { code: 'LIMIT_EXCEEDED', limit: 'upstreamCalls', limitValue: limit } }),
    ]);
    expect(probe.emulator.requests()).toBe(0);
    return Number(/^This operation could make up to (\d+) calls/.exec(res.errors![0].message)![1]);
  } finally {
    await probe.close();
  }
}

/** Runs `query` on a gateway of `options` with the default limit, and counts the calls the emulator received for it. */
async function callsOf(
  options: TestGatewayOptions,
  query: string,
  prepare: (g: TestGateway) => void = () => {},
): Promise<{ calls: number; res: Awaited<ReturnType<TestGateway['post']>> }> {
  const g = await startTestGateway(options);
  try {
    prepare(g);
    const before = g.emulator.requests();
    const res = await g.post(query);
    return { calls: g.emulator.requests() - before, res };
  } finally {
    await g.close();
  }
}

describe('the estimate is an upper bound of what the operation makes', () => {
  test('a workflow list the policy filters counts the 8 pages it may read: one visible workflow among 200 costs 8 Lists, and is refused below that before any call', async () => {
    // 2 seeded ID-mapping workflows and 198 more; the policy lets anyone read one of them.
    const options: TestGatewayOptions = {
      emulator: { workflows: namedWorkflows('idMapping', 'tenant', 198) },
      env: openPolicyEnv({ grants: [{ to: { anyone: true }, workflows: ['tenant-150'], actions: ['read'] }] }),
    };
    const query = '{ idMappingWorkflows(first: 25) { nodes { workflowName } } }';
    const estimate = await estimateOf(options, 7, query);
    expect(estimate).toBe(8);
    const { calls, res } = await callsOf(options, query);
    expect(res.data).toEqual({ idMappingWorkflows: { nodes: [{ workflowName: 'tenant-150' }] } });
    expect(calls).toBe(8);
    expect(estimate).toBeGreaterThanOrEqual(calls);
  });

  test('four starts in one mutation count a Start and a job read each: 8 calls, refused at a limit of 4 with no job started', async () => {
    // One running job per workflow, not per region: four starts on four workflows all go ahead.
    const options: TestGatewayOptions = { env: { ER_EMULATOR_CONCURRENCY: 'workflow' } };
    const query = `mutation {
      a: startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId job { status metrics { inputRecords } } }
      b: startIdMappingJob(input: { workflowName: "loyalty-id-map" }) { jobId job { status } }
      c: startMatchingJob(input: { workflowName: "customer-matching" }) { jobId job { status } }
      d: startMatchingJob(input: { workflowName: "address-matching" }) { job { jobId status } }
    }`;
    const estimate = await estimateOf(options, 4, query);
    expect(estimate).toBe(8);
    const { calls, res } = await callsOf(options, query);
    expect(res.errors).toBeUndefined();
    expect(Object.keys(res.data!)).toEqual(['a', 'b', 'c', 'd']);
    expect(calls).toBe(8);
    expect(estimate).toBeGreaterThanOrEqual(calls);
  });

  test('a list continued from a cursor partway through a page counts the one more page it reads', async () => {
    const first = await t.post<{ idMappingJobs: { edges: { cursor: string }[] } }>(
      '{ idMappingJobs(workflowName: "customer-id-map", first: 3) { edges { cursor } } }',
    );
    const query = `{ idMappingJobs(workflowName: "customer-id-map", first: 25, after: "${first.data!.idMappingJobs.edges[0].cursor}") { nodes { jobId } } }`;
    const estimate = await estimateOf({}, 1, query);
    expect(estimate).toBe(2);
    const before = t.emulator.requests();
    expect((await t.post<{ idMappingJobs: { nodes: unknown[] } }>(query)).data!.idMappingJobs.nodes).toHaveLength(25);
    // The 24 items left of the first page, and one of the next.
    expect(t.emulator.requests() - before).toBe(2);
  });

  test('the same start under two aliases is two starts', async () => {
    const options: TestGatewayOptions = { env: { ER_EMULATOR_CONCURRENCY: 'workflow' } };
    const start = 'startMatchingJob(input: { workflowName: "customer-matching" }) { jobId }';
    expect(await estimateOf(options, 1, `mutation { a: ${start} b: ${start} }`)).toBe(2);
  });

  test('starts with an idempotency key count the lookup a retry after a lost answer makes (a List, and a Get per listed ID-mapping job)', async () => {
    const options: TestGatewayOptions = { env: { ER_EMULATOR_CONCURRENCY: 'workflow' } };
    const a = 'a: startIdMappingJob(input: { workflowName: "customer-id-map", idempotencyKey: "cost-a" }) { jobId job { status } }';
    const b = 'b: startMatchingJob(input: { workflowName: "customer-matching", idempotencyKey: "cost-b" }) { jobId job { status } }';
    const query = `mutation { ${a} ${b} }`;
    // ID mapping: Start, List, 25 Gets, the job's Get; matching: Start, List, the job's Get.
    const estimate = await estimateOf(options, 1, query);
    expect(estimate).toBe(28 + 3);
    const g = await startTestGateway(options);
    try {
      g.emulator.dropNextResponse('StartIdMappingJob');
      g.emulator.dropNextResponse('StartMatchingJob');
      // Each on its own: a failed start nulls the whole mutation, and the next start would not run.
      for (const start of [a, b]) expect(codes(await g.post(`mutation { ${start} }`))).toEqual(['UPSTREAM_UNAVAILABLE']);
      const before = g.emulator.requests();
      const retried = await g.post(query);
      expect(retried.errors).toBeUndefined();
      const calls = g.emulator.requests() - before;
      // Both lost starts are found (a List each, a Get of the ID-mapping candidate) and none started again.
      expect([
        g.emulator.requests('ListIdMappingJobs'),
        g.emulator.requests('ListMatchingJobs'),
        g.emulator.requests('StartIdMappingJob'),
        g.emulator.requests('StartMatchingJob'),
      ]).toEqual([1, 1, 1, 1]);
      expect(calls).toBe(5);
      expect(estimate).toBeGreaterThanOrEqual(calls);
    } finally {
      await g.close();
    }
  });
});

describe('in production', () => {
  const SECRET = 'router-secret-0123456789';
  let prod: TestGateway;

  beforeAll(async () => {
    prod = await startTestGateway({ env: { NODE_ENV: 'production', ER_BACKEND: 'emulator', ER_ROUTER_SECRET: SECRET } });
  });

  afterAll(async () => {
    await prod.close();
  });

  test('introspection is refused over HTTP and over websockets, and errors suggest no field names', async () => {
    expect(new Set(codes(await prod.post('{ __schema { types { name } } }')))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
    const typo = await prod.post('{ idMappingJob(workflowName: "customer-id-map", jobId: "x") { statu } }');
    expect(typo.errors![0].message).toBe('Cannot query field "statu" on type "IdMappingJob".');
    const socket = await RawSocket.open(prod.gateway.url);
    try {
      socket.subscribe('1', '{ __type(name: "IdMappingJob") { fields { name } } }');
      socket.subscribe('2', print(IdMappingJobUpdatedDocument).replace('status', 'statu'), {
        workflowName: 'customer-id-map',
        jobId: seededJobId('customer-id-map', 1),
      });
      await socket.until(() => socket.messages.filter((m) => m.type === 'error').length === 2);
      const errors = socket.messages
        .filter((m) => m.type === 'error')
        .map((m) => (m.payload as { message: string; extensions: unknown }[])[0]);
      expect(errors.map((error) => error.extensions)).toEqual([
        { code: 'GRAPHQL_VALIDATION_FAILED' },
        { code: 'GRAPHQL_VALIDATION_FAILED' },
      ]);
      expect(errors[0].message).toMatch(/introspection/i);
      expect(errors[1].message).not.toMatch(/Did you mean/);
    } finally {
      socket.close();
    }
  });

  test('_service and ftv1 traces are for the router alone: the one that sends X-Router-Secret', async () => {
    const ask = (headers: Record<string, string>) =>
      fetch(prod.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'apollo-federation-include-trace': 'ftv1', ...headers },
        body: JSON.stringify({ query: '{ _service { sdl } }' }),
      }).then(
        (res) =>
          res.json() as Promise<{
            data?: { _service: { sdl: string } };
            errors?: { extensions: { code: string } }[];
            extensions?: { ftv1?: string };
          }>,
      );
    const stranger = await ask({ 'x-router-secret': 'not-the-secret-at-all' });
    expect([stranger.errors?.[0].extensions.code, stranger.extensions?.ftv1]).toEqual(['FORBIDDEN', undefined]);
    const router = await ask({ 'x-router-secret': SECRET });
    expect(router.data!._service.sdl).toMatch(/type IdMappingJob/);
    expect(router.extensions?.ftv1).toEqual(expect.any(String));
  });
});
