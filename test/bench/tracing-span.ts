import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createInterface } from 'node:readline';
import { createMetrics } from '../../src/observe/metrics';
import { OperationObserver } from '../../src/observe/operation';
import { startTelemetryExport } from '../../src/observe/telemetry-export';
import { KnownOperation } from '../../src/observe/tracing';
import { clientCode } from '../../src/server/errors';
import { loadConfig } from '../../src/server/config';
import pino from 'pino';

/**
 * What one cached hit's operation costs the process in tracing, in
 * process: `observer.start → settled` as the response cache's hit
 * path runs it, with tracing off, sampled (always_on) and not sampled
 * (always_off), its spans exported over OTLP/HTTP to a collector in a
 * process of its own (so the export's serialization and sending are paid
 * here, the receiving is not). The CPU time of a run includes the exports
 * of its spans: each chunk of operations is followed by turns of the event
 * loop, and the run ends with the tracer's last export.
 */

/** Operations per chunk: below the BatchSpanProcessor's queue (2048), so none is dropped, and one export's batch (512) at a time. */
const CHUNK = 512;

/** A stand-in collector in a process of its own: answers every export 200, keeps nothing, and counts the exports it answered. */
async function collector(): Promise<{ url: string; count: () => number; answered: (count: number) => Promise<void>; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('http').createServer((q, r) => { q.resume(); q.on('end', () => { r.end(); console.log('answered'); }); });
       s.listen(0, '127.0.0.1', () => console.log(s.address().port));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<string>((done) => lines.once('line', done));
  let answered = 0;
  const arrived = new EventEmitter();
  lines.on('line', () => {
    answered++;
    arrived.emit('answered');
  });
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => answered,
    async answered(count) {
      while (answered < count) await once(arrived, 'answered');
    },
    stop: () => child.kill(),
  };
}

/** A request's headers as a client sends them, without a trace context. */
const HEADERS: Record<string, string> = {
  host: '127.0.0.1:4000',
  'content-type': 'application/json',
  'content-length': '180',
  'user-agent': 'autocannon',
  accept: '*/*',
};
const OPERATION = new KnownOperation(
  'query',
  'FinishedJob',
  'query FinishedJob { idMappingJob(workflowName: "customer-id-map", jobId: "j") { status } }',
);

/** Spans the BatchSpanProcessor dropped (its queue full): a run that drops any has not paid for all its exports. */
let dropped = 0;
diag.setLogger(
  {
    ...Object.fromEntries(['error', 'info', 'debug', 'verbose'].map((level) => [level, () => {}])),
    warn: (message: string) => (dropped += Number(/^Dropped (\d+) spans/.exec(message)?.[1] ?? 0)),
  } as unknown as DiagLogger,
  DiagLogLevel.WARN,
);

/** CPU µs per operation of `count` operations, exports included. */
async function measure(sink: Awaited<ReturnType<typeof collector>>, env: Record<string, string>, count: number): Promise<number> {
  const config = loadConfig({ PORT: '0', ER_METRICS_PORT: '0', OTEL_METRICS_EXPORTER: 'none', ...env });
  const metrics = createMetrics({ processMetrics: false });
  const logger = pino({ level: 'silent' });
  const telemetry = startTelemetryExport(config, metrics.registry, { version: 'bench', instanceId: 'bench' }, logger);
  const observer = new OperationObserver(metrics, clientCode, config.metricsOperationNames, telemetry.tracing);
  const sampled = env.OTEL_TRACES_SAMPLER === 'always_on';
  const batch = config.tracing?.maxExportBatchSize ?? CHUNK;
  let ended = 0;
  const first = sink.count();
  const run = async (n: number) => {
    for (let done = 0; done < n; done += CHUNK) {
      for (let i = 0; i < CHUNK; i++) {
        const observed = observer.start((name) => HEADERS[name], OPERATION);
        observed.settled(undefined);
      }
      ended += CHUNK;
      // A full batch is exported at once: wait for the answers (idle time, which costs no CPU), so the queue never overflows.
      if (sampled) await sink.answered(first + Math.floor(ended / batch));
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  await run(count / 4); // warm-up: the JIT, the exporter's connection
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.cpuUsage();
  await run(count);
  await telemetry.dispose();
  const used = process.cpuUsage(before);
  if (dropped > 0) throw new Error(`${dropped} spans dropped: the exports did not keep up`);
  return (used.user + used.system) / count;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Prints the per-operation CPU time of tracing off, sampled and unsampled, the median of `rounds` runs each. */
export async function tracingSpanCost(count = 50_000, rounds = 5): Promise<void> {
  const sink = await collector();
  try {
    const modes: [string, Record<string, string>][] = [
      ['off', {}],
      ['sampled (always_on)', { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'always_on' }],
      ['unsampled (always_off)', { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'always_off' }],
    ];
    // The exporter's settings of this run, if set: the protocol, the batch processor's sizes.
    const passed = Object.fromEntries(
      ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 'OTEL_BSP_MAX_QUEUE_SIZE'].flatMap((name) => {
        const value = process.env[name];
        return value ? [[name, value]] : [];
      }),
    );
    const us: number[][] = modes.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (const [m, [, env]] of modes.entries()) us[m].push(await measure(sink, { ...env, ...passed }, count));
    }
    console.log(
      `\ncached hit's operation in process (start → settled), Node ${process.versions.node}, ${count} per run, median of ${rounds}`,
    );
    console.log('| tracing | CPU µs per operation | over off |');
    console.log('| --- | --- | --- |');
    const off = median(us[0]);
    for (const [m, [label]] of modes.entries())
      console.log(`| ${label} | ${median(us[m]).toFixed(2)} | ${(median(us[m]) - off).toFixed(2)} |`);
  } finally {
    sink.stop();
  }
}
