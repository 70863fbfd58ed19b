import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { seededJobId } from '../../src/emulator/seed';
import { startGateway } from '../../src/server/app';
import { loadConfig } from '../../src/server/config';
import { load, type Load } from './throughput';

/**
 * What tracing costs: the cached-job and executed-job throughput with
 * tracing off, on at 100 % sampling and on at a parent-based 10 %, each as
 * a ratio to off measured in the same run (this machine's speed drifts
 * between runs). Spans go over OTLP/HTTP (protobuf) to a collector in a
 * process of its own that accepts and drops them, so exporting is paid and
 * receiving is not. Beside requests/s, the CPU time this process spends per
 * request served: on a machine others load too, its ratio is the steadier
 * figure of what tracing costs.
 */

const WARM_SECONDS = 2;

/** A stand-in collector: answers every export 200 and keeps nothing. */
async function collector(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('http').createServer((q, r) => { q.resume(); q.on('end', () => r.end()); });
       s.listen(0, '127.0.0.1', () => console.log(s.address().port));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<string>((done) => createInterface({ input: child.stdout! }).once('line', done));
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

const job = JSON.stringify({
  query: `query FinishedJob { idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 5)}") { status startTime endTime metrics { inputRecords totalRecordsProcessed } } }`,
});

const SCENARIOS: { label: string; env: Record<string, string> }[] = [
  { label: 'cached job (response cache)', env: {} },
  { label: 'executed job (response cache off; the job from the final-job cache)', env: { ER_RESPONSE_CACHE_MB: '0' } },
];

const MODES: { label: string; target?: number; env: (collectorUrl: string) => Record<string, string> }[] = [
  { label: 'off', env: () => ({}) },
  {
    label: 'on, 100 %',
    target: 0.7,
    env: (url) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_TRACES_SAMPLER: 'always_on' }),
  },
  {
    label: 'on, parent-based 10 %',
    target: 0.9,
    env: (url) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }),
  },
];

/** Rounds per mode, taken in turn (off, on, 10 %; then on, 10 %, off; …) so that the machine's drift falls on every mode alike. */
const ROUNDS = 3;

async function gatewayWith(env: Record<string, string>): Promise<{ url: string; close: () => Promise<void> }> {
  const gateway = await startGateway(loadConfig({ PORT: '0', ER_METRICS_PORT: '0', LOG_LEVEL: 'info', ...env }), {
    logger: pino({ level: 'info' }, pino.destination('/dev/null')),
  });
  const url = `${gateway.url}/graphql`;
  const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: job });
  const checked = (await answer.json()) as { errors?: unknown };
  if (!answer.ok || checked.errors) throw new Error(JSON.stringify(checked));
  return { url, close: () => gateway.close() };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Per scenario, one gateway per mode, all started at once (only one is
 * loaded at a time); each warmed, then measured `ROUNDS` times in turn,
 * each cycle starting with the next mode. A mode's figure is its median
 * round; its ratio, the median of its rounds' ratios to the off round of the
 * same cycle.
 */
export async function tracingCost(seconds: number): Promise<void> {
  const round = Math.max(1, Math.round(seconds / ROUNDS));
  console.log(
    `\ntracing cost on Node ${process.versions.node}: 50 connections, ${ROUNDS} rounds of ${round} s per mode taken in turn after ${WARM_SECONDS} s warm-up, no traceparent sent\n`,
  );
  console.log('| query | tracing | requests/s | p50 (ms) | p99 (ms) | ratio to off (target) | CPU µs per request | CPU ratio to off |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const sink = await collector();
  try {
    for (const scenario of SCENARIOS) {
      const gateways = await Promise.all(MODES.map((mode) => gatewayWith({ ...scenario.env, ...mode.env(sink.url) })));
      try {
        for (const gateway of gateways) await load(gateway.url, job, WARM_SECONDS);
        const rounds: Load[][] = MODES.map(() => []);
        /** This process's CPU time per request served (the gateways and the emulator; the load is another process's). */
        const cpu: number[][] = MODES.map(() => []);
        for (let r = 0; r < ROUNDS; r++) {
          // Each cycle starts with another mode: what one leaves behind (spans still to export, garbage) falls on each in turn.
          for (let k = 0; k < MODES.length; k++) {
            const m = (r + k) % MODES.length;
            (globalThis as { gc?: () => void }).gc?.();
            const before = process.cpuUsage();
            const served = await load(gateways[m].url, job, round);
            const used = process.cpuUsage(before);
            rounds[m].push(served);
            cpu[m].push((used.user + used.system) / served.total);
          }
        }
        for (const [m, mode] of MODES.entries()) {
          const loads = rounds[m];
          const ratio = median(loads.map((l, r) => l.rps / rounds[0][r].rps));
          const mid = loads.find((l) => l.rps === median(loads.map((x) => x.rps)))!;
          const verdict = mode.target === undefined ? '' : ` (≥ ${mode.target})${ratio >= mode.target ? '' : ' MISSED'}`;
          // Throughput as the CPU a request costs would bound it: the machine's other load moves it far less than requests/s.
          const cpuRatio = median(cpu[m].map((us, r) => cpu[0][r] / us));
          console.log(
            `| ${scenario.label} | ${mode.label} | ${mid.rps.toFixed(0)} | ${mid.p50} | ${mid.p99} | **${ratio.toFixed(2)}**${verdict} | ${median(cpu[m]).toFixed(0)} | ${cpuRatio.toFixed(2)} |`,
          );
        }
      } finally {
        await Promise.all(gateways.map((gateway) => gateway.close()));
      }
    }
  } finally {
    sink.stop();
  }
}
