import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { connectRedis } from '../../src/cluster/redis';
import { startEmulator } from '../../src/emulator/http';
import { startGateway, type Gateway } from '../../src/server/app';
import { loadConfig } from '../../src/server/config';
import { Clients } from './clients';
import type { WatchedJob } from './fanout-clients';
import { abuse } from './abuse';
import { INTERVAL_MS, now, withBenchGateway } from './bench-gateway';
import { callbackFanout, type Via } from './callback';
import { frugality } from './frugality';
import { rolling } from './rolling';
import { MANY_USERS_ONE_ADDRESS, soak } from './soak';
import { authCost } from './auth-cost';
import { startup, throughput } from './throughput';
import { tracingCost } from './tracing';
import { tracingSpanCost } from './tracing-span';

/**
 * `npm run bench`: figures measured in one run on this machine. Each scenario
 * starts its own gateway with the embedded emulator; subscribers live in a
 * child process. Needs --expose-gc (the npm script passes it).
 */

const WINDOW_MS = 6000;
/** Subscribers that come and go before the fan-out's baseline heap is read. */
const WARM_UP_SUBSCRIBERS = 100;

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with node --expose-gc');
  collect();
  collect();
}

const heapMb = () => process.memoryUsage().heapUsed / 2 ** 20;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function withGateway<T>(answers: Map<string, number[]>, run: (gateway: Gateway) => Promise<T>): Promise<T> {
  return withBenchGateway(
    answers,
    {
      // 15,000 subscribers and the bench's own requests: one descriptor each, under the machine's 20,000.
      ER_MAX_CONNECTIONS: '16000',
      ER_MAX_CONNECTIONS_PER_ADDRESS: '16000',
      // Thousands of sockets open at once on a busy machine: a client process may take longer than 3 s to send connection_init.
      ER_WS_INIT_TIMEOUT_MS: '30000',
    },
    run,
  );
}

/** Two running jobs and a quiet one, started through `gateway`, on `state`: the emulator behind it (embedded, or the one replicas share). */
async function startJobs(gateway: Gateway, state = gateway.emulator!.state): Promise<WatchedJob[]> {
  const post = async (query: string) => {
    const res = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    return ((await res.json()) as { data: Record<string, { jobId: string }> }).data;
  };
  const idMapping = await post('mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }');
  const matching = await post('mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }');
  // Started jobs queue for a tenth of their time; measure while they run and change.
  const running = async () => {
    const data = await post(
      `{ a: idMappingJob(workflowName: "customer-id-map", jobId: "${idMapping.startIdMappingJob.jobId}") { status } b: matchingJob(workflowName: "customer-matching", jobId: "${matching.startMatchingJob.jobId}") { status } }`,
    );
    return Object.values(data).every((job) => (job as unknown as { status: string }).status === 'RUNNING');
  };
  while (!(await running())) await sleep(250);
  return [
    { kind: 'idMapping', workflowName: 'customer-id-map', jobId: idMapping.startIdMappingJob.jobId },
    { kind: 'matching', workflowName: 'customer-matching', jobId: matching.startMatchingJob.jobId },
    // A job that never changes: its subscribers cost polls but receive nothing after the first event.
    { kind: 'idMapping', workflowName: 'loyalty-id-map', jobId: state.holdRunning('idMapping', 'loyalty-id-map').jobId },
  ];
}

interface FanoutResult {
  subscribers: number;
  jobs: number;
  connectMs: number;
  getsPerInterval: number;
  deliveries: number;
  p50: number;
  p99: number;
  kbPerSubscriber: number;
  heapAfterCloseMb: number;
  heapBeforeMb: number;
  /** What the warm-up left in the heap (compiled code, mostly), in MB: not counted per subscriber. */
  warmUpMb: number;
  /** GraphQL executions of events in the window, per event published (target: 1.00, one per distinct subscription). */
  executionsPerEvent: number;
  events: number;
  /** CPU time over the window, in % of one core: the gateway's process (the emulator's included), the client processes' together. */
  gatewayCpu: number;
  clientCpu: number;
  /** The gateway's CPU time over the window per delivery, in µs: steadier than latency on a shared machine. */
  cpuPerDeliveryUs: number;
  /** The machine's 1-minute load average at the end of the window (it has os.availableParallelism() cores). */
  load: number;
}

/**
 * With BENCH_PROFILE_DIR set: a CPU profile of the gateway's process from now until the returned function is called,
 * then a heap snapshot (the subscribers still connected), written to that folder as `name`.cpuprofile and .heapsnapshot
 * (beside `name`-before.heapsnapshot, the heap before the subscribers connected).
 */
