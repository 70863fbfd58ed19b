import { seededJobId } from '../src/emulator/seed';
import { codes, startTestGateway, type TestGateway } from './utils/gateway';

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
});

afterAll(() => t.close());

const jobQuery = `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 1)}") { status } }`;

describe('GraphQL over HTTP', () => {
  test('a query by GET answers with a preflight header', async () => {
    const res = await fetch(`${t.endpoint}?query=${encodeURIComponent(jobQuery)}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { idMappingJob: { status: 'SUCCEEDED' } } });
  });

  test('CSRF prevention refuses a simple GET and a text/plain POST', async () => {
    const before = t.emulator.requests();
    const get = await fetch(`${t.endpoint}?query=${encodeURIComponent(jobQuery)}`);
    expect(get.status).toBe(400);
    const post = await fetch(t.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ query: jobQuery }),
    });
    expect(post.status).toBe(400);
    expect(post.headers.get('content-type')).toMatch(/json/);
    expect(((await post.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(t.emulator.requests()).toBe(before);
  });

  test('the response is application/graphql-response+json when the client accepts it', async () => {
    const res = await fetch(t.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: jobQuery }),
    });
    expect(res.headers.get('content-type')).toMatch(/^application\/graphql-response\+json/);
  });

  test('unparsable, invalid and badly typed requests are 400 with their codes', async () => {
    const parse = await t.post('{ idMappingJob(');
    expect([parse.status, ...codes(parse)]).toEqual([400, 'GRAPHQL_PARSE_FAILED']);
    const invalid = await t.post('{ idMappingJob(workflowName: "w", jobId: "j") { noSuchField } }');
    expect([invalid.status, ...codes(invalid)]).toEqual([400, 'GRAPHQL_VALIDATION_FAILED']);
    const coercion = await t.post('query ($n: Int) { matchingWorkflows(first: $n) { nodes { workflowName } } }', { n: 'ten' });
    expect([coercion.status, ...codes(coercion)]).toEqual([400, 'BAD_USER_INPUT']);
  });
});

describe('operation limits', () => {
  test('too many aliases, too deep a query or too costly a query is refused before anything runs', async () => {
    const strict = await startTestGateway({ env: { ER_MAX_ALIASES: '3', ER_MAX_DEPTH: '4', ER_MAX_COST: '20' } });
    try {
      const job = `idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 1)}") { status }`;
      const aliases = await strict.post(`{ a: ${job} b: ${job} c: ${job} d: ${job} }`);
      expect([aliases.status, ...codes(aliases)]).toEqual([400, 'GRAPHQL_VALIDATION_FAILED']);
      expect(aliases.errors![0].message).toMatch(/alias/i);
      const deep = await strict.post('{ idMappingWorkflows { nodes { jobs { nodes { metrics { inputRecords } } } } } }');
      expect(deep.status).toBe(400);
      expect(new Set(codes(deep))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
      expect(deep.errors!.some((error) => /depth/i.test(error.message))).toBe(true);
      const costly = await strict.post(
        '{ matchingWorkflows { nodes { workflowName workflowArn description createdAt updatedAt roleArn resolutionType incrementalRunType } } }',
      );
      expect(codes(costly)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(costly.errors![0].message).toMatch(/cost/i);
      expect(strict.emulator.requests()).toBe(0);
      const fine = await strict.post(`{ a: ${job} b: ${job} c: ${job} }`);
      expect(fine.errors).toBeUndefined();
    } finally {
      await strict.close();
    }
  });
});

describe('operations endpoints', () => {
  test('a subscription sent over HTTP is 400 BAD_REQUEST saying where subscriptions are served, not a masked 500', async () => {
    const before = t.emulator.requests();
    const res = await t.post(
      `subscription { idMappingJobUpdated(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 1)}") { status } }`,
    );
    expect(res.status).toBe(400);
    expect(res.errors).toEqual([
      {
        message:
          'Subscriptions are served over websockets (graphql-transport-ws) at /graphql and over Server-Sent Events at /graphql/stream, not over a plain HTTP request.',
        extensions: { code: 'BAD_REQUEST' },
      },
    ]);
    expect(t.emulator.requests()).toBe(before);
  });

  test('/healthz answers ok with the backend in use', async () => {
    const res = await fetch(`${t.gateway.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', backend: 'emulator' });
  });

  test('/metrics counts every upstream call by operation and outcome', async () => {
    const before = await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text();
    const count = (text: string, labels: string) =>
      Number(new RegExp(`er_gateway_upstream_requests_total\\{${labels}\\} (\\d+)`).exec(text)?.[1] ?? 0);
    await t.post(jobQuery);
    await t.post(`{ idMappingJob(workflowName: "customer-id-map", jobId: "${'0'.repeat(32)}") { status } }`);
    const after = await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text();
    expect(count(after, 'operation="GetIdMappingJob",outcome="ok"') - count(before, 'operation="GetIdMappingJob",outcome="ok"')).toBe(1);
    expect(count(after, 'operation="GetIdMappingJob",outcome="ResourceNotFoundException"')).toBe(1);
  });
});

describe('what the HTTP layer answers on its own', () => {
  /** An answer of the HTTP layer: JSON in GraphQL's error shape, with nothing of the server's insides. */
  async function refusal(res: Response): Promise<{ status: number; code: unknown; message: string }> {
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await res.text();
    expect(text).not.toMatch(/<html|\bat .+:\d+:\d+|\/work\/|node_modules|src\//i);
    const body = JSON.parse(text) as { errors: { message: string; extensions: { code: unknown } }[] };
    return { status: res.status, code: body.errors[0].extensions.code, message: body.errors[0].message };
  }

  test('a body over 100 KiB is 413 PAYLOAD_TOO_LARGE as JSON, and nothing runs', async () => {
    const before = t.emulator.requests();
    const query = `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 1)}") { status } } #${'x'.repeat(101 * 1024)}`;
    const res = await fetch(t.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    expect(await refusal(res)).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'The request body is larger than 100 KiB.' });
    expect(t.emulator.requests()).toBe(before);
  });

  test('malformed JSON is 400 BAD_REQUEST as JSON', async () => {
    const res = await fetch(t.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query": "{ __typename }"',
    });
    expect(await refusal(res)).toEqual({ status: 400, code: 'BAD_REQUEST', message: 'The request body is not valid JSON.' });
  });

  test('an unknown route is 404 and a wrong method is 405 with Allow, both as JSON', async () => {
    expect(await refusal(await fetch(`${t.gateway.url}/no-such-page`))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    const put = await fetch(t.endpoint, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(put.headers.get('allow')).toBe('GET, POST, OPTIONS');
    expect(await refusal(put)).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED' });
    const post = await fetch(`${t.gateway.url}/healthz`, { method: 'POST' });
    expect(await refusal(post)).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED' });
  });
});
