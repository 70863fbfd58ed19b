import { randomUUID } from 'node:crypto';
import { print } from 'graphql';
import { seededJobId } from '../src/emulator/seed';
import type { Emulator } from '../src/emulator/http';
import { startGateway, type Gateway } from '../src/server/app';
import { loadConfig } from '../src/server/config';
import {
  IdMappingJobUpdatedDocument,
  StartIdMappingJobDocument,
  StartMatchingJobDocument,
  type IdMappingJobUpdatedSubscription,
} from './generated/graphql';
import { awsBackendEnv, capturedLogger, closedPort, localCredentials, postGraphQL, startTestEmulator } from './utils/gateway';
import { leftover } from './utils/leftovers';
import { startGatewayProcess } from './utils/process';
import { ownCluster, ownRedis, ownSentinels, redisKeys, SHARED_REDIS_URL, sharedRedisPrefix, stopRedis } from './utils/redis';
import { Subscription, wsClient } from './utils/subscriptions';
import { until } from './utils/wait';

/**
 * Replicas on one Redis and one emulator, each gateway on its own loopback
 * port, as a deployment behind a load balancer runs them. The suite runs on
 * each way platform teams run Redis: one server (the shared 127.0.0.1:6379),
 * a primary and replica under Sentinel, and a cluster of three primaries,
 * the last two of the file's own processes. Each test writes under a prefix
 * of its own (removed after it from the shared server); every replica,
 * emulator, client and process it starts is closed after it (see
 * leftovers).
 */

let redisUrl: string;
let emulator: Emulator;
let prefix: string;

beforeAll(async () => {
  emulator = await startTestEmulator({ jobSeconds: 20 });
  localCredentials();
});

/** Where each run of the suite finds its Redis, and the prefix each test writes under. */
const TOPOLOGIES: { name: string; start(): Promise<string>; prefix(): string }[] = [
  { name: 'one Redis server', start: async () => SHARED_REDIS_URL, prefix: sharedRedisPrefix },
  { name: 'Redis under Sentinel', start: async () => (await ownSentinels()).url, prefix: () => `er-gateway-test:${randomUUID()}:` },
  {
    name: 'a Redis Cluster of three primaries',
    start: async () => (await ownCluster(3)).url,
    prefix: () => `er-gateway-test:${randomUUID()}:`,
  },
];

/** A replica's settings: the emulator as its service, the test's Redis prefix. */
function sharing(service: Emulator): Record<string, string> {
  return {
    ...awsBackendEnv(service.url, service.state.region),
    ER_ACCOUNT_ID: service.state.accountId,
    ER_REDIS_URL: redisUrl,
    ER_REDIS_PREFIX: prefix,
  };
}

async function replica(env: Record<string, string> = {}, logger = capturedLogger('silent').logger): Promise<Gateway> {
  const config = loadConfig({ ...sharing(emulator), ...env });
  const gateway = await startGateway(config, { logger, processMetrics: false });
  const close = leftover(() => gateway.close());
  return { ...gateway, close } as Gateway;
}

async function post(g: Gateway, query: string, variables?: Record<string, unknown>) {
  const { data, errors } = await postGraphQL(`${g.url}/graphql`, query, variables);
  return { data, errors } as { data?: Record<string, unknown>; errors?: { message: string; extensions: Record<string, unknown> }[] };
}

const finished = `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 7)}") { status metrics { inputRecords } } }`;

/** The first page of matching workflows on `g`, continued from `after`: its names and end cursor, or the error's code. */
async function workflowsAfter(g: Gateway, after: string | null) {
  const res = await post(
    g,
    'query ($after: String) { matchingWorkflows(first: 1, after: $after) { nodes { workflowName } pageInfo { endCursor } } }',
    { after },
  );
  if (res.errors) return { code: res.errors[0].extensions.code };
  const page = res.data!.matchingWorkflows as { nodes: { workflowName: string }[]; pageInfo: { endCursor: string } };
  return { names: page.nodes.map((wf) => wf.workflowName), endCursor: page.pageInfo.endCursor };
}