async function profiled(name: string): Promise<(() => Promise<void>) | undefined> {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true });
  const session = new Session();
  session.connect();
  const post = (method: string) =>
    new Promise<unknown>((done, fail) => session.post(method, (err, result) => (err ? fail(err) : done(result))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return async () => {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
    // After the window, which the snapshot's pause would distort; the subscribers are still there.
    writeHeapSnapshot(join(dir, `${name}.heapsnapshot`));
  };
}

/** The counter's value now, summed over its series. */
const counted = async (gateway: Gateway) =>
  (await gateway.metrics.subscriptionExecutions.get()).values.reduce((sum, v) => sum + v.value, 0);

async function fanout(count: number): Promise<FanoutResult> {
  const answers = new Map<string, number[]>();
  return withGateway(answers, async (gateway) => {
    const jobs = await startJobs(gateway);
    const clients = new Clients();
    try {
      // A warm-up: subscribers that come and go before the baseline, so that the code their setup compiles once
      // (bytecode, optimized code: about 1.5 MB whatever the number of subscribers) is not counted as theirs.
      gc();
      const heapCold = heapMb();
      await clients.subscribe(gateway.url, jobs, WARM_UP_SUBSCRIBERS);
      await clients.close();
      while (gateway.watcher.watchedJobs > 0) await sleep(10);
      await sleep(1000);
      gc();
      const heapBefore = heapMb();
      // The heap the subscribers' growth counts from, to diff with the snapshot after the window.
      if (process.env.BENCH_PROFILE_DIR) writeHeapSnapshot(join(process.env.BENCH_PROFILE_DIR, `fanout-${count}-before.heapsnapshot`));
      const ready = await clients.subscribe(gateway.url, jobs, count);
      gc();
      const heapWith = heapMb();
      await clients.record();
      gateway.emulator!.resetRequests();
      const executionsBefore = await counted(gateway);
      const profile = await profiled(`fanout-${count}`);
      const started = now();
      const cpuBefore = process.cpuUsage();
      await sleep(WINDOW_MS);
      const cpu = process.cpuUsage(cpuBefore);
      await profile?.();
      const load = loadavg()[0];
      const gets = gateway.emulator!.requests('GetIdMappingJob') + gateway.emulator!.requests('GetMatchingJob');
      const windowMs = now() - started;
      const intervals = windowMs / INTERVAL_MS;
      const { received, cpuMs: clientCpuMs } = await clients.report();
      // Events published: each job's deliveries over its subscribers (subscriber n watches job n % jobs), every subscriber getting each.
      const executions = (await counted(gateway)) - executionsBefore;
      const events = jobs.reduce((sum, _job, index) => {
        const subscribers = Math.ceil((count - index) / jobs.length);
        return sum + received.filter(([jobIndex]) => jobIndex === index).length / subscribers;
      }, 0);
      // Delivery: from the emulator's answer that carried the change to the subscriber's receipt.
      const latencies = received.map(([jobIndex, at]) => {
        const times = answers.get(jobs[jobIndex].jobId) ?? [];
        const answeredAt = times.filter((t) => t <= at).at(-1) ?? at;
        return at - answeredAt;
      });
      await clients.close();
      while (gateway.watcher.watchedJobs > 0) await sleep(10);
      // Server sides of the sockets finish their closing handshakes after the clients are gone.
      await sleep(1000);
      gc();
      return {
        subscribers: count,
        jobs: jobs.length,
        connectMs: ready.ms,
        getsPerInterval: gets / intervals,
        deliveries: latencies.length,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        kbPerSubscriber: ((heapWith - heapBefore) * 1024) / count,
        heapBeforeMb: heapBefore,
        warmUpMb: heapBefore - heapCold,
        heapAfterCloseMb: heapMb(),
        executionsPerEvent: executions / events,
        events,
        gatewayCpu: ((cpu.user + cpu.system) / 1000 / windowMs) * 100,
        clientCpu: (clientCpuMs / windowMs) * 100,
        cpuPerDeliveryUs: (cpu.user + cpu.system) / Math.max(1, latencies.length),
        load,
      };
    } finally {
      clients.kill();
    }
  });
}

/**
 * The shared mode: replicas on one Redis and one emulator (as AWS), the
 * subscribers spread over them in turn. Prints polls per job per interval
 * across all replicas (target 1.00), delivery from the emulator's answer to
 * the subscriber, and Redis commands per published event.
 */
async function sharedFanout(count: number, replicas: number) {
  const answers = new Map<string, number[]>();
  const emulator = await startEmulator({
    jobSeconds: 90,
    onAnswer: (operation, { jobId }, status) => {
      if (status === 200 && jobId && operation.startsWith('Get')) answers.set(jobId, [...(answers.get(jobId) ?? []), now()]);
    },
  });
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const prefix = `er-gateway-bench:${Date.now()}:`;
  const config = loadConfig({
    PORT: '0',
    ER_METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
    ER_BACKEND: 'aws',
    ER_AUTH: 'none',
    ER_ENDPOINT: emulator.url,
    AWS_REGION: emulator.state.region,
    ER_ACCOUNT_ID: emulator.state.accountId,
    ER_POLL_INTERVAL_MS: String(INTERVAL_MS),
    ER_REDIS_URL: redisUrl,
    ER_REDIS_PREFIX: prefix,
    ...MANY_USERS_ONE_ADDRESS,
  });
  const gateways = await Promise.all(Array.from({ length: replicas }, () => startGateway(config, { processMetrics: false })));
  // Any form ER_REDIS_URL takes (one server, Sentinel, a cluster): the counts are summed over every primary.
  const redis = await connectRedis({ url: redisUrl, prefix: '', logger: pino({ level: 'silent' }) });
  const primaries = 'nodes' in redis.client ? redis.client.nodes('master') : [redis.client];
  const stats = async () => {
    const infos = await Promise.all(primaries.map((node) => node.info('commandstats')));
    const calls = infos.flatMap((info) => [...info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)]);
    return {
      total: calls.reduce((sum, [, , n]) => sum + Number(n), 0),
      publish: calls.filter(([, name]) => name === 'publish').reduce((sum, [, , n]) => sum + Number(n), 0),
    };
  };
  const clients = new Clients();
  try {
    const jobs = await startJobs(gateways[0], emulator.state);
    const ready = await clients.subscribe(
      gateways.map((g) => g.url),
      jobs,
      count,
    );
    emulator.resetRequests();
    const before = await stats();
    const started = now();
    await sleep(WINDOW_MS);
    const intervals = (now() - started) / INTERVAL_MS;
    const gets = emulator.requests('GetIdMappingJob') + emulator.requests('GetMatchingJob');
    const after = await stats();
    const { received } = await clients.report();
    const latencies = received.map(([jobIndex, at]) => {
      const times = answers.get(jobs[jobIndex].jobId) ?? [];
      return at - (times.filter((t) => t <= at).at(-1) ?? at);
    });
    await clients.close();
    // The stats' own INFO calls are not the gateway's.
    const commands = after.total - before.total - 1;
    const events = after.publish - before.publish;
    return {
      replicas,
      subscribers: count,
      jobs: jobs.length,
      connectMs: ready.ms,
      pollsPerJob: gets / intervals / jobs.length,
      deliveries: latencies.length,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      commandsPerEvent: events > 0 ? commands / events : NaN,
      events,
    };
  } finally {
    clients.kill();
    await Promise.all(gateways.map((g) => g.close()));
    // On a cluster each primary holds its own slots' keys.
    for (const node of primaries) {
      const keys = await node.keys(`${prefix}*`);
      if (keys.length > 0) await node.del(...keys);
    }
    await redis.close();
    await emulator.close();
  }
}

