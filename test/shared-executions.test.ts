import type { Client } from 'graphql-ws';
import { newApiKey, writeTempFile } from './utils/auth';
import { ManualClock } from './utils/clock';
import { runningJob, startTestGateway, type TestGateway } from './utils/gateway';
import { ManualScheduler } from './utils/scheduler';
import { sseClient, Subscription, wsClient } from './utils/subscriptions';
import { until } from './utils/wait';

/**
 * One execution per event per distinct subscription: subscribers of one job
 * with the same document, variables and rights share each event's execution
 * and its serialized payload; a different selection, or other rights, gets an
 * execution of its own. Each subscriber still gets every state.
 */

const keys = { alpha: newApiKey(), gamma: newApiKey(), beta: newApiKey(), delta: newApiKey(), starter: newApiKey() };
const POLICY = {
  grants: [
    // alpha and gamma: the same rights on customer-*, so they may share.
    { to: { apiKeys: ['alpha', 'gamma'] }, workflows: ['customer-*'], actions: ['read', 'subscribe'] },
    // beta may subscribe but not read: the same payload today, but another access decision, so its own execution.
    { to: { apiKeys: ['beta'] }, workflows: ['customer-*'], actions: ['subscribe'] },
    // delta's workflows are others.
    { to: { apiKeys: ['delta'] }, workflows: ['loyalty-*'], actions: ['read', 'subscribe'] },
    { to: { apiKeys: ['starter'] }, workflows: ['customer-*'], actions: ['start'] },
  ],
} as const;

const SOCKETS = 20;
const PER_SOCKET = 100;
const clock = new ManualClock();
const scheduler = new ManualScheduler();
let t: TestGateway;

const STATUS = 'subscription ($w: String!, $j: ID!) { idMappingJobUpdated(workflowName: $w, jobId: $j) { status } }';
const DETAIL =
  'subscription ($w: String!, $j: ID!) { idMappingJobUpdated(workflowName: $w, jobId: $j) { jobId status metrics { inputRecords } } }';
type Updates = { idMappingJobUpdated: { status: string; jobId?: string; metrics?: unknown } };

beforeAll(async () => {
  t = await startTestGateway({
    emulator: { clock: clock.read },
    scheduler,
    env: {
      ER_POLL_INTERVAL_MS: '1000',
      ER_AUTH: 'apikey',
      ER_API_KEYS: Object.entries(keys)
        .map(([name, key]) => `${name}:${key.sha256}`)
        .join(','),
      ER_POLICY_FILE: writeTempFile('policy.yaml', POLICY as never),
      ER_STREAMS_PER_CLIENT: String(SOCKETS * 2),
      ER_WS_SUBSCRIPTIONS_PER_SOCKET: String(PER_SOCKET),
      ER_WS_MESSAGES_PER_SECOND: '10000',
      ER_MAX_CONNECTIONS_PER_ADDRESS: '1000',
    },
  });
});

afterAll(() => t.close());

afterEach(async () => {
  await until(() => t.gateway.watcher.watchedJobs === 0 && scheduler.pending === 0);
  clock.advance(60_000);
});

const counter = async (name: 'subscriptionExecutions' | 'subscriptionEvents') =>
  (await t.gateway.metrics[name].get()).values.reduce((sum, sample) => sum + sample.value, 0);

/** Counts from now on: the executions and deliveries since the call. */
async function counting(): Promise<{ executions(): Promise<number>; deliveries(): Promise<number> }> {
  const executions = await counter('subscriptionExecutions');
  const deliveries = await counter('subscriptionEvents');
  return {
    executions: async () => (await counter('subscriptionExecutions')) - executions,
    deliveries: async () => (await counter('subscriptionEvents')) - deliveries,
  };
}

const socketOf = (key: keyof typeof keys) => wsClient(t.gateway.url, { connectionParams: { 'X-API-Key': keys[key].key } });

/** Starts an ID-mapping job of customer-id-map; it is QUEUED for its first 2 emulated seconds. */
async function startJob(): Promise<string> {
  const started = await t.post<{ startIdMappingJob: { jobId: string } }>(
    'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }',
    {},
    { 'x-api-key': keys.starter.key },
  );
  return started.data!.startIdMappingJob.jobId;
}

/** Moves the job on by `ms` and has its poller read it once. */
async function poll(ms: number): Promise<void> {
  clock.advance(ms);
  await scheduler.runNext();
}

const statuses = (sub: Subscription<Updates>) => sub.events.map((event) => event.data?.idMappingJobUpdated.status);

