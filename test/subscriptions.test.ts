import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { seededJobId } from '../src/emulator/seed';
import {
  IdMappingJobUpdatedDocument,
  MatchingJobUpdatedDocument,
  StartIdMappingJobDocument,
  type IdMappingJobUpdatedSubscription,
  type MatchingJobUpdatedSubscription,
} from './generated/graphql';
import { ManualClock } from './utils/clock';
import { runningJob, startTestGateway, type TestGateway } from './utils/gateway';
import { ManualScheduler } from './utils/scheduler';
import { RawSocket, Subscription, wsClient } from './utils/subscriptions';

const INTERVAL = 1000;
const clock = new ManualClock();
const scheduler = new ManualScheduler();
let t: TestGateway;
let client: Client;
/** A job of loyalty-id-map that stays RUNNING. */
let quiet: string;

beforeAll(async () => {
  // One job per workflow, not per region: a job held running on loyalty-id-map beside jobs started on customer-id-map.
  t = await startTestGateway({
    emulator: { clock: clock.read },
    scheduler,
    env: { ER_POLL_INTERVAL_MS: String(INTERVAL), ER_WS_MESSAGES_PER_SECOND: '10000', ER_EMULATOR_CONCURRENCY: 'workflow' },
  });
  quiet = runningJob(t.emulator).jobId;
});

afterAll(() => t.close());

beforeEach(() => {
  t.emulator.resetRequests();
  t.emulator.setFaults({});
  client = wsClient(t.gateway.url);
});

afterEach(async () => {
  await client.dispose();
  clock.advance(20_000);
});

const watchIdMapping = (workflowName: string, jobId: string, on = client) =>
  new Subscription<IdMappingJobUpdatedSubscription>(on, print(IdMappingJobUpdatedDocument), { workflowName, jobId });

/** Starts a job through the gateway; it is QUEUED for the first 2 of its 20 emulated seconds. */
async function startJob(): Promise<string> {
  const { data } = await t.execute(StartIdMappingJobDocument, { input: { workflowName: 'customer-id-map' } });
  t.emulator.resetRequests();
  return data!.startIdMappingJob.jobId;
}

/** Waits until the gateway has released every subscription and poller. */
async function released(): Promise<void> {
  while (t.gateway.watcher.watchedJobs > 0 || scheduler.pending > 0) await new Promise((resolve) => setImmediate(resolve));
}

describe('events', () => {
  test('the first event is the current state, at once; a finished job then completes', async () => {
    const sub = watchIdMapping('customer-id-map', seededJobId('customer-id-map', 12));
    expect((await sub.event(1)).data!.idMappingJobUpdated).toMatchObject({
      status: 'SUCCEEDED',
      metrics: { inputRecords: expect.any(Number) },
    });
    await sub.ended();
    expect(sub.completed).toBe(true);
    expect(sub.events).toHaveLength(1);
    expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
    await released();
  });

  test('a failed job delivers its errorDetails, then completes', async () => {
    const sub = new Subscription<MatchingJobUpdatedSubscription>(client, print(MatchingJobUpdatedDocument), {
      workflowName: 'customer-matching',
      jobId: seededJobId('customer-matching', 2),
    });
    await sub.ended();
    expect(sub.events.map((e) => e.data!.matchingJobUpdated)).toEqual([
      expect.objectContaining({ status: 'FAILED', errorDetails: { errorMessage: expect.stringMatching(/UNIQUE_ID/) } }),
    ]);
  });

  test('a running job sends one event per visible change, never a repeat, and completes after SUCCEEDED', async () => {
    const jobId = await startJob();
    const sub = watchIdMapping('customer-id-map', jobId);
    expect((await sub.event(1)).data!.idMappingJobUpdated.status).toBe('QUEUED');

    clock.advance(5_000);
    await scheduler.runNext();
    const running = (await sub.event(2)).data!.idMappingJobUpdated;
    expect(running.status).toBe('RUNNING');

    // A poll that finds nothing new sends nothing.
    await scheduler.runNext();
    clock.advance(5_000);
    await scheduler.runNext();
    const later = (await sub.event(3)).data!.idMappingJobUpdated;
    expect(later.status).toBe('RUNNING');
    expect(later.metrics!.totalRecordsProcessed!).toBeGreaterThan(running.metrics!.totalRecordsProcessed!);

    clock.advance(10_000);
    await scheduler.runNext();
    await sub.ended();
    expect(sub.events.map((e) => e.data!.idMappingJobUpdated.status)).toEqual(['QUEUED', 'RUNNING', 'RUNNING', 'SUCCEEDED']);
    expect(sub.events[3].data!.idMappingJobUpdated.endTime).not.toBeNull();
    expect(sub.completed).toBe(true);
    expect(t.emulator.requests('GetIdMappingJob')).toBe(5);
    await released();
  });

  test('a job that turns FAILED delivers its error message, then completes', async () => {
    const jobId = await startJob();
    const sub = watchIdMapping('customer-id-map', jobId);
    await sub.event(1);
    clock.advance(5_000);
    t.emulator.state.failJob('idMapping', 'customer-id-map', jobId, 'Output bucket s3://my-results does not exist');
    await scheduler.runNext();
    await sub.ended();
    expect(sub.events.at(-1)!.data!.idMappingJobUpdated).toMatchObject({
      status: 'FAILED',
      errorDetails: { errorMessage: expect.stringMatching(/does not exist/) },
    });
    await released();
  });
});

