import { GraphQLError } from 'graphql';
import { startEmulator, type Emulator } from '../src/emulator/http';
import { seededJobId } from '../src/emulator/seed';
import { createUpstreamClients, type UpstreamClients } from '../src/upstream/client';
import { JobStore, type JobStoreOptions } from '../src/upstream/job-store';
import { RateGovernor } from '../src/upstream/rate-governor';
import { IdMappingJobDocument, IdMappingJobsWithMetricsDocument } from './generated/graphql';
import { codes, runningJob, startTestGateway } from './utils/gateway';
import { ManualScheduler } from './utils/scheduler';
import { until } from './utils/wait';
import { Subscription, wsClient } from './utils/subscriptions';

const finished = { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 5) };
/** The running job of the JobStore's emulator. */
let running: { workflowName: string; jobId: string };

describe('the JobStore, across requests', () => {
  let emulator: Emulator;
  let clients: UpstreamClients;
  let reads: string[];
  let now: number;

  beforeAll(async () => {
    emulator = await startEmulator();
    running = runningJob(emulator);
    clients = createUpstreamClients({
      endpoint: emulator.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
    });
  });

  afterAll(async () => {
    clients.destroy();
    await emulator.close();
  });

  beforeEach(() => {
    emulator.resetRequests();
    reads = [];
    now = 1_000_000;
  });

  const store = (options: JobStoreOptions = {}) => new JobStore(clients, { observeRead: (r) => reads.push(r), now: () => now, ...options });

  test('concurrent reads of one job share one upstream call', async () => {
    const jobs = store({ freshnessMs: 0 });
    const results = await Promise.all(Array.from({ length: 10 }, () => jobs.getJob('idMapping', running)));
    expect(new Set(results).size).toBe(1);
    expect(emulator.requests('GetIdMappingJob')).toBe(1);
    expect(reads).toEqual(['miss', ...Array(9).fill('shared')]);
  });

  test('concurrent requests for one page of jobs share one List call', async () => {
    const jobs = store();
    const pages = await Promise.all(
      Array.from({ length: 10 }, () => jobs.listJobs('idMapping', finished.workflowName, { maxResults: 25 })),
    );
    expect(new Set(pages).size).toBe(1);
    expect(pages[0].items).toHaveLength(25);
    expect(emulator.requests('ListIdMappingJobs')).toBe(1);
    await jobs.listJobs('idMapping', finished.workflowName, { maxResults: 25 });
    expect(emulator.requests('ListIdMappingJobs')).toBe(2);
  });

  test('a finished job is read once and served from then on, to queries and polls alike', async () => {
    const jobs = store();
    await jobs.getJob('idMapping', finished);
    now += 86_400_000;
    await jobs.getJob('idMapping', finished);
    await jobs.getJob('idMapping', finished, 'poll');
    expect(emulator.requests('GetIdMappingJob')).toBe(1);
    expect(reads).toEqual(['miss', 'hit', 'hit']);
  });

  test('a running job is served within the freshness window and read again after it', async () => {
    const jobs = store({ freshnessMs: 1000 });
    await jobs.getJob('idMapping', running);
    now += 999;
    await jobs.getJob('idMapping', running);
    expect(emulator.requests('GetIdMappingJob')).toBe(1);
    now += 2;
    await jobs.getJob('idMapping', running);
    expect(emulator.requests('GetIdMappingJob')).toBe(2);
  });

  test('a poll always asks the service, and its snapshot serves the queries that follow', async () => {
    const jobs = store({ freshnessMs: 1000 });
    await jobs.getJob('idMapping', running);
    now += 100;
    await jobs.getJob('idMapping', running, 'poll');
    now += 950;
    await jobs.getJob('idMapping', running);
    expect(emulator.requests('GetIdMappingJob')).toBe(2);
    expect(reads).toEqual(['miss', 'miss', 'hit']);
  });

  test('a freshness of 0 reads a running job every time; a cache of 0 keeps no finished job', async () => {
    const jobs = store({ freshnessMs: 0, finalJobs: 0 });
    await jobs.getJob('idMapping', running);
    await jobs.getJob('idMapping', running);
    await jobs.getJob('idMapping', finished);
    await jobs.getJob('idMapping', finished);
    expect(emulator.requests('GetIdMappingJob')).toBe(4);
  });

  test('the finished-job cache is bounded: the least recently used job goes first', async () => {
    const jobs = store({ finalJobs: 2 });
    const job = (i: number) => ({ workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', i) });
    for (const i of [1, 2, 3, 1]) await jobs.getJob('idMapping', job(i));
    expect(emulator.requests('GetIdMappingJob')).toBe(4);
  });
});

describe('the rate governor, on a clock the test moves', () => {
  /** Lets every promise the governor settled run its continuation before the test looks. */
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  test('never lets more calls through than its burst and rate allow: the burst at once, then one every 1/rate s', async () => {
    const time = new ManualScheduler();
    const governor = new RateGovernor({ ratePerSecond: 5, burst: 5, maxWaitMs: 60_000, scheduler: time });
    const granted: number[] = [];
    const turns = Array.from({ length: 15 }, () => governor.turn('GetIdMappingJob', 'interactive').then(() => granted.push(time.now())));
    await settle();
    expect(granted).toEqual([0, 0, 0, 0, 0]);
    while (granted.length < 15) {
      await time.runNext();
      await settle();
    }
    await Promise.all(turns);
    // A token every 200 ms once the burst is spent: 1 s for the next 5, 2 s for the 5 after.
    expect(granted).toEqual([0, 0, 0, 0, 0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000]);
    expect(time.pending).toBe(0);
  });

  test('a query whose turn would come after the deadline fails at once with THROTTLED and a retry hint', async () => {
    const time = new ManualScheduler();
    const refused: string[] = [];
    const waited: number[] = [];
    const governor = new RateGovernor({
      ratePerSecond: 1,
      burst: 2,
      maxWaitMs: 1500,
      scheduler: time,
      observer: { waited: (_op, ms) => waited.push(ms), refused: (op) => refused.push(op) },
    });
    const turns = Array.from({ length: 6 }, () => governor.turn('GetMatchingJob', 'interactive'));
    const outcomes = turns.map((turn) =>
      turn.then(
        () => 'fulfilled',
        () => 'rejected',
      ),
    );
    await settle();
    // Two at once; the third waits its 1 s; the others would wait 2 s or more, past the 1.5 s allowed.
    expect(refused).toEqual(['GetMatchingJob', 'GetMatchingJob', 'GetMatchingJob']);
    await time.advance(1000);
    expect(await Promise.all(outcomes)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected']);
    const error = (await turns[3].catch((err: unknown) => err)) as GraphQLError;
    expect(error.extensions).toEqual({ code: 'THROTTLED', retryAfterSeconds: 2 });
    expect(waited).toEqual([0, 0, 1000]);
  });

  test('a query with less time left than its wait is refused though the governor would wait longer', async () => {
    const time = new ManualScheduler();
    const governor = new RateGovernor({ ratePerSecond: 1, burst: 1, maxWaitMs: 60_000, scheduler: time });
    await governor.turn('GetIdMappingJob', 'interactive');
    await expect(governor.turn('GetIdMappingJob', 'interactive', 999)).rejects.toMatchObject({
      extensions: { code: 'THROTTLED', retryAfterSeconds: 1 },
    });
    let servedAt: number | undefined;
    void governor.turn('GetIdMappingJob', 'interactive', 1000).then(() => (servedAt = time.now()));
    await time.advance(1000);
    await settle();
    expect(servedAt).toBe(1000);
  });

  test('polls yield to queries waiting for the same operation', async () => {
    const time = new ManualScheduler();
    const governor = new RateGovernor({ ratePerSecond: 2, burst: 1, maxWaitMs: 60_000, scheduler: time });
    await governor.turn('GetIdMappingJob', 'interactive');
    const order: string[] = [];
    const poll = governor.turn('GetIdMappingJob', 'poll').then(() => order.push(`poll at ${time.now()}`));
    const query = governor.turn('GetIdMappingJob', 'interactive').then(() => order.push(`query at ${time.now()}`));
    await settle();
    while (order.length < 2) {
      await time.runNext();
      await settle();
    }
    await Promise.all([poll, query]);
    expect(order).toEqual(['query at 500', 'poll at 1000']);
  });

  test('a query that gives up leaves the queue without spending a token', async () => {
    const time = new ManualScheduler();
    const governor = new RateGovernor({ ratePerSecond: 1, burst: 1, maxWaitMs: 60_000, scheduler: time });
    await governor.turn('GetIdMappingJob', 'interactive');
    const leaving = new AbortController();
    const gaveUp = governor.turn('GetIdMappingJob', 'interactive', Infinity, 'a', leaving.signal);
    let servedAt: number | undefined;
    void governor.turn('GetIdMappingJob', 'interactive', Infinity, 'b').then(() => (servedAt = time.now()));
    leaving.abort('deadline');
    await expect(gaveUp).rejects.toBe('deadline');
    await time.advance(1000);
    await settle();
    // The next token, 1 s on, goes to the call that stayed: the one that left took none.
    expect(servedAt).toBe(1000);
  });

  test('operations have budgets of their own', async () => {
    const governor = new RateGovernor({ ratePerSecond: 1, burst: 1, maxWaitMs: 0, scheduler: new ManualScheduler() });
    await governor.turn('GetIdMappingJob', 'interactive');
    await expect(governor.turn('GetMatchingJob', 'interactive')).resolves.toBeUndefined();
    await expect(governor.turn('GetIdMappingJob', 'interactive')).rejects.toThrow(/rate limit/);
  });

  test('an operation quiet for a while has its whole burst again, and no more', async () => {
    const time = new ManualScheduler();
    const governor = new RateGovernor({ ratePerSecond: 1, burst: 3, maxWaitMs: 0, scheduler: time });
    const burst = () => Promise.allSettled(Array.from({ length: 4 }, () => governor.turn('GetIdMappingJob', 'interactive')));
    expect((await burst()).map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    await time.advance(60_000);
    expect((await burst()).map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
  });
});

describe('over HTTP with the default caches', () => {
  const defaults = { ER_FINAL_JOB_CACHE_SIZE: '10000', ER_FRESHNESS_MS: '1000' };

  test('a finished job costs one call however often it is asked, and says so to HTTP caches', async () => {
    const t = await startTestGateway({ env: defaults });
    try {
      const first = await fetch(t.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: `{ idMappingJob(workflowName: "${finished.workflowName}", jobId: "${finished.jobId}") { status metrics { inputRecords } errorDetails { errorMessage } } }`,
        }),
      });
      expect(first.headers.get('cache-control')).toBe('max-age=3600, public');
      for (let i = 0; i < 5; i++) await t.execute(IdMappingJobDocument, finished);
      expect(t.emulator.requests('GetIdMappingJob')).toBe(1);

      const client = wsClient(t.gateway.url);
      const sub = new Subscription(
        client,
        `subscription { idMappingJobUpdated(workflowName: "${finished.workflowName}", jobId: "${finished.jobId}") { status } }`,
      );
      await sub.ended();
      await client.dispose();
      expect(sub.events).toHaveLength(1);
      expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
    } finally {
      await t.close();
    }
  });

  test('re-subscribing to a running job within the freshness window costs no new call', async () => {
    // A window long enough that the whole test falls in it, however slow the machine.
    const t = await startTestGateway({ env: { ...defaults, ER_FRESHNESS_MS: '600000' } });
    const running = runningJob(t.emulator);
    const client = wsClient(t.gateway.url);
    try {
      for (let i = 0; i < 20; i++) {
        const sub = new Subscription(
          client,
          `subscription { idMappingJobUpdated(workflowName: "${running.workflowName}", jobId: "${running.jobId}") { status } }`,
        );
        await sub.event(1);
        sub.unsubscribe();
      }
      expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
    } finally {
      await client.dispose();
      await t.close();
    }
  });

  test('a running job carries no cache hint', async () => {
    const t = await startTestGateway({ env: defaults });
    const running = runningJob(t.emulator);
    try {
      const res = await fetch(t.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: `{ idMappingJob(workflowName: "${running.workflowName}", jobId: "${running.jobId}") { status metrics { inputRecords } } }`,
        }),
      });
      expect(res.headers.get('cache-control')).toBe('no-store');
    } finally {
      await t.close();
    }
  });

  test('a burst beyond the budget: the calls that fit go out, the rest are THROTTLED at once, and the service throttles nothing', async () => {
    const timers = new ManualScheduler();
    const t = await startTestGateway({ timers, env: { ER_RATE_PER_SECOND: '1', ER_RATE_BURST: '2', ER_RATE_MAX_WAIT_MS: '1500' } });
    try {
      const answer = t.execute(IdMappingJobsWithMetricsDocument, { workflowName: 'customer-id-map', first: 6 });
      // Two Gets go at once, the third waits its second; the three after it would wait longer than 1.5 s, and are refused before any time passes.
      const refusals = async () => (await t.gateway.metrics.rateRefusals.get()).values.reduce((sum, v) => sum + v.value, 0);
      await until(async () => (await refusals()) === 3);
      await timers.advance(1000);
      const res = await answer;
      const nodes = res.data!.idMappingJobs!.nodes;
      expect(nodes.filter((job) => job.metrics !== null)).toHaveLength(3);
      expect(new Set(codes(res))).toEqual(new Set(['THROTTLED']));
      expect(res.errors!.every((e) => (e.extensions?.retryAfterSeconds as number) >= 1)).toBe(true);
      expect(t.emulator.requests('GetIdMappingJob')).toBe(3);
      expect(await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text()).toMatch(
        /^er_gateway_rate_refusals_total\{operation="GetIdMappingJob"\} 3$/m,
      );
    } finally {
      await t.close();
    }
  });
});