test('2,000 subscribers of one job with the same selection share one execution per event, and each gets every state to SUCCEEDED', async () => {
  const jobId = await startJob();
  const count = await counting();
  const sockets: Client[] = Array.from({ length: SOCKETS }, (_, i) => socketOf(i % 2 === 0 ? 'alpha' : 'gamma'));
  const subs = Array.from(
    { length: SOCKETS * PER_SOCKET },
    (_, i) => new Subscription<Updates>(sockets[i % SOCKETS], STATUS, { w: 'customer-id-map', j: jobId }),
  );
  await Promise.all(subs.map((sub) => sub.event(1)));
  expect(await count.executions()).toBe(1);

  await poll(5_000);
  await Promise.all(subs.map((sub) => sub.event(2)));
  expect(await count.executions()).toBe(2);

  await poll(20_000);
  await Promise.all(subs.map((sub) => sub.ended()));
  for (const sub of subs) {
    expect(sub.failure).toBeUndefined();
    expect(statuses(sub)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
  }
  expect(await count.executions()).toBe(3);
  // Deliveries are still counted per subscriber.
  expect(await count.deliveries()).toBe(3 * subs.length);
  await Promise.all(sockets.map(async (socket) => socket.dispose()));
});

test('subscribers with different selections get executions of their own, each its own fields', async () => {
  const jobId = await startJob();
  const count = await counting();
  const socket = socketOf('alpha');
  const short = new Subscription<Updates>(socket, STATUS, { w: 'customer-id-map', j: jobId });
  const long = new Subscription<Updates>(socket, DETAIL, { w: 'customer-id-map', j: jobId });
  await Promise.all([short.event(1), long.event(1)]);
  await poll(5_000);
  await poll(20_000);
  await Promise.all([short.ended(), long.ended()]);
  expect(statuses(short)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
  expect(statuses(long)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
  for (const event of short.events) expect(Object.keys(event.data!.idMappingJobUpdated)).toEqual(['status']);
  for (const event of long.events) expect(Object.keys(event.data!.idMappingJobUpdated)).toEqual(['jobId', 'status', 'metrics']);
  expect(await count.executions()).toBe(2 * 3);
  await socket.dispose();
});

test('principals with other rights on the workflow never share an execution; one without them gets FORBIDDEN and no payload', async () => {
  const jobId = await startJob();
  const count = await counting();
  const variables = { w: 'customer-id-map', j: jobId };
  const [alpha, gamma, beta, delta] = (['alpha', 'gamma', 'beta', 'delta'] as const).map(socketOf);
  const reader = new Subscription<Updates>(alpha, STATUS, variables);
  const sameRights = new Subscription<Updates>(gamma, STATUS, variables);
  const subscribeOnly = new Subscription<Updates>(beta, STATUS, variables);
  const outsider = new Subscription<Updates>(delta, STATUS, variables);
  await Promise.all([reader.event(1), sameRights.event(1), subscribeOnly.event(1), outsider.ended()]);
  await poll(5_000);
  await poll(20_000);
  await Promise.all([reader.ended(), sameRights.ended(), subscribeOnly.ended()]);
  for (const sub of [reader, sameRights, subscribeOnly]) expect(statuses(sub)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
  // alpha and gamma share; beta's decisions on customer-id-map differ, so its events are executed for it alone.
  expect(await count.executions()).toBe(2 * 3);
  // The refusal is its only event: no job state, then complete.
  expect(outsider.events).toEqual([{ errors: [expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })] }]);
  expect(outsider.completed).toBe(true);
  await Promise.all([alpha, gamma, beta, delta].map(async (socket) => socket.dispose()));
});

test('a websocket subscriber and an event stream subscriber of the same operation share each execution', async () => {
  const jobId = await startJob();
  const count = await counting();
  const socket = socketOf('alpha');
  const stream = sseClient(t.gateway.url, { headers: { 'x-api-key': keys.gamma.key } });
  const overWs = new Subscription<Updates>(socket, DETAIL, { w: 'customer-id-map', j: jobId });
  const overSse = new Subscription<Updates>(stream as unknown as Client, DETAIL, { w: 'customer-id-map', j: jobId });
  await Promise.all([overWs.event(1), overSse.event(1)]);
  await poll(5_000);
  await Promise.all([overWs.event(2), overSse.event(2)]);
  await poll(20_000);
  await Promise.all([overWs.ended(), overSse.ended()]);
  expect(statuses(overSse)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
  expect(overSse.events).toEqual(overWs.events);
  expect(await count.executions()).toBe(3);
  await socket.dispose();
  stream.dispose();
});

test('a stale state and the error that ends a watch are shared too, each subscriber getting them as it would alone', async () => {
  const own = new ManualScheduler();
  const g = await startTestGateway({ scheduler: own, env: { ER_POLL_INTERVAL_MS: '1000', ER_POLL_FAILURE_LIMIT_MS: '2500' } });
  const executions = async () => (await g.gateway.metrics.subscriptionExecutions.get()).values[0]?.value ?? 0;
  const variables = { w: 'loyalty-id-map', j: runningJob(g.emulator).jobId };
  const socket = wsClient(g.gateway.url);
  const stream = sseClient(g.gateway.url);
  const subs = [
    new Subscription<Updates>(socket, STATUS, variables),
    new Subscription<Updates>(socket, STATUS, variables),
    new Subscription<Updates>(stream as unknown as Client, STATUS, variables),
  ];
  await Promise.all(subs.map((sub) => sub.event(1)));
  g.emulator.setFaults({ internalErrorRate: 1 });
  await own.runNext(); // fails at 1 s: backs off
  await own.runNext(); // fails at 3 s: the second failure in a row, so a stale state
  await own.runNext(); // fails at 7 s: past the limit
  await Promise.all(subs.map((sub) => sub.ended()));
  const [first, ...others] = subs;
  expect(first.events).toEqual([
    { data: { idMappingJobUpdated: { status: 'RUNNING' } } },
    { data: { idMappingJobUpdated: { status: 'RUNNING' } } },
    { data: null, errors: [expect.objectContaining({ extensions: { code: 'UPSTREAM_UNAVAILABLE' } })] },
  ]);
  for (const sub of others) expect(sub.events).toEqual(first.events);
  expect(await executions()).toBe(3);
  await socket.dispose();
  stream.dispose();
  await g.close();
});
