import { seededJobId } from '../src/emulator/seed';
import { runningJob, startTestGateway, type TestGateway } from './utils/gateway';

/**
 * Queries Apollo has answered once are answered again without its pipeline
 * (server/prepared-queries.ts). Each request here is sent twice: the first
 * answer is Apollo's, the second the direct one, and the two must be the
 * same status, headers and bytes.
 */

const JOB = seededJobId('customer-id-map', 5);

interface Answer {
  status: number;
  headers: [string, string][];
  body: string;
}

/** Headers that differ between any two answers whoever writes them. */
const PER_ANSWER = new Set(['date', 'age']);

async function send(t: TestGateway, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(t.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: [...res.headers].filter(([name]) => !PER_ANSWER.has(name)), body: await res.text() };
}

async function gateway(env: Record<string, string> = {}) {
  const counted = { direct: 0 };
  const t = await startTestGateway({ env: { ER_FINAL_JOB_CACHE_SIZE: '100', ...env }, onDirectAnswer: () => counted.direct++ });
  return { t, counted };
}

/** Sends `body` twice; the second answer must be direct and equal to Apollo's first. */
async function sameTwice(t: TestGateway, counted: { direct: number }, body: unknown, headers?: Record<string, string>): Promise<Answer> {
  const before = counted.direct;
  const apollo = await send(t, body, headers);
  expect(counted.direct).toBe(before);
  const direct = await send(t, body, headers);
  expect(counted.direct).toBe(before + 1);
  expect(direct).toEqual(apollo);
  return direct;
}

