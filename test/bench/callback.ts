import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { INTERVAL_MS, now, withBenchGateway } from './bench-gateway';

/**
 * Callback subscriptions (the HTTP callback protocol) at scale: `count`
 * subscriptions, as a router would hold them, spread over two changing jobs,
 * all calling back one receiver, a plain HTTP server in a process of its own
 * that answers 204 and prints when each `next` arrived (a hand-held receiver,
 * not a router: a router's own cost is not measured). Reports the `next`
 * messages delivered per second over the window and the delivery latency:
 * from the emulator's answer to the poll that saw a change to the receiver
 * having the message.
 */

const WINDOW_MS = 6000;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** The receiver: one line per `next`, `<subscription id> <arrival ms>`. */
async function receiver(): Promise<{ url: string; arrivals: [string, number][]; stop: () => void }> {
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
       s.listen(0, '127.0.0.1', () => console.log(s.address().port));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<string>((done) => lines.once('line', done));
  const arrivals: [string, number][] = [];
  lines.on('line', (line) => {
    const [id, at] = line.split(' ');
    arrivals.push([id, Number(at)]);
  });
  return { url: `http://127.0.0.1:${port}`, arrivals, stop: () => child.kill() };
}

export async function callbackFanout(count: number): Promise<void> {
  const back = await receiver();
  const answers = new Map<string, number[]>();
  try {
    await withBenchGateway(answers, { ER_CALLBACK_URL_ALLOW: back.url }, async (gateway) => {
      const post = async (body: unknown) =>
        (await (
          await fetch(`${gateway.url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          })
        ).json()) as { data: Record<string, { jobId: string }> };
      const a = (await post({ query: 'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }' })).data;
      const b = (await post({ query: 'mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }' })).data;
      const jobs = [
        { field: 'idMappingJobUpdated', workflowName: 'customer-id-map', jobId: a.startIdMappingJob.jobId },
        { field: 'matchingJobUpdated', workflowName: 'customer-matching', jobId: b.startMatchingJob.jobId },
      ];
      // Started jobs queue for a tenth of their time: measure while they run and change.
      await sleep(10_000);
      const jobOf = new Map<string, string>();
      const started = performance.now();
      for (let i = 0; i < count; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, count - i) }, async (_, k) => {
            const job = jobs[(i + k) % jobs.length];
            const id = randomUUID();
            jobOf.set(id, job.jobId);
            const res = await post({
              query: `subscription { ${job.field}(workflowName: "${job.workflowName}", jobId: "${job.jobId}") { id status metrics { inputRecords totalRecordsProcessed } } }`,
              extensions: {
                subscription: { callbackUrl: `${back.url}/callback/${id}`, subscriptionId: id, verifier: id, heartbeatIntervalMs: 5000 },
              },
            });
            if ((res as { errors?: unknown }).errors) throw new Error(JSON.stringify(res));
          }),
        );
      }
      const connectMs = performance.now() - started;
      const from = now();
      await sleep(WINDOW_MS);
      const until = now();
      const inWindow = back.arrivals.filter(([, at]) => at >= from && at < until);
      const latencies = inWindow.flatMap(([id, at]) => {
        const polled = (answers.get(jobOf.get(id)!) ?? []).filter((t) => t <= at).at(-1);
        return polled === undefined ? [] : [at - polled];
      });
      const metrics = await (await fetch(`${gateway.metricsUrl}/metrics`)).text();
      const dropped = metrics
        .split('\n')
        .filter((line) => line.startsWith('er_gateway_callback_messages_dropped_total'))
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
      console.log(
        `\ncallback subscriptions: ${count} over 2 changing jobs, one hand-held receiver (its own process), heartbeat 5 s, poll interval ${INTERVAL_MS} ms, measured over ${WINDOW_MS / 1000} s`,
      );
      console.log('| subscriptions | subscribe all (s) | next delivered per s | delivery p50 (ms) | delivery p99 (ms) | dropped |');
      console.log('| --- | --- | --- | --- | --- | --- |');
      console.log(
        `| ${count} | ${(connectMs / 1000).toFixed(1)} | ${(inWindow.length / (WINDOW_MS / 1000)).toFixed(0)} | ${percentile(latencies, 50).toFixed(1)} | ${percentile(latencies, 99).toFixed(1)} | ${dropped} |`,
      );
    });
  } finally {
    back.stop();
  }
}
