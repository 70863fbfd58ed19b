import { GraphQLError } from 'graphql';
import { startEmulator, type Emulator } from '../src/emulator/http';
import { seededJobId } from '../src/emulator/seed';
import { createUpstreamClients, type UpstreamClients } from '../src/upstream/client';
import { JobStore, type JobStoreOptions } from '../src/upstream/job-store';
import { RateGovernor } from '../src/upstream/rate-governor';
import { IdMappingJobDocument, IdMappingJobsWithMetricsDocument } from './generated/graphql';
import { codes, runningJob, startTestGateway } from './utils/gateway';
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
    clients = createUpstreamClients({ endpoint: emulator.url, region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
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
    const pages = await Promise.all(Array.from({ length: 10 }, () => jobs.listJobs('idMapping', finished.workflowName, { maxResults: 25 })));
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

  test("a poll always asks the service, and its snapshot serves the queries that follow", async () => {
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

describe('the rate governor', () => {
  test('never lets more calls through than its burst and rate allow, in any window', async () => {
    const governor = new RateGovernor({ ratePerSecond: 5, burst: 5, maxWaitMs: 60_000 });
    const granted: number[] = [];
    await Promise.all(Array.from({ length: 15 }, () => governor.turn('GetIdMappingJob', 'interactive').then(() => granted.push(performance.now()))));
    granted.sort((a, b) => a - b);
    for (let i = 0; i < granted.length; i++) {
      for (let j = i; j < granted.length; j++) {
        // A token bucket admits at most burst + rate × elapsed in any stretch of time.
        expect(j - i + 1).toBeLessThanOrEqual(5 + (5 * (granted[j] - granted[i])) / 1000 + 1);
      }
    }
  });

  test('a query whose turn would come after the deadline fails at once with THROTTLED and a retry hint', async () => {
    const refused: string[] = [];
    const governor = new RateGovernor({ ratePerSecond: 1, burst: 2, maxWaitMs: 1500, observer: { waited: () => {}, refused: (op) => refused.push(op) } });
    const turns = await Promise.allSettled(Array.from({ length: 6 }, () => governor.turn('GetMatchingJob', 'interactive')));
    expect(turns.map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected']);
    const error = (turns[3] as PromiseRejectedResult).reason as GraphQLError;
    expect(error.extensions).toEqual({ code: 'THROTTLED', retryAfterSeconds: 2 });
    expect(refused).toEqual(['GetMatchingJob', 'GetMatchingJob', 'GetMatchingJob']);
  });

  test('polls yield to queries waiting for the same operation', async () => {
    const governor = new RateGovernor({ ratePerSecond: 2, burst: 1, maxWaitMs: 60_000 });
    await governor.turn('GetIdMappingJob', 'interactive');
    const order: string[] = [];
    const poll = governor.turn('GetIdMappingJob', 'poll').then(() => order.push('poll'));
    const query = governor.turn('GetIdMappingJob', 'interactive').then(() => order.push('query'));
    await Promise.all([poll, query]);
    expect(order).toEqual(['query', 'poll']);
  });

  test('operations have budgets of their own', async () => {
    const governor = new RateGovernor({ ratePerSecond: 1, burst: 1, maxWaitMs: 0 });
    await governor.turn('GetIdMappingJob', 'interactive');
    await expect(governor.turn('GetMatchingJob', 'interactive')).resolves.toBeUndefined();
    await expect(governor.turn('GetIdMappingJob', 'interactive')).rejects.toThrow(/rate limit/);
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
        body: JSON.stringify({ query: `{ idMappingJob(workflowName: "${finished.workflowName}", jobId: "${finished.jobId}") { status metrics { inputRecords } errorDetails { errorMessage } } }` }),
      });
      expect(first.headers.get('cache-control')).toBe('max-age=3600, public');
      for (let i = 0; i < 5; i++) await t.execute(IdMappingJobDocument, finished);
      expect(t.emulator.requests('GetIdMappingJob')).toBe(1);

      const client = wsClient(t.gateway.url);
      const sub = new Subscription(client, `subscription { idMappingJobUpdated(workflowName: "${finished.workflowName}", jobId: "${finished.jobId}") { status } }`);
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
        const sub = new Subscription(client, `subscription { idMappingJobUpdated(workflowName: "${running.workflowName}", jobId: "${running.jobId}") { status } }`);
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
        body: JSON.stringify({ query: `{ idMappingJob(workflowName: "${running.workflowName}", jobId: "${running.jobId}") { status metrics { inputRecords } } }` }),
      });
      expect(res.headers.get('cache-control')).toBe('no-store');
    } finally {
      await t.close();
    }
  });

  test('a burst beyond the budget: the calls that fit go out, the rest are THROTTLED at once, and the service throttles nothing', async () => {
    const t = await startTestGateway({ env: { ER_RATE_PER_SECOND: '1', ER_RATE_BURST: '2', ER_RATE_MAX_WAIT_MS: '1500' } });
    try {
      const res = await t.execute(IdMappingJobsWithMetricsDocument, { workflowName: 'customer-id-map', first: 6 });
      const nodes = res.data!.idMappingJobs!.nodes;
      expect(nodes.filter((job) => job.metrics !== null)).toHaveLength(3);
      expect(new Set(codes(res))).toEqual(new Set(['THROTTLED']));
      expect(res.errors!.every((e) => (e.extensions?.retryAfterSeconds as number) >= 1)).toBe(true);
      expect(t.emulator.requests('GetIdMappingJob')).toBe(3);
      expect(await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text()).toMatch(/^er_gateway_rate_refusals_total\{operation="GetIdMappingJob"\} 3$/m);
    } finally {
      await t.close();
    }
  });
});
