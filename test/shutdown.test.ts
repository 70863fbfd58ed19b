import { startEmulator, type Emulator } from '../src/emulator/http';
import { seededJobId } from '../src/emulator/seed';
import { SHUTDOWN_REASON } from '../src/server/websocket';
import { startHangingCollector } from './utils/otlp';
import { startGatewayProcess, type GatewayProcess } from './utils/process';
import { RawSocket, Subscription, wsClient } from './utils/subscriptions';
import { until } from './utils/wait';

const UPDATES = 'subscription($w: String!, $j: ID!) { idMappingJobUpdated(workflowName: $w, jobId: $j) { status } }';

let emulator: Emulator;
let gateway: GatewayProcess;

/** A gateway process on the file's emulator, as the service. */
function gatewayOnEmulator(env: Record<string, string> = {}): Promise<GatewayProcess> {
  return startGatewayProcess({
    ER_BACKEND: 'aws',
    ER_AUTH: 'none',
    ER_ENDPOINT: emulator.url,
    AWS_REGION: emulator.state.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    ER_RATE_PER_SECOND: '0',
    ER_FINAL_JOB_CACHE_SIZE: '0',
    ...env,
  });
}

/** Waits for the process's first log line whose message matches `pattern`. */
async function logged(process: GatewayProcess, pattern: RegExp): Promise<void> {
  await until(() => process.lines.some((line) => pattern.test(String(line.msg))), { emitter: process.output, event: 'line' });
}

beforeAll(async () => {
  emulator = await startEmulator();
  gateway = await gatewayOnEmulator({ ER_SHUTDOWN_DRAIN_MS: '1000', ER_REQUEST_DEADLINE_MS: '60000' });
}, 120_000);

afterAll(async () => {
  gateway.child.kill('SIGKILL');
  await emulator.close();
});

test('SIGTERM drains: requests still waiting at the drain deadline are answered with an error, websockets close with 1001, exit status 0', async () => {
  const client = wsClient(gateway.url);
  const closed = new Promise<number>((resolve) => client.on('closed', (event) => resolve((event as { code: number }).code)));
  // A job that runs for ever: the subscription stays open.
  const running = emulator.state.holdRunning('idMapping', 'loyalty-id-map');
  const sub = new Subscription(client, UPDATES, { w: 'loyalty-id-map', j: running.jobId });
  await sub.event(1);

  // Five queries that the service will take 15 s to answer.
  emulator.setFaults({ latencyMs: 15_000 });
  emulator.resetRequests();
  const inFlight = Array.from({ length: 5 }, (_, i) =>
    fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', i + 1)}") { jobId } }`,
      }),
    }).then(async (res) => ({
      status: res.status,
      body: (await res.json()) as { data: unknown; errors?: { extensions: Record<string, unknown> }[] },
    })),
  );
  await until(() => emulator.requests('GetIdMappingJob') >= 5);

  gateway.child.kill('SIGTERM');
  const answers = await Promise.all(inFlight);
  for (const { status, body } of answers) {
    expect(status).toBe(200);
    expect(body).toEqual({
      data: { idMappingJob: null },
      errors: [expect.objectContaining({ extensions: { code: 'UPSTREAM_UNAVAILABLE', reason: 'shutdown' } })],
    });
  }
  expect(await closed).toBe(1001);
  expect(await gateway.exited).toBe(0);
  const messages = gateway.lines.map((line) => line.msg);
  expect(messages).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^shutting down/),
      expect.stringMatching(/^drain deadline reached/),
      'shut down cleanly',
    ]),
  );
  // The one error is the warning ER_AUTH=none against AWS gives on purpose, at start-up.
  expect(gateway.lines.filter((line) => (line.level as number) >= 50).map((line) => line.msg)).toEqual([
    expect.stringMatching(/^AUTH: NONE \(ER_AUTH=none\)/),
  ]);
  await client.dispose();
});

const QUERY = JSON.stringify({
  query: `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 1)}") { status } }`,
});