describe.each(TOPOLOGIES)('on $name', (topology) => {
  beforeAll(async () => {
    redisUrl = await topology.start();
  });

  beforeEach(() => {
    prefix = topology.prefix();
  });

  test('a finished job read on one replica is served by another, and by a restarted one, with no upstream call', async () => {
    const a = await replica();
    const b = await replica();
    const before = emulator.requests('GetIdMappingJob');
    const first = await post(a, finished);
    expect(first.data).toEqual({ idMappingJob: { status: 'SUCCEEDED', metrics: { inputRecords: expect.any(Number) } } });
    expect(emulator.requests('GetIdMappingJob') - before).toBe(1);
    // The write to Redis does not hold the answer up: wait until it is there.
    await until(async () => (await redisKeys(redisUrl, `${prefix}final:*`)).length > 0);
    expect(await post(b, finished)).toEqual(first);
    await a.close();
    const restarted = await replica();
    expect(await post(restarted, finished)).toEqual(first);
    expect(emulator.requests('GetIdMappingJob') - before).toBe(1);
  });

  test('the same idempotency key sent to two replicas at once starts one job', async () => {
    const replicas = [await replica(), await replica()];
    const before = emulator.requests('StartMatchingJob');
    const input = { workflowName: 'customer-matching', idempotencyKey: `key-${randomUUID()}` };
    const answers = await Promise.all(replicas.map((g) => post(g, print(StartMatchingJobDocument), { input })));
    expect(answers.map((answer) => answer.errors)).toEqual([undefined, undefined]);
    const jobIds = answers.map((answer) => (answer.data!.startMatchingJob as { jobId: string }).jobId);
    expect(jobIds[0]).toBe(jobIds[1]);
    expect(emulator.requests('StartMatchingJob') - before).toBe(1);
  });

  test('with Redis up, /readyz says ready', async () => {
    const g = await replica();
    const ready = await fetch(`${g.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', checks: { redis: true, aws: true } }]);
  });

  test('subscribers of one job on three replicas: one replica polls it, one Get per interval in all', async () => {
    const INTERVAL = 300;
    const replicas = await Promise.all([0, 1, 2].map(() => replica({ ER_POLL_INTERVAL_MS: String(INTERVAL) })));
    const started = await post(replicas[0], print(StartIdMappingJobDocument), { input: { workflowName: 'customer-id-map' } });
    expect(started.errors).toBeUndefined();
    const jobId = (started.data!.startIdMappingJob as { jobId: string }).jobId;
    const clients = replicas.map((g) => wsClient(g.url));
    const subs = clients.flatMap((client) =>
      [0, 1].map(
        () =>
          new Subscription<IdMappingJobUpdatedSubscription>(client, print(IdMappingJobUpdatedDocument), {
            workflowName: 'customer-id-map',
            jobId,
          }),
      ),
    );
    await Promise.all(subs.map((sub) => sub.event(1)));
    // The job's progress changes at each poll: ten more events are ten polls, however long the machine takes for them.
    const before = emulator.requests('GetIdMappingJob');
    const from = performance.now();
    await subs[0].event(subs[0].events.length + 10);
    const intervals = (performance.now() - from) / INTERVAL;
    const gets = emulator.requests('GetIdMappingJob') - before;
    // One Get per interval in all, not one per replica: no more than the intervals that passed, and one in flight.
    expect(gets).toBeGreaterThanOrEqual(10);
    expect(gets).toBeLessThanOrEqual(Math.floor(intervals) + 1);
    const polls = await Promise.all(replicas.map(async (g) => (await g.metrics.polls.get()).values.reduce((sum, v) => sum + v.value, 0)));
    expect(polls.filter((n) => n > 0)).toHaveLength(1);
    // Every subscriber, on every replica, got the same events.
    const seen = subs.map((sub) => sub.events.map((e) => JSON.stringify(e.data)));
    const shortest = Math.min(...seen.map((events) => events.length));
    expect(shortest).toBeGreaterThan(1);
    for (const events of seen) expect(events.slice(0, shortest)).toEqual(seen[0].slice(0, shortest));
  });

  test('the replica polling a job is killed: another takes over, and every subscriber left reaches SUCCEEDED with no repeat', async () => {
    const own = await startTestEmulator({ jobSeconds: 8 });
    const env = { ...sharing(own), ER_POLL_INTERVAL_MS: '300' };
    const procs = await Promise.all([0, 1, 2].map(() => startGatewayProcess(env)));
    const clients = procs.map((p) => wsClient(p.url));
    const started = await fetch(`${procs[0].url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: print(StartIdMappingJobDocument), variables: { input: { workflowName: 'customer-id-map' } } }),
    }).then((res) => res.json() as Promise<{ data: { startIdMappingJob: { jobId: string } } }>);
    const jobId = started.data.startIdMappingJob.jobId;
    const subs = clients.map(
      (client) =>
        new Subscription<IdMappingJobUpdatedSubscription>(client, print(IdMappingJobUpdatedDocument), {
          workflowName: 'customer-id-map',
          jobId,
        }),
    );
    const running = (sub: Subscription<IdMappingJobUpdatedSubscription>) =>
      sub.events.some((e) => e.data?.idMappingJobUpdated.status === 'RUNNING');
    await Promise.all(subs.map((sub) => sub.until(() => running(sub))));
    const polls = await Promise.all(
      procs.map(async (p) =>
        Number(/^er_gateway_polls_total\{outcome="ok"\} (\d+)$/m.exec(await (await fetch(`${p.metricsUrl}/metrics`)).text())?.[1] ?? 0),
      ),
    );
    expect(polls.filter((n) => n > 0)).toHaveLength(1);
    const holder = polls.findIndex((n) => n > 0);
    procs[holder].child.kill('SIGKILL');
    await procs[holder].exited;
    const survivors = subs.filter((_, i) => i !== holder);
    await Promise.all(survivors.map((sub) => sub.ended()));
    for (const sub of survivors) {
      const events = sub.events.map((e) => e.data!.idMappingJobUpdated);
      expect(sub.completed).toBe(true);
      expect(events.at(-1)!.status).toBe('SUCCEEDED');
      // No event twice in a row, and the statuses in their order with none left out.
      events.slice(1).forEach((event, i) => expect(JSON.stringify(event)).not.toBe(JSON.stringify(events[i])));
      const statuses = events.map((e) => e.status).filter((status, i, all) => status !== all[i - 1]);
      expect(['QUEUED,RUNNING,SUCCEEDED', 'RUNNING,SUCCEEDED']).toContain(statuses.join(','));
      // Progress went on after the holder died: RUNNING events with counts that only grow.
      const processed = events.filter((e) => e.status === 'RUNNING').map((e) => e.metrics?.totalRecordsProcessed ?? 0);
      expect([...processed].sort((a, b) => a - b)).toEqual(processed);
    }
  }, 60_000);

  test('a burst of queries across three replicas with the governor at 5/s: the service sees them at 5/s in all, not per replica', async () => {
    const answered: number[] = [];
    const own = await startTestEmulator({ onAnswer: (operation) => operation === 'GetIdMappingJob' && answered.push(performance.now()) });
    const env = {
      ...sharing(own),
      ER_RATE_PER_SECOND: '5',
      ER_RATE_MAX_WAIT_MS: '3000',
      ER_FINAL_JOB_CACHE_SIZE: '0',
      ER_FRESHNESS_MS: '0',
      ER_RESPONSE_CACHE_MB: '0',
    };
    const replicas = await Promise.all([0, 1, 2].map(() => replica(env)));
    const answers = await Promise.all(
      replicas.flatMap((g, r) =>
        Array.from({ length: 8 }, (_, i) =>
          post(g, `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', r * 8 + i)}") { status } }`),
        ),
      ),
    );
    const outcomes = answers.map((answer) => answer.errors?.[0].extensions.code ?? 'ok');
    // Each replica sees its own queue, not the others': calls wait their shared turns within the deadline, or are THROTTLED.
    const ok = outcomes.filter((o) => o === 'ok').length;
    expect(ok).toBeGreaterThanOrEqual(10);
    expect(outcomes.filter((o) => o !== 'ok' && o !== 'THROTTLED')).toEqual([]);
    expect(answered.length).toBe(ok);
    /*
     * The tokens are Redis's (its TIME), so this clock is not the test's to
     * move: measured where the service sees the Gets. Each Get's trip from its
     * replica to the service takes its own time, and on a loaded machine that
     * varies by more than a per-second window can tell from a burst; over the
     * whole run the variation counts once. A bucket of 1 at 5/s lets at most
     * 1 + 5 × span through; a second of slack for the trips still fails a
     * budget kept per replica (15/s in all: 24 Gets in about 1.5 s).
     */
    const spanSeconds = (Math.max(...answered) - Math.min(...answered)) / 1000;
    expect(answered.length).toBeLessThanOrEqual(1 + 5 * (spanSeconds + 1));
  });

  test("replicas on one Redis accept each other's cursors with ER_CURSOR_KEY unset; a deployment under another prefix does not", async () => {
    const [a, b] = [await replica(), await replica()];
    const first = await workflowsAfter(a, null);
    expect(first.names).toEqual(['address-matching']);
    expect(await workflowsAfter(b, first.endCursor!)).toEqual({ names: ['customer-matching'], endCursor: expect.any(String) });
    const second = await workflowsAfter(b, first.endCursor!);
    expect((await workflowsAfter(a, second.endCursor!)).names).toEqual(['household-matching']);
    const elsewhere = await replica({ ER_REDIS_PREFIX: `${prefix}other:` });
    expect(await workflowsAfter(elsewhere, first.endCursor!)).toEqual({ code: 'BAD_USER_INPUT' });
  });
});

