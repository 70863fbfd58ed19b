import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Gateway } from '../../src/server/app';
import { INTERVAL_MS, now, withBenchGateway } from './bench-gateway';
import type { FromRouter, ToRouter } from './callback-router';
import { Clients } from './clients';
import type { WatchedJob } from './fanout-clients';

/**
 * Callback subscriptions (the HTTP callback protocol) at scale: `count`
 * subscriptions spread over two changing jobs, called back to one of
 *
 * - `receiver`: a hand-held receiver, a plain HTTP server in a process of its
 *   own that answers 204 and notes when each `next` arrived; the bench holds
 *   the subscriptions as a router would (a router's own cost is not measured);
 * - `hive`: Hive Gateway with @graphql-mesh/transport-http-callback in a
 *   process of its own (callback-router.ts), holding the subscriptions of
 *   `count` clients that subscribe to it over SSE from processes of their own
 *   (fanout-clients.ts).
 *
 * Each row has a gateway of its own (with the embedded emulator) in this
 * process. Reports the `next` messages delivered per second over the window
 * and the delivery latency, from the emulator's answer to the poll that saw a
 * change to the receiver (or, through the router, the client) having the
 * message, and the CPU of each process over the window.
 */

export type Via = 'receiver' | 'hive';

const WINDOW_MS = 6000;
/** After subscribing, before the window: what queued while the last subscriptions were made drains first. */
const SETTLE_MS = 2000;
const HEARTBEAT_MS = 5000;

