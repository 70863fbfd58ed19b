import { randomBytes } from 'node:crypto';
import { seededJobId } from '../src/emulator/seed';
import { documentHash } from '../src/server/trusted-documents';
import { newApiKey, writeTempFile } from './utils/auth';
import { ManualClock } from './utils/clock';
import { runningJob, startTestGateway, type TestGateway } from './utils/gateway';
import { startOtlpReceiver } from './utils/otlp';
import { startGatewayProcess } from './utils/process';

/**
 * The response cache answers at the HTTP layer, before Apollo runs. With the
 * final-job cache off (the test gateway's default), whatever Apollo executes
 * reaches the emulator; `er_gateway_response_cache_lookups_total{result="miss"}`
 * is counted by Apollo's side as Apollo takes a request, so a hit that moves
 * neither was answered without Apollo.
 */
const JOB = `query CustomerJob($workflowName: String!, $jobId: ID!) {
  idMappingJob(workflowName: $workflowName, jobId: $jobId) { status startTime endTime metrics { inputRecords totalRecordsProcessed } }
}`;
const PAGE = 'query Page($first: Int!) { idMappingJobs(workflowName: "customer-id-map", first: $first) { nodes { jobId status } } }';
const jobOf = (n: number) => ({ workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', n) });

/** The headers a hit must give as the miss gave them (`Age` aside, which only a hit has). */
const COMPARED = ['content-type', 'cache-control', 'vary', 'access-control-allow-origin'];

interface Answer {
  status: number;
  bytes: string;
  headers: Record<string, string | null>;
  age: string | null;
}

async function answerOf(res: Response): Promise<Answer> {
  return {
    status: res.status,
    bytes: await res.text(),
    headers: Object.fromEntries(COMPARED.map((name) => [name, res.headers.get(name)])),
    age: res.headers.get('age'),
  };
}

function post(t: TestGateway, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  return fetch(t.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  }).then(answerOf);
}

/** A GET as Apollo takes one: variables as JSON in the URL, and the header that passes its CSRF prevention. */
function get(
  t: TestGateway,
  params: { query: string; variables: object; operationName?: string },
  headers: Record<string, string> = {},
): Promise<Answer> {
  const url = new URL(t.endpoint);
  url.searchParams.set('query', params.query);
  url.searchParams.set('variables', JSON.stringify(params.variables));
  if (params.operationName) url.searchParams.set('operationName', params.operationName);
  return fetch(url, { headers: { 'apollo-require-preflight': 'true', ...headers } }).then(answerOf);
}

async function lookups(t: TestGateway): Promise<{ hit: number; miss: number; operations: number }> {
  const text = await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    hit: value(/^er_gateway_response_cache_lookups_total\{result="hit"\} (\S+)$/m),
    miss: value(/^er_gateway_response_cache_lookups_total\{result="miss"\} (\S+)$/m),
    operations: value(/^er_gateway_operation_duration_seconds_count\{type="query",name="CustomerJob"\} (\S+)$/m),
  };
}

