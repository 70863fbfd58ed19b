import { createClient as createWsClient } from 'graphql-ws';
import { fetchFrom, slowHeaders, webSocketFrom } from '../utils/address';
import { newApiKey, writeTempFile } from '../utils/auth';
import { startTestGateway, type TestGateway } from '../utils/gateway';
import { RawSocket, sseClient } from '../utils/subscriptions';

/**
 * One client holding every connection it can: event streams, websockets and
 * connections that never finish their headers. Its streams draw from one
 * budget (ER_STREAMS_PER_CLIENT), its connections from one share of the cap
 * (ER_MAX_CONNECTIONS_PER_ADDRESS); another client is served all the while.
 * The attacker calls from 127.0.0.1, the honest client from 127.0.0.2.
 */

const LIST = 'subscription { idMappingJobsChanged(workflowName: "customer-id-map", first: 2) { jobId } }';
const QUERY = '{ idMappingWorkflows(first: 1) { nodes { workflowName } } }';

/** An SSE request that opens a stream: the response (headers read, body left streaming) and the means to close it. */
async function openStream(
  t: TestGateway,
  from: string,
  headers: Record<string, string> = {},
): Promise<{ response: Response; close(): void }> {
  const end = new AbortController();
  const response = await fetchFrom(from)(`${t.gateway.url}/graphql/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query: LIST }),
    signal: end.signal,
  });
  return { response, close: () => end.abort() };
}

/** What the honest client gets from 127.0.0.2: ten queries over HTTP, a subscription over SSE and one over a websocket, each with its answer. */
async function honestClient(t: TestGateway, headers: Record<string, string> = {}): Promise<{ served: number; sse: unknown; ws: unknown }> {
  const from = '127.0.0.2';
  const post = fetchFrom(from);
  const answers = await Promise.all(
    Array.from({ length: 10 }, async () => {
      const res = await post(t.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query: QUERY }),
      });
      const body = (await res.json()) as { data?: { idMappingWorkflows: { nodes: unknown[] } } };
      return res.status === 200 && body.data?.idMappingWorkflows.nodes.length === 1;
    }),
  );
  const sse = sseClient(t.gateway.url, { fetchFn: post, headers });
  const ws = createWsClient({
    url: `${t.gateway.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: webSocketFrom(from),
    retryAttempts: 0,
    connectionParams: headers,
  });
  try {
    const first = async (iterator: AsyncIterableIterator<unknown>) => {
      const { value } = await iterator.next();
      await iterator.return?.();
      return value;
    };
    return {
      served: answers.filter(Boolean).length,
      sse: await first(sse.iterate({ query: LIST })),
      ws: await first(ws.iterate({ query: LIST })),
    };
  } finally {
    sse.dispose();
    await ws.dispose();
  }
}

const SERVED = {
  served: 10,
  sse: { data: { idMappingJobsChanged: expect.any(Array) } },
  ws: { data: { idMappingJobsChanged: expect.any(Array) } },
};