interface Row {
  via: Via;
  count: number;
  connectMs: number;
  /** `next` messages er-gateway delivered to the callback URLs per second (by its counter; the window's edges are the counter's reads). */
  posted: number;
  /** Callback subscriptions er-gateway held at the window's start. */
  held: number;
  delivered: number;
  p50: number;
  p99: number;
  dropped: number;
  /** CPU over the window, in % of one core. */
  gatewayCpu: number;
  receiverCpu: number;
  clientCpu?: number;
  /** The receiver's or router's memory at the window's end. */
  receiverMemory: Usage;
  load: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

type Usage = Extract<FromRouter, { usage: unknown }>['usage'];

/** Asks a child process for its usage over IPC (both the receiver and the router answer `{ usage }`). */
function usageOf(child: ChildProcess): Promise<Usage> {
  return new Promise((done) => {
    const listen = (message: FromRouter) => {
      if ('usage' in message) {
        child.off('message', listen);
        done(message.usage);
      }
    };
    child.on('message', listen);
    child.send({ usage: true } satisfies ToRouter);
  });
}

/** The receiver: one line per `next`, `<subscription id> <arrival ms>`; its usage over IPC. */
async function receiver(): Promise<{ url: string; arrivals: [string, number][]; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('http').createServer((q, r) => {
         const chunks = []; q.on('data', (c) => chunks.push(c));
         q.on('end', () => {
           const at = performance.timeOrigin + performance.now();
           r.writeHead(204).end();
           const m = JSON.parse(Buffer.concat(chunks).toString());
           if (m.action === 'next') process.stdout.write(m.id + ' ' + at + '\\n');
         });
       });
       s.keepAliveTimeout = 60000;
       s.listen(0, '127.0.0.1', () => console.log(s.address().port));
       process.on('message', () => {
         const cpu = process.cpuUsage();
         const m = process.memoryUsage();
         process.send({ usage: { cpuMs: (cpu.user + cpu.system) / 1000, rssMb: m.rss / 2 ** 20, heapMb: m.heapUsed / 2 ** 20, heapTotalMb: m.heapTotal / 2 ** 20, externalMb: m.external / 2 ** 20 } });
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  );
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<string>((done) => lines.once('line', done));
  const arrivals: [string, number][] = [];
  lines.on('line', (line) => {
    const [id, at] = line.split(' ');
    arrivals.push([id, Number(at)]);
  });
  return { url: `http://127.0.0.1:${port}`, arrivals, child };
}

/** The router (callback-router.ts) in front of `gateway`, started. */
async function router(gateway: Gateway): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(resolve(__dirname, 'callback-router.ts'), { execArgv: ['-r', 'ts-node/register/transpile-only'] });
  const started = new Promise<string>((done, failed) => {
    child.on('message', (message: FromRouter) => 'started' in message && done(message.started.url));
    child.once('exit', (code) => failed(new Error(`the router exited with ${code}`)));
  });
  child.send({ start: { subgraph: `${gateway.url}/graphql`, heartbeatMs: HEARTBEAT_MS } } satisfies ToRouter);
  return { url: await started, child };
}

/** Asks the router to stop, and kills it if it has not gone within 5 s. */
async function stopRouter(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.send({ stop: true } satisfies ToRouter);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

const fieldOf = (job: WatchedJob) => (job.kind === 'idMapping' ? 'idMappingJobUpdated' : 'matchingJobUpdated');

async function post(
  gateway: Gateway,
  body: unknown,
): Promise<{ data?: Record<string, { jobId: string; status: string }>; errors?: unknown }> {
  const res = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as { data?: Record<string, { jobId: string; status: string }>; errors?: unknown };
}

/** Two jobs started through `gateway`, once both run (started jobs queue for a tenth of their time: measure while they change). */
async function startJobs(gateway: Gateway): Promise<WatchedJob[]> {
  const a = (await post(gateway, { query: 'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }' })).data!;
  const b = (await post(gateway, { query: 'mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }' })).data!;
  const jobs: WatchedJob[] = [
    { kind: 'idMapping', workflowName: 'customer-id-map', jobId: a.startIdMappingJob.jobId },
    { kind: 'matching', workflowName: 'customer-matching', jobId: b.startMatchingJob.jobId },
  ];
  const query = `{ a: idMappingJob(workflowName: "customer-id-map", jobId: "${jobs[0].jobId}") { status } b: matchingJob(workflowName: "customer-matching", jobId: "${jobs[1].jobId}") { status } }`;
  while (!Object.values((await post(gateway, { query })).data!).every((job) => job.status === 'RUNNING')) await sleep(250);
  return jobs;
}

/** The sum of the gateway's series whose line starts with `prefix` (name and labels). */
async function counter(gateway: Gateway, prefix: string): Promise<number> {
  const metrics = await (await fetch(`${gateway.metricsUrl}/metrics`)).text();
  return metrics
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

const droppedBy = (gateway: Gateway) => counter(gateway, 'er_gateway_callback_messages_dropped_total');
const nextsPostedBy = (gateway: Gateway) => counter(gateway, 'er_gateway_callback_messages_total{action="next",delivery="delivered"}');

/** Delivery latency of each receipt: from the emulator's last answer for its job at or before it. */
function latencies(answers: Map<string, number[]>, receipts: [jobId: string, at: number][]): number[] {
  return receipts.flatMap(([jobId, at]) => {
    const polled = (answers.get(jobId) ?? []).filter((t) => t <= at).at(-1);
    return polled === undefined ? [] : [at - polled];
  });
}

/**
 * The window, SETTLE_MS from now: the gateway's and `other`'s CPU (in % of one core) over WINDOW_MS, `during` run at its
 * end while the processes still hold everything.
 */
async function measureWindow<T>(gateway: Gateway, other: ChildProcess, during: () => Promise<T>) {
  await sleep(SETTLE_MS);
  const held = await counter(gateway, 'er_gateway_active_streams{transport="callback"}');
  const postedBefore = await nextsPostedBy(gateway);
  const before = await usageOf(other);
  const cpuBefore = process.cpuUsage();
  const from = now();
  await sleep(WINDOW_MS);
  const cpu = process.cpuUsage(cpuBefore);
  const until = now();
  const after = await usageOf(other);
  const windowMs = until - from;
  const posted = ((await nextsPostedBy(gateway)) - postedBefore) / (windowMs / 1000);
  return {
    from,
    until,
    windowMs,
    posted,
    held,
    gatewayCpu: ((cpu.user + cpu.system) / 1000 / windowMs) * 100,
    otherCpu: ((after.cpuMs - before.cpuMs) / windowMs) * 100,
    otherMemory: after,
    load: loadavg()[0],
    result: await during(),
  };
}

async function viaReceiver(count: number): Promise<Row> {
  const back = await receiver();
  const answers = new Map<string, number[]>();
  try {
    return await withBenchGateway(answers, { ER_CALLBACK_URL_ALLOW: back.url }, async (gateway) => {
      const jobs = await startJobs(gateway);
      const jobOf = new Map<string, string>();
      const started = now();
      for (let i = 0; i < count; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, count - i) }, async (_, k) => {
            const job = jobs[(i + k) % jobs.length];
            const id = randomUUID();
            jobOf.set(id, job.jobId);
            const res = await post(gateway, {
              query: `subscription { ${fieldOf(job)}(workflowName: "${job.workflowName}", jobId: "${job.jobId}") { id status metrics { inputRecords totalRecordsProcessed } } }`,
              extensions: {
                subscription: {
                  callbackUrl: `${back.url}/callback/${id}`,
                  subscriptionId: id,
                  verifier: id,
                  heartbeatIntervalMs: HEARTBEAT_MS,
                },
              },
            });
            if (res.errors) throw new Error(JSON.stringify(res));
          }),
        );
      }
      const connectMs = now() - started;
      const w = await measureWindow(gateway, back.child, () => droppedBy(gateway));
      const inWindow = back.arrivals.filter(([, at]) => at >= w.from && at < w.until);
      const delivery = latencies(
        answers,
        inWindow.map(([id, at]) => [jobOf.get(id)!, at]),
      );
      return {
        via: 'receiver',
        count,
        connectMs,
        posted: w.posted,
        held: w.held,
        delivered: inWindow.length / (w.windowMs / 1000),
        p50: percentile(delivery, 50),
        p99: percentile(delivery, 99),
        dropped: w.result,
        gatewayCpu: w.gatewayCpu,
        receiverCpu: w.otherCpu,
        receiverMemory: w.otherMemory,
        load: w.load,
      };
    });
  } finally {
    back.child.kill();
  }
}

