import { connect, type Socket } from 'node:net';
import { startTestGateway, type TestGateway } from '../utils/gateway';

/**
 * A hostile client over HTTP: slow headers, slow bodies, idle connections
 * held open, and bodies the HTTP layer itself must refuse, in production.
 */

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({
    env: {
      NODE_ENV: 'production',
      ER_BACKEND: 'emulator',
      ER_HTTP_HEADERS_TIMEOUT_MS: '400',
      ER_HTTP_REQUEST_TIMEOUT_MS: '800',
      ER_MAX_CONNECTIONS: '4',
      // The cap itself is under test: one address may take all of it.
      ER_MAX_CONNECTIONS_PER_ADDRESS: '4',
    },
  });
});

afterAll(async () => {
  await t.close();
});

/** A TCP connection to the gateway that writes what the test says, when it says. */
async function rawConnection(): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const { port } = new URL(t.gateway.url);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let data = '';
  socket.on('data', (chunk) => (data += chunk.toString()));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => data, closed };
}

/** Writes one header line every 100 ms, never ending the headers, until the connection closes. */
function trickle(socket: Socket): void {
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const timer = setInterval(() => socket.writable && socket.write(`X-Slow-${Date.now()}: 1\r\n`), 100);
  socket.once('close', () => clearInterval(timer));
}

test('a client that trickles its headers is answered 408 and cut at ER_HTTP_HEADERS_TIMEOUT_MS', async () => {
  const slow = await rawConnection();
  trickle(slow.socket);
  await slow.closed;
  expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
});

test('a client that trickles its body is answered 408 and cut at ER_HTTP_REQUEST_TIMEOUT_MS', async () => {
  const slow = await rawConnection();
  slow.socket.write('POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"query":');
  const timer = setInterval(() => slow.socket.writable && slow.socket.write(' '), 100);
  await slow.closed;
  clearInterval(timer);
  expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
});

test('past ER_MAX_CONNECTIONS new connections are refused; once slow ones are cut, the gateway serves again', async () => {
  const held = await Promise.all(Array.from({ length: 4 }, rawConnection));
  for (const connection of held) trickle(connection.socket);
  const refused = await rawConnection();
  await refused.closed;
  expect(refused.received()).toBe('');
  await Promise.all(held.map((connection) => connection.closed));
  expect((await t.post('{ __typename }')).data).toEqual({ __typename: 'Query' });
});

test('bodies the HTTP layer refuses are JSON in production too: bad charset, bad encoding, too large', async () => {
  const cases: [Record<string, string>, string, number][] = [
    [{ 'content-type': 'application/json; charset=utf-7' }, '{"query":"{ __typename }"}', 415],
    [{ 'content-type': 'application/json', 'content-encoding': 'br' }, '{"query":"{ __typename }"}', 415],
    [{ 'content-type': 'application/json' }, JSON.stringify({ query: `{ __typename } #${'x'.repeat(200 * 1024)}` }), 413],
  ];
  for (const [headers, body, status] of cases) {
    const res = await fetch(t.endpoint, { method: 'POST', headers, body });
    const text = await res.text();
    expect([res.status, res.headers.get('content-type')]).toEqual([status, expect.stringMatching(/^application\/json/)]);
    expect(text).not.toMatch(/<html|\bat .+:\d+:\d+|\/work\/|node_modules|src\//i);
    expect(JSON.parse(text)).toEqual({ errors: [{ message: expect.any(String), extensions: { code: expect.any(String) } }] });
  }
});

test('/metrics is not on the service port: it has a listener of its own', async () => {
  const onService = await fetch(`${t.gateway.url}/metrics`);
  expect(onService.status).toBe(404);
  const own = await fetch(`${t.gateway.metricsUrl}/metrics`);
  expect([own.status, new URL(t.gateway.metricsUrl).hostname]).toEqual([200, '127.0.0.1']);
  expect(await own.text()).toMatch(/^# TYPE er_gateway_upstream_requests_total counter$/m);
});