describe('refusals end the subscription and leave nothing behind', () => {
  test('a missing job is NOT_FOUND', async () => {
    const sub = watchIdMapping('customer-id-map', 'f'.repeat(32));
    await sub.ended();
    expect(sub.events.map((e) => e.errors?.[0].extensions?.code)).toEqual(['NOT_FOUND']);
    await released();
  });

  test('a malformed key is BAD_USER_INPUT, with no upstream call', async () => {
    const sub = watchIdMapping('customer-id-map', 'not-a-job');
    await sub.ended();
    expect(sub.events[0].errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'jobId' });
    expect(t.emulator.requests()).toBe(0);
    expect(t.gateway.watcher.watchedJobs).toBe(0);
  });
});

describe('one poll per job, however many watch', () => {
  test('200 subscribers of one job cost one Get for the first event and one per interval after', async () => {
    const clients = Array.from({ length: 4 }, () => wsClient(t.gateway.url));
    const subs = clients.flatMap((c) => Array.from({ length: 50 }, () => watchIdMapping('loyalty-id-map', quiet, c)));
    await Promise.all(subs.map((sub) => sub.event(1)));
    expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
    expect(t.gateway.watcher.watchedJobs).toBe(1);
    expect(scheduler.pending).toBe(1);

    for (let i = 0; i < 3; i++) await scheduler.runNext();
    expect(t.emulator.requests('GetIdMappingJob')).toBe(4);
    const late = watchIdMapping('loyalty-id-map', quiet);
    expect((await late.event(1)).data!.idMappingJobUpdated.status).toBe('RUNNING');
    expect(t.emulator.requests('GetIdMappingJob')).toBe(4);

    // The job never changes: unsubscribing must release it all the same.
    for (const sub of [...subs, late]) sub.unsubscribe();
    await released();
    const metrics = await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^er_gateway_active_subscriptions 0$/m);
    expect(metrics).toMatch(/^er_gateway_watched_jobs 0$/m);
    await Promise.all(clients.map(async (c) => c.dispose()));
  });

  test('a client that leaves while its first event is being fetched leaves no watcher behind', async () => {
    // The first read is held at the service until the client has gone.
    const held = t.emulator.holdNext('GetIdMappingJob');
    const socket = await RawSocket.open(t.gateway.url);
    socket.subscribe('1', print(IdMappingJobUpdatedDocument), { workflowName: 'loyalty-id-map', jobId: quiet });
    await held.arrived;
    socket.close();
    await socket.closed;
    await held.release();
    await released();
    expect(await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text()).toMatch(/^er_gateway_active_subscriptions 0$/m);
  });

  test('500 subscribe and unsubscribe cycles leave no watcher, timer or subscription', async () => {
    for (let i = 0; i < 500; i++) {
      const sub = watchIdMapping('loyalty-id-map', quiet);
      await sub.event(1);
      sub.unsubscribe();
    }
    await released();
    expect(await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text()).toMatch(/^er_gateway_active_subscriptions 0$/m);
  });
});