async function refusals(t: TestGateway, limit: string): Promise<number> {
  const text = await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text();
  return Number(new RegExp(`^er_gateway_limit_refusals_total\\{limit="${limit}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

test('an address holds ER_STREAMS_PER_CLIENT event streams and websockets together; past it an SSE request is 429 before any stream opens, and another client is served', async () => {
  const t = await startTestGateway({ env: { ER_STREAMS_PER_CLIENT: '4', ER_MAX_CONNECTIONS: '40', ER_MAX_CONNECTIONS_PER_ADDRESS: '20' } });
  const streams: { close(): void }[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const stream = await openStream(t, '127.0.0.1');
      streams.push(stream);
      expect([stream.response.status, stream.response.headers.get('content-type')]).toEqual([
        200,
        expect.stringMatching(/^text\/event-stream/),
      ]);
    }
    for (let i = 0; i < 3; i++) {
      const refused = await openStream(t, '127.0.0.1');
      expect([refused.response.status, refused.response.headers.get('content-type'), await refused.response.json()]).toEqual([
        429,
        'application/json; charset=utf-8',
        {
          errors: [
            {
              message: 'A client may hold 4 streams (websockets, event streams and callback subscriptions) at once; close one first.',
              extensions: { code: 'LIMIT_EXCEEDED', limit: 'streamsPerClient', limitValue: 4 },
            },
          ],
        },
      ]);
    }
    // A websocket draws from the same budget: refused once it says who it is.
    const socket = await RawSocket.open(t.gateway.url, { init: false });
    socket.init();
    expect(await socket.closed).toEqual({ code: 1008, reason: 'Too many connections from this client' });
    expect(await refusals(t, 'streamsPerClient')).toBe(4);

    expect(await honestClient(t)).toEqual(SERVED);

    // A stream closed frees its place in the budget.
    streams.shift()!.close();
    for (;;) {
      const again = await openStream(t, '127.0.0.1');
      if (again.response.status === 200) {
        streams.push(again);
        break;
      }
      await again.response.text(); // the close has not reached the gateway yet
    }
  } finally {
    for (const stream of streams) stream.close();
    await t.close();
  }
});

test('the stream budget is per principal: a key past its budget is refused while another key from the same address is served', async () => {
  const [attacker, honest] = [newApiKey(), newApiKey()];
  const policy = { grants: [{ to: { apiKeys: ['attacker', 'honest'] }, workflows: ['*'], actions: ['read', 'subscribe'] }] };
  const t = await startTestGateway({
    env: {
      ER_AUTH: 'apikey',
      ER_API_KEYS: `attacker:${attacker.sha256},honest:${honest.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', policy as never),
      ER_STREAMS_PER_CLIENT: '3',
    },
  });
  const streams: Awaited<ReturnType<typeof openStream>>[] = [];
  try {
    for (let i = 0; i < 3; i++) streams.push(await openStream(t, '127.0.0.2', { 'x-api-key': attacker.key }));
    expect(streams.map((stream) => stream.response.status)).toEqual([200, 200, 200]);
    const refused = await openStream(t, '127.0.0.2', { 'x-api-key': attacker.key });
    expect([
      refused.response.status,
      ((await refused.response.json()) as { errors: { extensions: unknown }[] }).errors[0].extensions,
    ]).toEqual([429, { code: 'LIMIT_EXCEEDED', limit: 'streamsPerClient', limitValue: 3 }]);
    expect(await honestClient(t, { 'x-api-key': honest.key })).toEqual(SERVED);
  } finally {
    for (const stream of streams) stream.close();
    await t.close();
  }
});

test('one address holding websockets, event streams and slow-header connections gets ER_MAX_CONNECTIONS_PER_ADDRESS of them; another address is served in full', async () => {
  const t = await startTestGateway({
    env: {
      ER_STREAMS_PER_CLIENT: '4',
      ER_MAX_CONNECTIONS: '40',
      ER_MAX_CONNECTIONS_PER_ADDRESS: '10',
      ER_HTTP_HEADERS_TIMEOUT_MS: '60000',
      ER_HTTP_REQUEST_TIMEOUT_MS: '60000',
    },
  });
  const sockets = await Promise.all([RawSocket.open(t.gateway.url), RawSocket.open(t.gateway.url)]);
  const streams = [await openStream(t, '127.0.0.1'), await openStream(t, '127.0.0.1')];
  // Thirty connections that never finish their headers: with four held already, six fit in the share.
  const slow = await Promise.all(Array.from({ length: 30 }, () => slowHeaders(t.gateway.url, '127.0.0.1')));
  try {
    expect(streams.map((stream) => stream.response.status)).toEqual([200, 200]);
    while (slow.filter((connection) => connection.isClosed()).length < 24)
      await Promise.race(slow.filter((c) => !c.isClosed()).map((c) => c.closed));
    // A new stream from the same address is refused at the connection, before any request is read.
    await expect(openStream(t, '127.0.0.1')).rejects.toThrow();

    expect(await honestClient(t)).toEqual(SERVED);
    // Every connection of the attacker reached the gateway before the honest client's: the count is final.
    expect(slow.filter((connection) => !connection.isClosed())).toHaveLength(6);
    expect(await refusals(t, 'connectionsPerAddress')).toBe(25);
  } finally {
    for (const connection of slow) connection.socket.destroy();
    for (const stream of streams) stream.close();
    for (const socket of sockets) socket.close();
    await t.close();
  }
});
