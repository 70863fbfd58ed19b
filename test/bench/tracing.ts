import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { seededJobId } from '../../src/emulator/seed';
import { compareModes, median, medianRatio, offGatewayCpu, WARM_SECONDS } from './modes';

/**
 * What tracing costs: the cached-job and executed-job throughput with
 * tracing off, on at 100 % sampling and on at a parent-based 10 %, each as
 * a ratio to off measured in the same run (this machine's speed drifts
 * between runs). Spans go over OTLP/HTTP (protobuf) to a collector in a
 * process of its own that accepts and drops them, so exporting is paid and
 * receiving is not. Each gateway runs as `npm start` runs it, in a process
 * of its own (no other gateway's export, garbage or compiled code is charged
 * to it). Beside requests/s, the CPU time the loaded gateway's process spends
 * per request served: on a machine others load too, its ratio is the steadier
 * figure of what tracing costs.
 */

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

/** Rounds per mode in each set of processes, taken in turn (off, on, 10 %; then on, 10 %, off; …) so that the machine's drift falls on every mode alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** Sets of processes, one after the other (`compareModes`): two processes of the same code differ by up to a fifth. */
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 2);

/**
 * Per scenario, one gateway process per mode (`compareModes`), measured
 * `ROUNDS` times in turn. A mode's figure is its median round; its ratio,
 * the median of its rounds' ratios to the off round of the same cycle.
 */
export async function tracingCost(seconds: number): Promise<void> {
  return offGatewayCpu(() => measureTracing(seconds));
}

async function measureTracing(seconds: number): Promise<void> {
  const round = Math.max(1, Math.round(seconds / ROUNDS));
  console.log(
    `\ntracing cost on Node ${process.versions.node}: 50 connections, ${ROUNDS} rounds of ${round} s per mode taken in turn after ${WARM_SECONDS} s warm-up, in each of ${PROCESSES} sets of gateway processes; no traceparent sent\n`,
  );
  console.log(
    "| query | tracing | requests/s | p50 (ms) | p99 (ms) | ratio to off (target) | CPU µs per request | CPU ratio to off (its rounds' range) |",
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const sink = await collector();
  try {
    for (const scenario of SCENARIOS) {
      const measured = await compareModes(
        job,
        MODES.map((mode) => ({ label: mode.label, env: { ...scenario.env, ...mode.env(sink.url) } })),
        { rounds: ROUNDS, seconds: round, warmSeconds: WARM_SECONDS, processes: PROCESSES },
      );
      const off = measured[0];
      for (const [m, mode] of MODES.entries()) {
        const { loads, cpuUs } = measured[m];
        const ratio = medianRatio(
          loads.map((l) => l.rps),
          off.loads.map((l) => l.rps),
        );
        const mid = loads.find((l) => l.rps === median(loads.map((x) => x.rps)))!;
        const verdict = mode.target === undefined ? '' : ` (≥ ${mode.target})${ratio >= mode.target ? '' : ' MISSED'}`;
        // Throughput as the CPU a request costs would bound it: the machine's other load moves it far less than requests/s.
        const cpuRatios = off.cpuUs.map((us, r) => us / cpuUs[r]);
        const cpuRatio = median(cpuRatios);
        const spread = m === 0 ? '' : ` (${Math.min(...cpuRatios).toFixed(2)}–${Math.max(...cpuRatios).toFixed(2)})`;
        console.log(
          `| ${scenario.label} | ${mode.label} | ${mid.rps.toFixed(0)} | ${mid.p50} | ${mid.p99} | **${ratio.toFixed(2)}**${verdict} | ${median(cpuUs).toFixed(0)} | ${cpuRatio.toFixed(2)}${spread} |`,
        );
      }
    }
  } finally {
    sink.stop();
  }
}