async function cycles(count: number) {
  return withGateway(new Map(), async (gateway) => {
    const clients = new Clients(1);
    try {
      const job: WatchedJob = {
        kind: 'idMapping',
        workflowName: 'loyalty-id-map',
        jobId: gateway.emulator!.state.holdRunning('idMapping', 'loyalty-id-map').jobId,
      };
      await clients.cycles(gateway.url, job, 200);
      gc();
      const heapBefore = heapMb();
      const { cycled } = await clients.cycles(gateway.url, job, count);
      gc();
      return { count, ms: cycled.ms, watchers: gateway.watcher.watchedJobs, heapBefore, heapAfter: heapMb() };
    } finally {
      clients.kill();
    }
  });
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY;
  if (only === 'soak') return soak(Number(process.env.BENCH_SOAK_SECONDS ?? 60));
  if (only === 'abuse') return abuse(Number(process.env.BENCH_ABUSE_SECONDS ?? 20));
  if (only === 'rolling') return rolling();
  if (only === 'callback')
    return callbackFanout(
      (process.env.BENCH_CALLBACK_SUBSCRIPTIONS ?? '1000').split(',').map(Number),
      (process.env.BENCH_CALLBACK_VIA ?? 'receiver,hive').split(',') as Via[],
    );
  if (only === 'shared' || !only) {
    const r = await sharedFanout(Number(process.env.BENCH_SHARED_SUBSCRIBERS ?? 3000), 3);
    console.log(
      `\nshared mode: ${r.replicas} replicas on one Redis, ${r.subscribers} subscribers spread over them, ${r.jobs} jobs (2 changing, 1 quiet), poll interval ${INTERVAL_MS} ms, measured over ${WINDOW_MS / 1000} s`,
    );
    console.log(
      '| replicas | subscribers | connect all (s) | polls per job per interval (target 1.00) | deliveries | delivery p50 (ms) | delivery p99 (ms) | Redis commands per event |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    console.log(
      `| ${r.replicas} | ${r.subscribers} | ${(r.connectMs / 1000).toFixed(1)} | ${r.pollsPerJob.toFixed(2)} | ${r.deliveries} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.commandsPerEvent.toFixed(1)} (${r.events} events) |`,
    );
    if (only === 'shared') return;
  }
  if (only === 'tracing-span') return tracingSpanCost();
  if (only === 'auth') {
    return authCost({
      seconds: Number(process.env.BENCH_SECONDS ?? 5),
      rounds: Number(process.env.BENCH_ROUNDS ?? 3),
      processes: Number(process.env.BENCH_PROCESSES ?? 3),
      queries: (process.env.BENCH_QUERIES ?? '0,1,2,3').split(',').map(Number),
      rate: Number(process.env.BENCH_RATE ?? 5000),
      profiles: process.env.BENCH_PROFILE,
    });
  }
  if (only === 'tracing') return tracingCost(Number(process.env.BENCH_SECONDS ?? 10));
  if (only === 'throughput' || !only) {
    await throughput(Number(process.env.BENCH_SECONDS ?? 10));
    await tracingCost(Number(process.env.BENCH_SECONDS ?? 10));
    await startup();
  }
  if (only === 'throughput') return;
  if (only !== 'fanout') await frugality(Number(process.env.BENCH_SECONDS ?? 10));
  if (only === 'frugality') return;
  if (only !== 'fanout') await abuse(Number(process.env.BENCH_ABUSE_SECONDS ?? 20));
  const sizes = (process.env.BENCH_SUBSCRIBERS ?? '1000,5000,10000,15000').split(',').map(Number);
  console.log(
    `\nfan-out: subscribers spread over 3 jobs (2 changing, 1 quiet), poll interval ${INTERVAL_MS} ms, measured over ${WINDOW_MS / 1000} s; Node ${process.version}, ${availableParallelism()} cores; clients in ${Number(process.env.BENCH_CLIENT_PROCESSES ?? 2)} processes; heap per subscriber counts from after a warm-up of ${WARM_UP_SUBSCRIBERS} subscribers that came and went (what they left, compiled code mostly, is its own column)`,
  );
  console.log(
    '| subscribers | connect all (s) | upstream Gets per interval | Gets per job per interval | deliveries | delivery p50 (ms) | delivery p99 (ms) | heap per subscriber (KB) | warm-up left (MB) | heap before → after close (MB) | executions per event (target 1.00) | CPU gateway / clients (% of a core) | gateway CPU per delivery (µs) | load (1 min) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const size of sizes) {
    const r = await fanout(size);
    console.log(
      `| ${r.subscribers} | ${(r.connectMs / 1000).toFixed(1)} | ${r.getsPerInterval.toFixed(2)} | ${(r.getsPerInterval / r.jobs).toFixed(2)} | ${r.deliveries} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.kbPerSubscriber.toFixed(1)} | ${r.warmUpMb.toFixed(1)} | ${r.heapBeforeMb.toFixed(1)} → ${r.heapAfterCloseMb.toFixed(1)} | ${r.executionsPerEvent.toFixed(2)} (${r.events.toFixed(1)} events) | ${r.gatewayCpu.toFixed(0)} / ${r.clientCpu.toFixed(0)} | ${r.cpuPerDeliveryUs.toFixed(1)} | ${r.load.toFixed(2)} |`,
    );
  }
  const c = await cycles(Number(process.env.BENCH_CYCLES ?? 10_000));
  console.log(
    `\nsubscribe/unsubscribe cycles: ${c.count} in ${(c.ms / 1000).toFixed(1)} s; watchers left: ${c.watchers}; heap ${c.heapBefore.toFixed(1)} MB → ${c.heapAfter.toFixed(1)} MB (${(c.heapAfter - c.heapBefore).toFixed(2)} MB)`,
  );
  if (only !== 'fanout') await soak(Number(process.env.BENCH_SOAK_SECONDS ?? 60));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