describe('a query answered again without Apollo', () => {
  test('a finished job: the same bytes and headers, Cache-Control from its hints', async () => {
    const { t, counted } = await gateway();
    const answer = await sameTwice(t, counted, {
      query: `{ idMappingJob(workflowName: "customer-id-map", jobId: "${JOB}") { status startTime metrics { inputRecords } } }`,
    });
    expect(answer.status).toBe(200);
    expect(answer.headers).toContainEqual(['cache-control', 'max-age=3600, public']);
    expect(answer.body.endsWith('\n')).toBe(true);
  });

  test('a running job is no-store', async () => {
    const { t, counted } = await gateway();
    const { workflowName, jobId } = runningJob(t.emulator);
    const answer = await sameTwice(t, counted, {
      query: 'query Job($w: String!, $j: ID!) { idMappingJob(workflowName: $w, jobId: $j) { status } }',
      operationName: 'Job',
      variables: { w: workflowName, j: jobId },
    });
    expect(answer.headers).toContainEqual(['cache-control', 'no-store']);
  });

  test('a missing job and a malformed id: the errors formatted as Apollo formats them', async () => {
    const { t, counted } = await gateway();
    const missing = await sameTwice(t, counted, {
      query: `{ idMappingJob(workflowName: "customer-id-map", jobId: "${'0'.repeat(32)}") { status } }`,
    });
    expect(JSON.parse(missing.body).errors[0].extensions.code).toBe('NOT_FOUND');
    const malformed = await sameTwice(t, counted, { query: '{ idMappingJob(workflowName: "customer-id-map", jobId: "x") { status } }' });
    expect(JSON.parse(malformed.body).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  test('a throttled read says Retry-After, as Apollo says it', async () => {
    const { t, counted } = await gateway({ ER_FINAL_JOB_CACHE_SIZE: '0' });
    t.emulator.failNext('GetIdMappingJob', 'ThrottlingException', 100);
    const answer = await sameTwice(t, counted, {
      query: `{ idMappingJob(workflowName: "customer-id-map", jobId: "${JOB}") { status } }`,
    });
    expect(JSON.parse(answer.body).errors[0].extensions.code).toBe('THROTTLED');
    expect(answer.headers.map(([name]) => name)).toContain('retry-after');
  });

  test('one operation of several, by name, and `{ __typename }`', async () => {
    const { t, counted } = await gateway();
    const query = `query A { __typename } query B { idMappingJob(workflowName: "customer-id-map", jobId: "${JOB}") { jobId } }`;
    await sameTwice(t, counted, { query, operationName: 'B' });
    await sameTwice(t, counted, { query, operationName: 'A' });
    await sameTwice(t, counted, { query: '{ __typename }' });
  });

  test('an Accept header Apollo answered once is answered with the same content type', async () => {
    const { t, counted } = await gateway();
    const body = { query: '{ __typename }' };
    await sameTwice(t, counted, body);
    const accept = { accept: 'application/graphql-response+json, application/json;q=0.9' };
    const answer = await sameTwice(t, counted, body, accept);
    expect(answer.headers).toContainEqual(['content-type', 'application/graphql-response+json; charset=utf-8']);
  });
});

test('made-up Accept headers do not keep a new one from being answered directly: the least recently used are let go', async () => {
  const { t, counted } = await gateway();
  const typename = { query: '{ __typename }' };
  for (let i = 0; i < 40; i++) expect((await send(t, typename, { accept: `application/json, x/made-up-${i}` })).status).toBe(200);
  await sameTwice(t, counted, typename, { accept: 'application/graphql-response+json, application/json' });
});

describe('what Apollo still answers', () => {
  test('variables that do not coerce: 400 from Apollo, however often', async () => {
    const { t, counted } = await gateway();
    const query = 'query ($j: ID!) { idMappingJob(workflowName: "customer-id-map", jobId: $j) { status } }';
    await sameTwice(t, counted, { query, variables: { j: JOB } });
    const bad = await send(t, { query, variables: { j: { not: 'an id' } } });
    const again = await send(t, { query, variables: { j: { not: 'an id' } } });
    expect(bad.status).toBe(400);
    expect(again).toEqual(bad);
    expect(counted.direct).toBe(1);
  });

  test('a query past the cost limit is refused by Apollo, and counted once on /metrics', async () => {
    const { t, counted } = await gateway({ ER_MAX_UPSTREAM_CALLS: '30' });
    const query = 'query ($n: Int) { idMappingJobs(workflowName: "customer-id-map", first: $n) { nodes { metrics { inputRecords } } } }';
    await sameTwice(t, counted, { query, variables: { n: 2 } });
    const refused = await send(t, { query, variables: { n: 100 } });
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).errors[0].extensions.code).toBe('LIMIT_EXCEEDED');
    expect(counted.direct).toBe(1);
    const metrics = await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^er_gateway_limit_refusals_total\{limit="upstreamCalls"\} 1$/m);
  });

  test("a GET answered with Apollo's landing page teaches no content type to POSTs with its Accept header", async () => {
    const { t, counted } = await gateway({ ER_IDE: 'sandbox' });
    const accept = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
    const page = await fetch(t.endpoint, { headers: accept });
    expect(page.headers.get('content-type')).toContain('text/html');
    await page.text();
    await sameTwice(t, counted, { query: '{ __typename }' });
    const posted = await send(t, { query: '{ __typename }' }, accept);
    expect(posted.headers).toContainEqual(['content-type', 'application/json; charset=utf-8']);
    expect(counted.direct).toBe(1);
  });

  test('an OPTIONS with the body of a query Apollo answered is refused as Apollo refuses it (405), not answered', async () => {
    const { t, counted } = await gateway();
    const body = JSON.stringify({ query: '{ __typename }' });
    await sameTwice(t, counted, body);
    const options = await fetch(t.endpoint, { method: 'OPTIONS', headers: { 'content-type': 'application/json' }, body });
    expect(options.status).toBe(405);
    expect(await options.text()).not.toContain('"data"');
    expect(counted.direct).toBe(1);
  });

  test("a query whose parsed document holds more than the plans may (its tokens reckoned, comments too) is Apollo's every time", async () => {
    const { t, counted } = await gateway({ ER_BODY_LIMIT_BYTES: String(2 * 2 ** 20) });
    // 1 MB of text, 500,000 comment tokens: about 45 MiB of heap once parsed, past the plans' 16 MiB (it was reckoned at 10 MB).
    const body = { query: `{ __typename }${'#\n'.repeat(500_000)}` };
    for (let i = 0; i < 2; i++) expect((await send(t, body)).status).toBe(200);
    expect(counted.direct).toBe(0);
  });

  test('mutations, extensions, other content types and the router are never answered here', async () => {
    const { t, counted } = await gateway();
    const typename = { query: '{ __typename }' };
    await sameTwice(t, counted, typename);
    const mutation = { query: 'mutation { __typename }' };
    await send(t, mutation);
    await send(t, mutation);
    await send(t, { ...typename, extensions: { tag: 1 } });
    await send(t, typename, { 'content-type': 'application/json; charset=latin1' });
    await send(t, typename, { 'apollo-federation-include-trace': 'ftv1' });
    await send(t, typename, { 'x-router-secret': 'anything' });
    await send(t, typename, { accept: 'text/html;q=0.1, application/xml' });
    expect(counted.direct).toBe(1);
  });
});

test('a direct answer fills the response cache, and the next request is a hit', async () => {
  const { t, counted } = await gateway({ ER_RESPONSE_CACHE_MB: '1' });
  const cacheable = `{ idMappingJob(workflowName: "customer-id-map", jobId: "${JOB}") { status } }`;
  // Apollo learns the text from a request the cache keys apart (its variables are `{}`, not none).
  const learn = await send(t, { query: cacheable, variables: {} });
  const direct = await send(t, { query: cacheable });
  expect(counted.direct).toBe(1);
  const hit = await fetch(t.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: cacheable }),
  });
  expect(hit.headers.get('age')).not.toBeNull();
  expect(await hit.text()).toBe(direct.body);
  expect(direct.body).toBe(learn.body);
  expect(counted.direct).toBe(1);
});