describe('without auth', () => {
  let t: TestGateway;
  const clock = new ManualClock(0);

  beforeAll(async () => {
    t = await startTestGateway({ env: { ER_RESPONSE_CACHE_MB: '8', ER_FRESHNESS_MS: '1000' }, now: clock.read });
  });
  afterAll(() => t.close());
  beforeEach(() => {
    clock.advance(3_600_000);
    t.emulator.resetRequests();
  });

  test("a hit gives the miss's bytes and headers over POST and GET, with Age, making no upstream call and no Apollo request", async () => {
    const job = jobOf(5);
    const before = await lookups(t);
    const miss = await post(t, { query: JOB, operationName: 'CustomerJob', variables: job });
    expect(miss.status).toBe(200);
    expect(JSON.parse(miss.bytes).errors).toBeUndefined();
    expect(miss.age).toBeNull();
    expect(miss.headers['cache-control']).toBe('max-age=3600, public');
    expect(t.emulator.requests()).toBe(1);
    clock.advance(2500);
    // The variables in another order are the same question.
    const hits = [
      await post(t, { query: JOB, operationName: 'CustomerJob', variables: { jobId: job.jobId, workflowName: job.workflowName } }),
      await get(t, { query: JOB, variables: job, operationName: 'CustomerJob' }),
    ];
    for (const hit of hits) {
      expect({ status: hit.status, bytes: hit.bytes, headers: hit.headers }).toEqual({
        status: miss.status,
        bytes: miss.bytes,
        headers: miss.headers,
      });
    }
    expect(hits[0].age).toBe('2');
    expect(t.emulator.requests()).toBe(1);
    const after = await lookups(t);
    expect(after.hit - before.hit).toBe(2);
    expect(after.miss - before.miss).toBe(1);
    // Hits are counted as operations, under the name Apollo resolved on the miss.
    expect(after.operations - before.operations).toBe(3);
  });

  test("a GET miss is stored as a POST's: a POST hit gives the GET miss's bytes and headers", async () => {
    const job = jobOf(6);
    const miss = await get(t, { query: JOB, variables: job });
    expect(miss.status).toBe(200);
    expect(miss.age).toBeNull();
    const hit = await post(t, { query: JOB, variables: job });
    expect({ bytes: hit.bytes, headers: hit.headers }).toEqual({ bytes: miss.bytes, headers: miss.headers });
    expect(hit.age).toBe('0');
    expect(t.emulator.requests()).toBe(1);
  });

  test('a GET that Apollo refuses for CSRF is refused as before, even with its answer cached', async () => {
    const job = jobOf(7);
    await post(t, { query: JOB, variables: job });
    const url = new URL(t.endpoint);
    url.searchParams.set('query', JOB);
    url.searchParams.set('variables', JSON.stringify(job));
    const res = await fetch(url);
    expect(res.status).toBe(400);
    expect(res.headers.get('age')).toBeNull();
  });

  test("a running job's answer is never stored: every ask reaches Apollo, and the service once per freshness window", async () => {
    const job = runningJob(t.emulator);
    const before = await lookups(t);
    for (let i = 0; i < 2; i++) {
      const answer = await post(t, { query: JOB, variables: job });
      expect(JSON.parse(answer.bytes).data.idMappingJob.status).toBe('RUNNING');
      expect(answer.age).toBeNull();
      expect(answer.headers['cache-control']).toBe('no-store');
    }
    // Within the freshness window the JobStore answers; the response cache stored nothing.
    expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
    clock.advance(1001);
    await post(t, { query: JOB, variables: job });
    expect(t.emulator.requests('GetIdMappingJob')).toBe(2);
    const after = await lookups(t);
    expect(after.hit - before.hit).toBe(0);
    expect(after.miss - before.miss).toBe(3);
  });

  test('a page of finished jobs is answered from the cache within the freshness window, and executed again after it', async () => {
    const first = await post(t, { query: PAGE, variables: { first: 3 } });
    expect(first.headers['cache-control']).toBe('max-age=1, public');
    clock.advance(999);
    expect((await post(t, { query: PAGE, variables: { first: 3 } })).bytes).toBe(first.bytes);
    expect(t.emulator.requests('ListIdMappingJobs')).toBe(1);
    clock.advance(2);
    const later = await post(t, { query: PAGE, variables: { first: 3 } });
    expect(later.age).toBeNull();
    expect(t.emulator.requests('ListIdMappingJobs')).toBe(2);
  });

  test('a mutation is never answered from the cache: the same start asked twice reaches Apollo twice', async () => {
    const start = 'mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }';
    const before = await lookups(t);
    const first = await post(t, { query: start });
    expect(JSON.parse(first.bytes).data.startMatchingJob.jobId).toEqual(expect.any(String));
    // The service runs one job at a time per workflow: the second start is refused, which only an executed one can be.
    const second = await post(t, { query: start });
    expect(second.age).toBeNull();
    expect(JSON.parse(second.bytes).errors[0].extensions.code).toBe('CONFLICT');
    const after = await lookups(t);
    expect(after.hit - before.hit).toBe(0);
    expect(after.miss - before.miss).toBe(2);
  });
});