async function viaHive(count: number): Promise<Row> {
  const answers = new Map<string, number[]>();
  let hive: ChildProcess | undefined;
  const clients = new Clients();
  try {
    return await withBenchGateway(answers, { ER_CALLBACK_URL_ALLOW: 'http://127.0.0.1:*/callback/**' }, async (gateway) => {
      const jobs = await startJobs(gateway);
      const started = await router(gateway);
      hive = started.child;
      const ready = await clients.subscribe(started.url, jobs, count, 'sse');
      await clients.record();
      const w = await measureWindow(gateway, hive, async () => ({ dropped: await droppedBy(gateway), report: await clients.report() }));
      // The clients record from before the window to after it: count what arrived within it.
      const received = w.result.report.received.filter(([, at]) => at >= w.from && at < w.until);
      const clientCpuMs = w.result.report.cpuMs;
      const delivery = latencies(
        answers,
        received.map(([jobIndex, at]) => [jobs[jobIndex].jobId, at]),
      );
      // Before the gateway closes: its `complete`s at shutdown then reach a router that is still there.
      await clients.close();
      return {
        via: 'hive',
        count,
        connectMs: ready.ms,
        posted: w.posted,
        held: w.held,
        delivered: received.length / (w.windowMs / 1000),
        p50: percentile(delivery, 50),
        p99: percentile(delivery, 99),
        dropped: w.result.dropped,
        gatewayCpu: w.gatewayCpu,
        receiverCpu: w.otherCpu,
        clientCpu: (clientCpuMs / w.windowMs) * 100,
        receiverMemory: w.otherMemory,
        load: w.load,
      };
    });
  } finally {
    clients.kill();
    if (hive) await stopRouter(hive);
  }
}

const VIA_NAMES: Record<Via, string> = {
  receiver: 'hand-held receiver (204)',
  hive: 'Hive Gateway, clients over SSE',
};

/** Each of `sizes` through each of `via`, one table. */
export async function callbackFanout(sizes: number[], via: Via[]): Promise<void> {
  const unknown = via.filter((v) => !(v in VIA_NAMES));
  if (unknown.length) throw new Error(`BENCH_CALLBACK_VIA: ${unknown.join(', ')}; expected receiver, hive`);
  const rows: Row[] = [];
  for (const count of sizes) for (const v of via) rows.push(await (v === 'receiver' ? viaReceiver(count) : viaHive(count)));
  console.log(
    `\ncallback subscriptions: over 2 changing jobs, heartbeat ${HEARTBEAT_MS / 1000} s, poll interval ${INTERVAL_MS} ms, measured over ${WINDOW_MS / 1000} s from ${SETTLE_MS / 1000} s after the last subscription; Node ${process.version}; CPU in % of one core over the window; delivery from the emulator's answer to the receiver (or through the router, the client) having the \`next\``,
  );
  console.log(
    '| called back | subscriptions | held by er-gateway | subscribe all (s) | next POSTed by er-gateway per s | next delivered per s | delivery p50 (ms) | delivery p99 (ms) | dropped | er-gateway CPU | receiver/router CPU | clients CPU | CPU per next delivered, er-gateway / receiver or router (µs) | receiver/router RSS (heap in use / reserved, external) (MB) | load (1 min) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    // % of a core is 10 ms of CPU per second: over `delivered` nexts a second, µs each.
    const mb = (value: number) => value.toFixed(0);
    const perNext = (cpu: number) => ((cpu * 10_000) / r.delivered).toFixed(0);
    console.log(
      `| ${VIA_NAMES[r.via]} | ${r.count} | ${r.held} | ${(r.connectMs / 1000).toFixed(1)} | ${r.posted.toFixed(0)} | ${r.delivered.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.dropped} | ${r.gatewayCpu.toFixed(0)}% | ${r.receiverCpu.toFixed(0)}% | ${r.clientCpu === undefined ? '—' : `${r.clientCpu.toFixed(0)}%`} | ${perNext(r.gatewayCpu)} / ${perNext(r.receiverCpu)} | ${mb(r.receiverMemory.rssMb)} (${mb(r.receiverMemory.heapMb)} / ${mb(r.receiverMemory.heapTotalMb)}, ${mb(r.receiverMemory.externalMb)}) | ${r.load.toFixed(2)} |`,
    );
  }
}
