import { print } from 'graphql';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startGateway } from '../../src/server/app';
import { loadConfig } from '../../src/server/config';
import { seededJobId } from '../../src/emulator/seed';
import { IdMappingJobUpdatedDocument } from '../generated/graphql';
import { RawSocket } from '../utils/subscriptions';

const UPDATES = print(IdMappingJobUpdatedDocument);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/**
 * The scenarios that stand for many users open all their sockets from this
 * one process, which the per-client limits would take for one abusive client.
 */
export const MANY_USERS_ONE_ADDRESS = {
  ER_STREAMS_PER_CLIENT: '100000',
  ER_WATCHED_JOBS_PER_CLIENT: '100000',
  ER_MAX_CONNECTIONS: '15000',
  ER_MAX_CONNECTIONS_PER_ADDRESS: '15000',
};

/**
 * The soak: for `seconds`, honest subscribers, subscribers that never read
 * and ones that read slowly, and a steady stream of queries, while the
 * emulator's faults (500s and latency) go on and off every five seconds.
 * Prints what was delivered, dropped and skipped, the queries' p99, and heap
 * and RSS at start and end; the process must still be serving at the end.
 */
export async function soak(seconds: number): Promise<void> {
  // The started job outlasts the soak and moves its counts at every poll.
  const jobSeconds = String(Math.max(600, seconds * 2));
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    ER_METRICS_PORT: '0',
    LOG_LEVEL: 'error',
    ER_POLL_INTERVAL_MS: '50',
    ER_RATE_PER_SECOND: '0',
    ER_EMULATOR_JOB_SECONDS: jobSeconds,
    ...MANY_USERS_ONE_ADDRESS,
  });
  // The emulator's clock jumps past the job's QUEUED phase once it has started.
  let skipQueuedMs = 0;
  const gateway = await startGateway(config, { processMetrics: false, emulator: { clock: () => Date.now() + skipQueuedMs } });
  const emulator = gateway.emulator!;
  const post = async (query: string) => {
    const res = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    return (await res.json()) as { data?: unknown; errors?: unknown[] };
  };
  const started = (await post('mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }')) as {
    data: { startIdMappingJob: { jobId: string } };
  };
  skipQueuedMs = Number(jobSeconds) * 1000 * 0.15;
  const running = emulator.state.holdRunning('idMapping', 'loyalty-id-map').jobId;
  const keys = [
    { workflowName: 'customer-id-map', jobId: started.data.startIdMappingJob.jobId },
    { workflowName: 'loyalty-id-map', jobId: running },
  ];
  global.gc?.();
  const before = process.memoryUsage();

  let delivered = 0;
  let stale = 0;
  const honest = Array.from({ length: 50 }, () =>
    createClient({ url: `${gateway.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 }),
  );
  for (const client of honest) {
    for (const key of keys) {
      client.subscribe<{ idMappingJobUpdated: { stale: boolean } }>(
        { query: UPDATES, variables: key },
        { next: (r) => ((delivered += 1), r.data?.idMappingJobUpdated.stale && (stale += 1)), error: () => {}, complete: () => {} },
      );
    }
  }
  const silent = await Promise.all(Array.from({ length: 5 }, () => RawSocket.open(gateway.url)));
  const slow = await Promise.all(Array.from({ length: 5 }, () => RawSocket.open(gateway.url)));
  for (const socket of [...silent, ...slow]) for (let i = 0; i < 20; i++) socket.subscribe(`s${i}`, UPDATES, keys[i % 2]);
  for (const socket of silent) socket.pause();

  const until = performance.now() + seconds * 1000;
  const queryMs: number[] = [];
  let queryErrors = 0;
  const queries = Array.from({ length: 5 }, async (_, worker) => {
    for (let i = 0; performance.now() < until; i++) {
      const at = performance.now();
      const res = await post(
        `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', (worker * 7 + i) % 90)}") { jobId status } }`,
      );
      queryMs.push(performance.now() - at);
      if (res.errors) queryErrors += 1;
    }
  });
  const faults = (async () => {
    for (let on = true; performance.now() < until; on = !on) {
      emulator.setFaults(on ? { internalErrorRate: 0.5, latencyMs: 200 } : {});
      await sleep(Math.min(5000, Math.max(0, until - performance.now())));
    }
    emulator.setFaults({});
  })();
  const slowReading = (async () => {
    for (let paused = true; performance.now() < until; paused = !paused) {
      for (const socket of slow) {
        if (paused) socket.pause();
        else socket.resume();
      }
      await sleep(500);
    }
  })();
  await Promise.all([...queries, faults, slowReading]);

  const alive = (await post('{ __typename }')).data !== undefined;
  for (const socket of [...silent, ...slow]) socket.close();
  await Promise.all(honest.map(async (client) => client.dispose()));
  global.gc?.();
  const after = process.memoryUsage();
  const dropped = (await gateway.metrics.droppedSockets.get()).values.map((v) => `${v.labels.reason}: ${v.value}`).join(', ') || 'none';
  const skipped = (await gateway.metrics.skippedEvents.get()).values[0]?.value ?? 0;
  const polls = (await gateway.metrics.polls.get()).values.map((v) => `${v.labels.outcome}: ${v.value}`).join(', ');
  console.log(
    `\nsoak: ${seconds} s; 50 honest clients × 2 jobs, 5 silent and 5 slow sockets × 20 subscriptions, 5 query workers; 50 ms polls; faults (50% 500s, 200 ms latency) on and off every 5 s`,
  );
  console.log(
    '| events to honest clients | of them stale | events skipped by slow subscribers | sockets dropped | polls | queries | query errors | query p99 (ms) | heap start → end (MB) | RSS start → end (MB) | still serving |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  console.log(
    `| ${delivered} | ${stale} | ${skipped} | ${dropped} | ${polls} | ${queryMs.length} | ${queryErrors} | ${percentile(queryMs, 99).toFixed(0)} | ${mb(before.heapUsed)} → ${mb(after.heapUsed)} | ${mb(before.rss)} → ${mb(after.rss)} | ${alive ? 'yes' : 'NO'} |`,
  );
  await gateway.close();
  if (!alive) throw new Error('the gateway stopped serving during the soak');
}
