import { codes, startTestGateway, type TestGateway } from './utils/gateway';
import { sseClient, wsClient } from './utils/subscriptions';

/**
 * What the schema shows in production: `_service` only to the router and
 * introspection to no one, judged over the whole document (fragments, inline
 * fragments, aliases, directives), on HTTP, websockets and SSE alike.
 */

const SECRET = 'router-secret-0123456789';
let prod: TestGateway;

beforeAll(async () => {
  prod = await startTestGateway({ env: { NODE_ENV: 'production', ER_BACKEND: 'emulator', ER_ROUTER_SECRET: SECRET } });
});

afterAll(async () => {
  await prod.close();
});

/** Each way of wrapping `selection` that a check of plain top-level fields would miss, and the plain one. */
const forms = (selection: string): string[] => [
  `{ ${selection} }`,
  `{ ... on Query { ${selection} } }`,
  `{ ... { ${selection} } }`,
  `{ ... @include(if: true) { ${selection} } }`,
  `{ __typename ... @skip(if: false) { ${selection} } }`,
  `query ($on: Boolean = true) { ... @include(if: $on) { ${selection} } }`,
  `{ aliased: __typename ...F } fragment F on Query { ${selection} }`,
  `{ ...F } fragment F on Query { ... on Query { ${selection} } }`,
  `{ ...F } fragment F on Query { ...G } fragment G on Query { ${selection} }`,
];
const SERVICE = ['_service { sdl }', 'sdl: _service { sdl }', '_service @include(if: true) { sdl }'].flatMap(forms);
const INTROSPECTION = [
  '__schema { types { name } }',
  '__type(name: "IdMappingJob") { fields { name } }',
  '__schema @include(if: true) { queryType { name } }',
].flatMap(forms);
const REFUSED = [...SERVICE.map((query) => [query, 'FORBIDDEN']), ...INTROSPECTION.map((query) => [query, 'GRAPHQL_VALIDATION_FAILED'])];

/** What a refusal must not carry: the SDL or any introspected type. */
const LEAK = /type IdMappingJob|"__Schema"|"IdMappingJob"|"fields"/;

test.each(REFUSED)('over HTTP, %s is refused (%s)', async (query, code) => {
  const res = await fetch(prod.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  const text = await res.text();
  expect(res.status).toBe(400);
  expect(text).not.toMatch(LEAK);
  expect(codes(JSON.parse(text))).toContain(code);
});

test('over a graphql-ws client, every form is refused', async () => {
  const client = wsClient(prod.gateway.url);
  try {
    for (const [query, code] of REFUSED) {
      const outcome = await new Promise<unknown>((resolve) => {
        const results: unknown[] = [];
        client.subscribe({ query }, { next: (result) => results.push(result), error: resolve, complete: () => resolve(results) });
      });
      expect([query, JSON.stringify(outcome)]).not.toEqual([query, expect.stringMatching(LEAK)]);
      // graphql-ws sends the errors instead of a result: one per field refused.
      expect([query, new Set((outcome as { extensions: unknown }[]).map((error) => JSON.stringify(error.extensions)))]).toEqual([
        query,
        new Set([JSON.stringify({ code })]),
      ]);
    }
  } finally {
    await client.dispose();
  }
});

test('over a graphql-sse client, every form is refused', async () => {
  const client = sseClient(prod.gateway.url);
  try {
    for (const [query, code] of REFUSED) {
      const outcome = await new Promise<unknown>((resolve) => {
        const results: unknown[] = [];
        client.subscribe({ query }, { next: (result) => results.push(result), error: resolve, complete: () => resolve(results) });
      });
      // The gateway refuses before any stream opens: graphql-sse fails with the 400, whose body holds the errors.
      expect([query, outcome]).toEqual([
        query,
        expect.objectContaining({ name: 'NetworkError', response: expect.objectContaining({ status: 400 }) }),
      ]);
      const text = await (outcome as { response: Response }).response.text();
      expect([query, text]).not.toEqual([query, expect.stringMatching(LEAK)]);
      const { errors } = JSON.parse(text) as { errors: { extensions: unknown }[] };
      expect([query, new Set(errors.map((error) => JSON.stringify(error.extensions)))]).toEqual([
        query,
        new Set([JSON.stringify({ code })]),
      ]);
    }
  } finally {
    client.dispose();
  }
});

test('__typename stays allowed, in fragments too', async () => {
  for (const query of forms('__typename'))
    expect([query, (await prod.post(query)).data]).toEqual([query, expect.objectContaining({ __typename: 'Query' })]);
});

test('the router secret admits the router to _service in every form, and no one else', async () => {
  for (const query of SERVICE) {
    const ask = (headers: Record<string, string>) =>
      fetch(prod.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query }),
      }).then((res) => res.json() as Promise<{ data?: Record<string, { sdl: string }>; errors?: { extensions: { code: string } }[] }>);
    const router = await ask({ 'x-router-secret': SECRET });
    expect([query, Object.values(router.data ?? {}).find((value) => typeof value === 'object')?.sdl]).toEqual([
      query,
      expect.stringMatching(/type IdMappingJob/),
    ]);
    const stranger = await ask({ 'x-router-secret': 'not-the-secret-at-all' });
    expect([query, stranger.errors?.[0].extensions.code, stranger.data]).toEqual([query, 'FORBIDDEN', undefined]);
  }
});

test('without a router secret, _service is refused in every form to everyone', async () => {
  const closed = await startTestGateway({ env: { NODE_ENV: 'production', ER_BACKEND: 'emulator' } });
  try {
    for (const query of SERVICE) {
      const res = await closed.post(query, undefined, { 'x-router-secret': SECRET });
      expect([query, res.status, codes(res), JSON.stringify(res)]).toEqual([query, 400, ['FORBIDDEN'], expect.not.stringMatching(LEAK)]);
    }
  } finally {
    await closed.close();
  }
});
