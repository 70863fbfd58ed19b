import { startEmulator, type Emulator } from '../src/emulator/http';
import { seededJobId } from '../src/emulator/seed';
import { startGatewayProcess, type GatewayProcess } from './utils/process';
import { Subscription, wsClient } from './utils/subscriptions';
import { until } from './utils/wait';

const UPDATES = 'subscription($w: String!, $j: ID!) { idMappingJobUpdated(workflowName: $w, jobId: $j) { status } }';

let emulator: Emulator;
let gateway: GatewayProcess;

beforeAll(async () => {
  emulator = await startEmulator();
  gateway = await startGatewayProcess({
    ER_BACKEND: 'aws',
    ER_AUTH: 'none',
    ER_ENDPOINT: emulator.url,
    AWS_REGION: emulator.state.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    ER_SHUTDOWN_DRAIN_MS: '1000',
    ER_REQUEST_DEADLINE_MS: '60000',
    ER_RATE_PER_SECOND: '0',
    ER_FINAL_JOB_CACHE_SIZE: '0',
  });
}, 60_000);

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