test('SIGTERM with a shutdown delay: /readyz is 503 at once, new requests and connections are served for the delay, then websockets close with 1001 and a reason, event streams end, exit 0', async () => {
  emulator.setFaults({});
  const g = await gatewayOnEmulator({ ER_SHUTDOWN_DELAY_MS: '4000', ER_SHUTDOWN_DRAIN_MS: '2000' });
  const running = emulator.state.holdRunning('idMapping', 'loyalty-id-map');
  const before = await RawSocket.open(g.url);
  before.subscribe('1', UPDATES, { w: 'loyalty-id-map', j: running.jobId });
  await before.message('next', '1');
  const stream = await fetch(`${g.url}/graphql/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query: UPDATES, variables: { w: 'loyalty-id-map', j: running.jobId } }),
  });
  // Resolves once the server ends the stream.
  const events = stream.text();

  g.child.kill('SIGTERM');
  await logged(g, /^shutting down/);
  const ready = await fetch(`${g.url}/readyz`);
  expect([ready.status, await ready.json()]).toEqual([503, { status: 'shutting down', reason: expect.stringContaining('another') }]);
  // Still serving: a query on a new connection, told to close it, and a new websocket whose subscription gets the current state.
  const query = await fetch(`${g.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: QUERY });
  expect([query.status, query.headers.get('connection'), await query.json()]).toEqual([
    200,
    'close',
    { data: { idMappingJob: { status: 'SUCCEEDED' } } },
  ]);
  const during = await RawSocket.open(g.url);
  during.subscribe('1', UPDATES, { w: 'loyalty-id-map', j: running.jobId });
  expect((await during.message('next', '1')).payload).toEqual({ data: { idMappingJobUpdated: { status: 'RUNNING' } } });

  // At the end of the delay, not before: both sockets close with 1001 and a reason clients can act on, and the event stream ends unfinished.
  for (const socket of [before, during]) expect(await socket.closed).toEqual({ code: 1001, reason: SHUTDOWN_REASON });
  expect(g.lines.some((line) => /^shutdown delay over/.test(String(line.msg)))).toBe(true);
  const text = await events;
  expect(text).toContain('event: next');
  expect(text).not.toContain('event: complete');
  expect(await g.exited).toBe(0);
  emulator.state.failJob('idMapping', 'loyalty-id-map', running.jobId, 'test over');
}, 120_000);

test('a second signal during the shutdown delay exits at once', async () => {
  const g = await gatewayOnEmulator({ ER_SHUTDOWN_DELAY_MS: '600000' });
  g.child.kill('SIGTERM');
  await logged(g, /^shutting down/);
  g.child.kill('SIGTERM');
  expect(await g.exited).toBe(1);
  expect(g.lines.map((line) => line.msg)).toContain('second signal: exiting without finishing the drain');
}, 120_000);

test('a gateway whose stdout reader has gone answers requests, counts the log lines it drops, and exits 0 on SIGTERM within the drain deadline', async () => {
  const DRAIN_MS = 3000;
  // At debug level every query for a missing job logs a line.
  const g = await gatewayOnEmulator({ LOG_LEVEL: 'debug', ER_SHUTDOWN_DRAIN_MS: String(DRAIN_MS) });
  g.child.stdout!.destroy();
  const missing = JSON.stringify({ query: `{ idMappingJob(workflowName: "customer-id-map", jobId: "${'f'.repeat(32)}") { status } }` });
  const dropped = async () =>
    Number(/^er_gateway_log_lines_dropped_total (\d+)$/m.exec(await (await fetch(`${g.metricsUrl}/metrics`)).text())?.[1] ?? NaN);
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${g.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: missing });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('NOT_FOUND');
  }
  await until(async () => (await dropped()) > 0);
  const signalled = performance.now();
  g.child.kill('SIGTERM');
  expect(await g.exited).toBe(0);
  expect(performance.now() - signalled).toBeLessThan(DRAIN_MS);
}, 120_000);

test('SIGTERM with a collector that never answers: the last spans and metrics are exported at once within ER_OTLP_EXPORT_TIMEOUT_MS, then exit 0', async () => {
  const collector = await startHangingCollector();
  const g = await gatewayOnEmulator({
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    ER_OTLP_EXPORT_TIMEOUT_MS: '1000',
  });
  // A sampled operation: its spans wait in the batch (OTEL_BSP_SCHEDULE_DELAY's 5 s) for the export at shutdown, as do the metrics.
  const response = await fetch(`${g.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` },
    body: JSON.stringify({
      query: `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 1)}") { jobId } }`,
    }),
  });
  expect(response.status).toBe(200);
  const signalled = performance.now();
  g.child.kill('SIGTERM');
  expect(await g.exited).toBe(0);
  const tookMs = performance.now() - signalled;
  // Both exports reached the collector, and were waited for together: one budget, not one per signal in turn (each 10 s by the SDK's default).
  expect([...new Set(collector.paths)].sort()).toEqual(['/v1/metrics', '/v1/traces']);
  expect(g.lines.some((line) => /not exported within ER_OTLP_EXPORT_TIMEOUT_MS/.test(String(line.msg)))).toBe(true);
  expect(tookMs).toBeGreaterThan(1000);
  expect(tookMs).toBeLessThan(1000 + 3000);
}, 60_000);
