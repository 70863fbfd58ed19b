import { startTestGateway, type TestGateway } from '../utils/gateway';
import { RawSocket } from '../utils/subscriptions';

/**
 * Variables built to break the gateway rather than to ask it anything:
 * nested 40,000 deep (80 KB of brackets, within the body limit) or holding
 * more values than any honest operation needs, even when the operation does
 * not use them. Each transport answers BAD_USER_INPUT before anything reads
 * them, in production, and goes on serving.
 */

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({ env: { NODE_ENV: 'production', ER_BACKEND: 'emulator' } });
});

afterAll(async () => {
  await t.close();
});

const QUERY = 'query { idMappingWorkflow(workflowName: "customer-id-map") { workflowName } }';
/** A list nested `depth` deep, as JSON text: JSON.stringify of such a value would overflow the test's own stack. */
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
/** The body of `QUERY` with variable `v` (which it does not use) as `json`. */
const body = (json: string) => `{"query":${JSON.stringify(QUERY)},"variables":{"v":${json}}}`;

async function postRaw(path: string, text: string, accept = 'application/graphql-response+json') {
  const res = await fetch(`${t.gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept },
    body: text,
  });
  return {
    status: res.status,
    body: (await res.json()) as { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] },
  };
}

describe('variables nested 40,000 deep', () => {
  const deep = body(nested(40_000));

  test('over HTTP are 400 BAD_USER_INPUT, not 500, and the next request is served', async () => {
    const res = await postRaw('/graphql', deep);
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      {
        message: 'The variables nest lists and objects more than 32 deep.',
        extensions: { code: 'BAD_USER_INPUT', limit: 'variablesDepth', limitValue: 32 },
      },
    ]);
    expect(t.emulator.requests()).toBe(0);
    const next = await postRaw('/graphql', body('1'));
    expect(next.body).toEqual({ data: { idMappingWorkflow: { workflowName: 'customer-id-map' } } });
  });

  test('over a websocket are an error message, the socket stays open, and its next operation succeeds', async () => {
    const socket = await RawSocket.open(t.gateway.url);
    try {
      socket.send(`{"id":"deep","type":"subscribe","payload":${body(nested(40_000))}}`);
      await socket.until(() => socket.messages.some((m) => m.id === 'deep'));
      expect(socket.messages.filter((m) => m.id === 'deep')).toEqual([
        {
          id: 'deep',
          type: 'error',
          payload: [expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', limit: 'variablesDepth', limitValue: 32 } })],
        },
      ]);
      socket.subscribe('next', QUERY);
      await socket.until(() => socket.messages.some((m) => m.id === 'next' && m.type === 'complete'));
      expect(socket.results('next')).toEqual([{ data: { idMappingWorkflow: { workflowName: 'customer-id-map' } } }]);
    } finally {
      socket.close();
    }
  });

  test('over SSE are answered 400 BAD_USER_INPUT', async () => {
    const res = await postRaw('/graphql/stream', deep, 'text/event-stream');
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', limit: 'variablesDepth', limitValue: 32 } }),
    ]);
  });
});

test('variables nested as deep as ER_MAX_VARIABLES_DEPTH (32) are served; one deeper is refused', async () => {
  expect((await postRaw('/graphql', body(nested(32)))).status).toBe(200);
  expect((await postRaw('/graphql', body(`{"a":${nested(31)}}`))).status).toBe(200);
  expect((await postRaw('/graphql', body(nested(33)))).status).toBe(400);
});

test('variables holding more than ER_MAX_VARIABLE_VALUES (10,000) values are 400 BAD_USER_INPUT', async () => {
  const res = await postRaw('/graphql', body(`[${Array(10_001).fill('0').join(',')}]`));
  expect(res.status).toBe(400);
  expect(res.body.errors?.[0].extensions).toEqual({ code: 'BAD_USER_INPUT', limit: 'variablesValues', limitValue: 10_000 });
  expect((await postRaw('/graphql', body(`[${Array(9_999).fill('0').join(',')}]`))).status).toBe(200);
});