/** Outages of Redis, each made on a server of the test's own; the replicas' other settings as on the shared one. */
describe('on a Redis server of its own', () => {
  beforeEach(() => {
    redisUrl = SHARED_REDIS_URL;
    prefix = sharedRedisPrefix();
  });

  test('with Redis unreachable: /readyz says not ready, queries go on from the service, a keyed start is refused before it is sent', async () => {
    const g = await replica({ ER_REDIS_URL: `redis://127.0.0.1:${await closedPort()}/0` });
    const ready = await fetch(`${g.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([503, { status: 'not ready', checks: { redis: false, aws: true } }]);
    expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
    expect((await post(g, finished)).data).toEqual({
      idMappingJob: { status: 'SUCCEEDED', metrics: { inputRecords: expect.any(Number) } },
    });
    const before = emulator.requests('StartMatchingJob');
    const start = await post(g, print(StartMatchingJobDocument), {
      input: { workflowName: 'customer-matching', idempotencyKey: `key-${randomUUID()}` },
    });
    expect(start.errors![0].extensions).toEqual({ code: 'UPSTREAM_UNAVAILABLE', reason: 'store' });
    expect(emulator.requests('StartMatchingJob')).toBe(before);
  });

  test('Redis stopped and started during a run: not ready and subscriptions ended while it is down, all back without a restart', async () => {
    const port = await closedPort();
    let redis = await ownRedis(port);
    const log = capturedLogger('info');
    const g = await replica({ ER_REDIS_URL: `redis://127.0.0.1:${port}/0`, ER_POLL_INTERVAL_MS: '200' }, log.logger);
    expect((await fetch(`${g.url}/readyz`)).status).toBe(200);
    const started = await post(g, print(StartMatchingJobDocument), { input: { workflowName: 'address-matching' } });
    const jobId = (started.data!.startMatchingJob as { jobId: string }).jobId;
    const client = wsClient(g.url);
    const watch = () =>
      new Subscription(client, 'subscription ($j: ID!) { matchingJobUpdated(workflowName: "address-matching", jobId: $j) { status } }', {
        j: jobId,
      });
    const before = watch();
    await before.event(1);

    await stopRedis(redis);
    await before.ended();
    expect(before.events.at(-1)!.errors![0].extensions).toEqual({ code: 'UPSTREAM_UNAVAILABLE' });
    const down = await fetch(`${g.url}/readyz`);
    expect([down.status, await down.json()]).toEqual([503, { status: 'not ready', checks: { redis: false, aws: true } }]);
    // Queries go on from the service.
    expect((await post(g, finished)).data).toEqual({
      idMappingJob: { status: 'SUCCEEDED', metrics: { inputRecords: expect.any(Number) } },
    });

    redis = await ownRedis(port);
    await log.line((line) => line.msg === 'redis reachable again');
    expect((await fetch(`${g.url}/readyz`)).status).toBe(200);
    const after = watch();
    expect((await after.event(1)).data).toEqual({ matchingJobUpdated: { status: expect.stringMatching(/^(QUEUED|RUNNING)$/) } });
    after.unsubscribe();
    await client.dispose();
    // One line when the outage began and one when it ended, however many requests and reconnects came between.
    expect(log.lines.filter((line) => /^redis /.test(String(line.msg))).map((line) => line.msg)).toEqual([
      'redis unreachable: shared features fall back until it is back',
      'redis reachable again',
    ]);
  });

  test("a replica started while Redis is down takes the shared key once it is back: replicas then accept each other's cursors, and it still opens those it gave before", async () => {
    const port = await closedPort();
    const log = capturedLogger('info');
    const late = await replica({ ER_REDIS_URL: `redis://127.0.0.1:${port}/0` }, log.logger);
    const before = await workflowsAfter(late, null);
    await ownRedis(port);
    await log.line((line) => line.msg === "cursors: the deployment's shared key is in use");
    const other = await replica({ ER_REDIS_URL: `redis://127.0.0.1:${port}/0` });
    expect((await workflowsAfter(late, before.endCursor!)).names).toEqual(['customer-matching']);
    const [fromLate, fromOther] = [await workflowsAfter(late, null), await workflowsAfter(other, null)];
    expect([(await workflowsAfter(other, fromLate.endCursor!)).names, (await workflowsAfter(late, fromOther.endCursor!)).names]).toEqual([
      ['customer-matching'],
      ['customer-matching'],
    ]);
  });
});