test('private answers never cross principals: each key with its own grants is answered its own, and a refused one is refused', async () => {
  const [alice, bob, carol] = [newApiKey(), newApiKey(), newApiKey()];
  const t = await startTestGateway({
    env: {
      ER_RESPONSE_CACHE_MB: '8',
      ER_AUTH: 'apikey',
      ER_API_KEYS: `alice:${alice.sha256},bob:${bob.sha256},carol:${carol.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [
          { to: { apiKeys: ['alice'] }, workflows: ['customer-*'], actions: ['read'] },
          { to: { apiKeys: ['bob'] }, workflows: ['*'], actions: ['read', 'start'] },
          { to: { apiKeys: ['carol'] }, workflows: ['loyalty-*'], actions: ['read'] },
        ],
      }),
    },
  });
  try {
    const job = jobOf(5);
    const as = (key: string) => post(t, { query: JOB, variables: job }, { 'x-api-key': key });
    const first = await as(alice.key);
    expect(first.headers['cache-control']).toBe('max-age=3600, private');
    expect(first.headers.vary).toBe('Origin, Authorization, X-API-Key');
    expect((await as(bob.key)).age).toBeNull();
    expect(t.emulator.requests('GetIdMappingJob')).toBe(2);
    const refused = await as(carol.key);
    expect(refused.age).toBeNull();
    expect(JSON.parse(refused.bytes).errors[0].extensions.code).toBe('FORBIDDEN');
    expect(JSON.parse(refused.bytes).data?.idMappingJob ?? null).toBeNull();
    const unauthenticated = await post(t, { query: JOB, variables: job });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.age).toBeNull();
    const again = await as(alice.key);
    expect(again.age).not.toBeNull();
    expect({ bytes: again.bytes, headers: again.headers }).toEqual({ bytes: first.bytes, headers: first.headers });
    expect((await as(bob.key)).age).not.toBeNull();
    expect(t.emulator.requests('GetIdMappingJob')).toBe(2);
  } finally {
    await t.close();
  }
});

test('with trusted documents, a trusted document is answered from the cache by text or hash; an untrusted one never is', async () => {
  const manifest = writeTempFile('persisted-documents.json', JSON.stringify({ [documentHash(JOB)]: JOB }));
  const t = await startTestGateway({ env: { ER_RESPONSE_CACHE_MB: '8', ER_TRUSTED_DOCUMENTS: manifest } });
  try {
    const job = jobOf(5);
    const miss = await post(t, { query: JOB, variables: job });
    expect(miss.status).toBe(200);
    const byId = await post(t, { documentId: `sha256:${documentHash(JOB)}`, variables: job });
    const byApq = await post(t, { variables: job, extensions: { persistedQuery: { version: 1, sha256Hash: documentHash(JOB) } } });
    for (const hit of [byId, byApq]) {
      expect(hit.age).not.toBeNull();
      expect(hit.bytes).toBe(miss.bytes);
    }
    // The same question in another text, and beside the trusted hash: refused before any lookup.
    const untrusted = JOB.replace('{\n', '{ ');
    for (const body of [{ query: untrusted }, { query: untrusted, documentId: documentHash(JOB) }]) {
      const answer = await post(t, { ...body, variables: job });
      expect(answer.status).toBe(403);
      expect(answer.age).toBeNull();
    }
    expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
  } finally {
    await t.close();
  }
});

test("a hit is traced as the miss is: a server span named by the operation, child of the caller's, with the miss's attributes (its document with ER_TRACE_DOCUMENT) and no upstream call under it", async () => {
  const receiver = await startOtlpReceiver();
  const gateway = await startGatewayProcess({
    ...receiver.env,
    ER_FINAL_JOB_CACHE_SIZE: '0',
    ER_RESPONSE_CACHE_MB: '8',
    ER_TRACE_DOCUMENT: 'true',
  });
  const ask = async (traceparent: string) => {
    const res = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({ query: JOB, variables: jobOf(5) }),
    });
    return { age: res.headers.get('age'), bytes: await res.text() };
  };
  const parent = () => {
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
  };
  const [first, second] = [parent(), parent()];
  const miss = await ask(first.traceparent);
  // The miss's upstream call is exported with its server span: once it is in, so is everything of the miss.
  await receiver.waitFor((span) => span.traceId === first.traceId && span.kind === 3);
  const hit = await ask(second.traceparent);
  expect(hit.age).not.toBeNull();
  expect(hit.bytes).toBe(miss.bytes);
  const [server] = await receiver.waitFor((span) => span.traceId === second.traceId && span.kind === 2);
  const [missServer] = await receiver.waitFor((span) => span.traceId === first.traceId && span.kind === 2);
  expect(server).toMatchObject({
    parentSpanId: second.spanId,
    name: 'query CustomerJob',
    attributes: { 'graphql.operation.type': 'query', 'graphql.operation.name': 'CustomerJob', 'graphql.document': JOB },
  });
  expect(server.attributes).toEqual(missServer.attributes);
  // A call's span ends before its operation's, so it is exported no later: had the hit made one, it would be here.
  expect(receiver.spans.filter((span) => span.traceId === second.traceId && span.kind === 3)).toEqual([]);
});
