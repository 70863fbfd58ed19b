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
 * receiving is not.
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

async function measure(env: Record<string, string>, seconds: number): Promise<Load> {
  const gateway = await startGateway(loadConfig({ PORT: '0', ER_METRICS_PORT: '0', LOG_LEVEL: 'info', ...env }), {
    logger: pino({ level: 'info' }, pino.destination('/dev/null')),
  });
  try {
    const url = `${gateway.url}/graphql`;
    const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: job });
    const checked = (await answer.json()) as { errors?: unknown };
    if (!answer.ok || checked.errors) throw new Error(JSON.stringify(checked));
    await load(url, job, WARM_SECONDS);
    return await load(url, job, seconds);
  } finally {
    await gateway.close();
  }
}

export async function tracingCost(seconds: number): Promise<void> {
  console.log(
    `\ntracing cost on Node ${process.versions.node}: 50 connections, ${seconds} s each after ${WARM_SECONDS} s warm-up, no traceparent sent\n`,
  );
  console.log('| query | tracing | requests/s | p50 (ms) | p99 (ms) | ratio to off (target) |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  const sink = await collector();
  try {
    for (const scenario of SCENARIOS) {
      let off: Load | undefined;
      for (const mode of MODES) {
        const r = await measure({ ...scenario.env, ...mode.env(sink.url) }, seconds);
        off ??= r;
        const ratio = r.rps / off.rps;
        const verdict = mode.target === undefined ? '' : ` (≥ ${mode.target})${ratio >= mode.target ? '' : ' MISSED'}`;
        console.log(
          `| ${scenario.label} | ${mode.label} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | **${ratio.toFixed(2)}**${verdict} |`,
        );
      }
    }
  } finally {
    sink.stop();
  }
}