describe('upstream trouble', () => {
  test('throttling backs the poller off; after two failed polls subscribers get the last state marked stale, then the fresh one', async () => {
    const jobId = await startJob();
    const sub = watchIdMapping('customer-id-map', jobId);
    await sub.event(1);
    expect(scheduler.nextDelay).toBeLessThanOrEqual(INTERVAL * 1.1);

    t.emulator.failNext('GetIdMappingJob', 'ThrottlingException', 3);
    await scheduler.runNext();
    expect(scheduler.nextDelay).toBeGreaterThanOrEqual(INTERVAL * 2 * 0.9);
    t.emulator.failNext('GetIdMappingJob', 'ThrottlingException', 3);
    await scheduler.runNext();
    expect(scheduler.nextDelay).toBeGreaterThanOrEqual(INTERVAL * 4 * 0.9);

    const [first, stale] = [(await sub.event(1)).data!.idMappingJobUpdated, (await sub.event(2)).data!.idMappingJobUpdated];
    expect(stale).toEqual({ ...first, stale: true });
    expect((await t.gateway.metrics.staleJobs.get()).values[0].value).toBe(1);

    clock.advance(20_000);
    await scheduler.runNext();
    await sub.ended();
    const events = sub.events.map((e) => e.data!.idMappingJobUpdated);
    expect(events.map((job) => [job.status, job.stale])).toEqual([
      ['QUEUED', false],
      ['QUEUED', true],
      ['SUCCEEDED', false],
    ]);
    expect(Date.parse(events[2].observedAt)).toBeGreaterThan(Date.parse(events[1].observedAt));
    expect(sub.completed).toBe(true);
    await released();
    expect((await t.gateway.metrics.staleJobs.get()).values[0].value).toBe(0);
  });
});

test('a poll still waiting two intervals after the latest snapshot marks the job stale; its answer brings the fresh state', async () => {
  const jobId = await startJob();
  const sub = watchIdMapping('customer-id-map', jobId);
  const first = (await sub.event(1)).data!.idMappingJobUpdated;
  const held = t.emulator.holdNext('GetIdMappingJob');
  const poll = scheduler.runNext();
  await held.arrived;
  // The poll is due an interval after the snapshot; an interval later it still waits.
  expect(scheduler.nextDelay).toBeLessThanOrEqual(INTERVAL * 1.1);
  await scheduler.runNext();
  expect((await sub.event(2)).data!.idMappingJobUpdated).toEqual({ ...first, stale: true });
  expect((await t.gateway.metrics.staleJobs.get()).values[0].value).toBe(1);
  await held.release();
  await poll;
  expect((await sub.event(3)).data!.idMappingJobUpdated).toMatchObject({ status: first.status, stale: false });
  expect((await t.gateway.metrics.staleJobs.get()).values[0].value).toBe(0);
  sub.unsubscribe();
  await released();
});

test('failing past the limit ends the subscriptions with UPSTREAM_UNAVAILABLE', async () => {
  const own = new ManualScheduler();
  const g = await startTestGateway({ scheduler: own, env: { ER_POLL_INTERVAL_MS: '1000', ER_POLL_FAILURE_LIMIT_MS: '2500' } });
  const c = wsClient(g.gateway.url);
  try {
    const sub = watchIdMapping('loyalty-id-map', runningJob(g.emulator).jobId, c);
    await sub.event(1);
    g.emulator.setFaults({ internalErrorRate: 1 });
    await own.runNext(); // fails at 1 s: backs off
    await own.runNext(); // fails at 3 s
    await own.runNext(); // fails at 7 s: past the limit
    await sub.ended();
    expect(sub.events.at(-1)!.errors![0].extensions).toEqual({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(sub.completed).toBe(true);
    expect(g.gateway.watcher.watchedJobs).toBe(0);
    expect(own.pending).toBe(0);
  } finally {
    await c.dispose();
    await g.close();
  }
});

describe('the websocket protocol', () => {
  test('the server pings every ER_WS_KEEPALIVE_MS', async () => {
    const timers = new ManualScheduler();
    const g = await startTestGateway({ timers, env: { ER_WS_KEEPALIVE_MS: '5000' } });
    const socket = await RawSocket.open(g.gateway.url);
    const pings: number[] = [];
    socket.onPing(() => pings.push(timers.now()));
    for (let second = 0; second < 16; second++) {
      await timers.advance(1000);
      // A graphql-ws ping answered: any ping frame the sweep sent before it has arrived (one socket, in order).
      socket.send(JSON.stringify({ type: 'ping' }));
      const pongs = socket.messages.filter((m) => m.type === 'pong').length;
      await socket.until(() => socket.messages.filter((m) => m.type === 'pong').length > pongs);
    }
    // The first sweep pings the new socket; then one ping per interval, the client's pongs keeping it open.
    expect(pings).toEqual([1000, 6000, 11000, 16000]);
    expect(pings.slice(1).map((at, i) => at - pings[i])).toEqual([5000, 5000, 5000]);
  });

  test("a router's keep-alives are answered both ways: a ping frame with a pong frame, a graphql-ws ping with a pong message", async () => {
    const g = await startTestGateway();
    const socket = await RawSocket.open(g.gateway.url);
    let pongs = 0;
    socket.onPong(() => pongs++);
    for (let i = 1; i <= 3; i++) {
      socket.ping();
      socket.send(JSON.stringify({ type: 'ping' }));
      await socket.until(() => pongs === i && socket.messages.filter((m) => m.type === 'pong').length === i);
    }
    await g.close();
  });

  test('the operation limits apply over websockets too', async () => {
    const g = await startTestGateway({ env: { ER_MAX_DEPTH: '2' } });
    const c = wsClient(g.gateway.url);
    try {
      const sub = watchIdMapping('loyalty-id-map', seededJobId('loyalty-id-map', 3), c);
      await sub.ended();
      expect(
        (sub.failure as { message: string; extensions?: { code?: string } }[]).map((e) => [e.extensions?.code, /depth/i.test(e.message)]),
      ).toEqual([['GRAPHQL_VALIDATION_FAILED', true]]);
      expect(g.emulator.requests()).toBe(0);
    } finally {
      await c.dispose();
      await g.close();
    }
  });

  test('an invalid subscription is refused with GRAPHQL_VALIDATION_FAILED, and nothing is polled', async () => {
    const sub = new Subscription(client, 'subscription { idMappingJobUpdated(workflowName: "w", jobId: "j") { noSuchField } }');
    await sub.ended();
    expect((sub.failure as { extensions?: { code?: string } }[]).map((e) => e.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(t.emulator.requests()).toBe(0);
  });

  test('a socket that never sends connection_init is closed by the protocol timeout', async () => {
    const g = await startTestGateway({ env: { ER_WS_INIT_TIMEOUT_MS: '200' } });
    const socket = await RawSocket.open(g.gateway.url, { init: false });
    expect((await socket.closed).code).toBe(4408);
  });

  test('shutdown closes open subscriptions with 1001 and stops their pollers', async () => {
    const g = await startTestGateway();
    const running = runningJob(g.emulator);
    // The protocol allows no subscribe before the server's acknowledgement: open waits for it.
    const socket = await RawSocket.open(g.gateway.url);
    socket.subscribe('1', print(IdMappingJobUpdatedDocument), running);
    await socket.message('next', '1');
    expect(g.gateway.watcher.watchedJobs).toBe(1);
    await g.close();
    expect((await socket.closed).code).toBe(1001);
    expect(g.gateway.watcher.watchedJobs).toBe(0);
  });
});
