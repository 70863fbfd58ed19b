import { seededJobId } from '../../src/emulator/seed';
import { startGateway, type Gateway } from '../../src/server/app';
import { loadConfig } from '../../src/server/config';
import { load } from './throughput';

/**
 * The rate-limit scenarios of `npm run bench`: what queries cost upstream,
 * how fast the gateway answers them, and whether bursts stay within budget.
 * Load comes from autocannon in a process of its own.
 */

const LATENCY_MS = 50;
const now = () => performance.now();
const finished = { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 5) };
const jobQuery = (job: typeof finished) =>
  JSON.stringify({
    query: `{ idMappingJob(workflowName: "${job.workflowName}", jobId: "${job.jobId}") { status metrics { inputRecords totalRecordsProcessed } } }`,
  });

/** A short unmeasured run first, so that the gateway is measured warm. */
async function warm(url: string, body: string): Promise<void> {
  await load(url, body, 2, 10);
}

/** Times of the emulator's answers to Gets, and which of them throttled. */
interface Answers {
  at: number[];
  throttled: number;
}

async function gateway(env: Record<string, string>, answers?: Answers): Promise<Gateway> {
  return startGateway(loadConfig({ PORT: '0', ER_METRICS_PORT: '0', LOG_LEVEL: 'silent', ...env }), {
    processMetrics: false,
    emulator: {
      faults: { latencyMs: LATENCY_MS, rateLimitPerSecond: Number(env.EMULATOR_RATE_LIMIT ?? 0) },
      onAnswer: (operation, _target, status) => {
        if (!answers || operation !== 'GetIdMappingJob') return;
        answers.at.push(now());
        if (status === 429) answers.throttled++;
      },
    },
  });
}

async function post(g: Gateway, body: string): Promise<{ ms: number; data: unknown; errors?: { extensions?: { code?: string } }[] }> {
  const started = now();
  const res = await fetch(`${g.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const json = (await res.json()) as { data: unknown; errors?: { extensions?: { code?: string } }[] };
  return { ms: now() - started, ...json };
}

const gets = (g: Gateway) => g.emulator!.requests('GetIdMappingJob');

/** Scenario 1: one query over a workflow's 100 jobs with metrics, cold then warm. */
async function hundredJobs(): Promise<string[]> {
  const body = JSON.stringify({
    query: '{ idMappingJobs(workflowName: "customer-id-map", first: 100) { nodes { jobId metrics { inputRecords } } } }',
  });
  const rows: string[] = [];
  for (const [label, env] of [
    ['governor off', { ER_RATE_PER_SECOND: '0' }],
    ['governor 5/s (default)', {}],
  ] as const) {
    const g = await gateway(env);
    try {
      const cold = await post(g, body);
      const coldGets = gets(g);
      const throttled = (cold.errors ?? []).filter((e) => e.extensions?.code === 'THROTTLED').length;
      g.emulator!.resetRequests();
      const warm = await post(g, body);
      rows.push(
        `| ${label} | ${coldGets} Gets + 4 Lists, ${cold.ms.toFixed(0)} ms${throttled ? `, ${throttled} fields THROTTLED` : ''} | ${gets(g)} Gets + ${g.emulator!.requests('ListIdMappingJobs')} Lists, ${warm.ms.toFixed(0)} ms |`,
      );
    } finally {
      await g.close();
    }
  }
  return rows;
}

/** Scenarios 2 and 3: 50 clients repeating one job query: what it costs upstream (speed against a bare server is `throughput`). */
async function repeatedQuery(seconds: number): Promise<string[]> {
  const rows: string[] = [];
  const g = await gateway({});
  const running = { workflowName: 'loyalty-id-map', jobId: g.emulator!.state.holdRunning('idMapping', 'loyalty-id-map').jobId };
  try {
    for (const [label, job] of [
      ['finished job', finished],
      ['running job', running],
    ] as const) {
      await warm(`${g.url}/graphql`, jobQuery(job));
      g.emulator!.resetRequests();
      const r = await load(`${g.url}/graphql`, jobQuery(job), seconds);
      rows.push(`| gateway, ${label} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${(gets(g) / seconds).toFixed(2)} |`);
    }
  } finally {
    await g.close();
  }
  return rows;
}

/**
 * Scenario 4: a burst beyond the budget, against an emulator that throttles
 * past 5/s as the service does. Each request lists 25 jobs with metrics and
 * nothing is cached, so every request needs 25 Gets.
 */
async function burst(seconds: number): Promise<string[]> {
  const rows: string[] = [];
  for (const [label, rate] of [
    ['governor 5/s', '5'],
    ['governor off', '0'],
  ] as const) {
    const answers: Answers = { at: [], throttled: 0 };
    const g = await gateway(
      { ER_RATE_PER_SECOND: rate, ER_FRESHNESS_MS: '0', ER_FINAL_JOB_CACHE_SIZE: '0', EMULATOR_RATE_LIMIT: '5' },
      answers,
    );
    try {
      const started = now();
      const list = JSON.stringify({
        query: '{ idMappingJobs(workflowName: "customer-id-map", first: 25) { nodes { jobId metrics { inputRecords } } } }',
      });
      const r = await load(`${g.url}/graphql`, list, seconds);
      const perSecond = new Map<number, number>();
      for (const t of answers.at.filter((t) => t >= started)) {
        const second = Math.floor((t - started) / 1000);
        perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
      }
      const text = await (await fetch(`${g.metricsUrl}/metrics`)).text();
      const sum = (pattern: RegExp) => [...text.matchAll(pattern)].reduce((total, m) => total + Number(m[1]), 0);
      const refusals = sum(/^er_gateway_rate_refusals_total\{[^}]*\} (\d+)$/gm);
      const throttledAfterRetries = sum(/^er_gateway_upstream_requests_total\{[^}]*outcome="ThrottlingException"\} (\d+)$/gm);
      rows.push(
        `| ${label} | ${r.total} | ${Math.max(0, ...perSecond.values())} | ${answers.throttled} | ${throttledAfterRetries} | ${refusals} | ${r.p50} | ${r.p99} |`,
      );
    } finally {
      await g.close();
    }
  }
  return rows;
}

export async function frugality(seconds: number): Promise<void> {
  console.log(`\nupstream cost and speed (emulator answering after ${LATENCY_MS} ms)\n`);
  console.log('1. one query, 100 jobs with metrics\n');
  console.log('| rate governor | cold | warm |\n| --- | --- | --- |');
  for (const row of await hundredJobs()) console.log(row);
  console.log(`\n2–3. 50 clients repeating one job query for ${seconds} s\n`);
  console.log('| server | requests/s | p50 (ms) | p99 (ms) | upstream Gets/s |\n| --- | --- | --- | --- | --- |');
  for (const row of await repeatedQuery(seconds)) console.log(row);
  console.log(`\n4. 50 clients listing 25 jobs with metrics, nothing cached, for ${seconds} s; the emulator throttles past 5 Gets/s\n`);
  console.log(
    '| gateway | requests | most Gets reaching the service in one second | Gets the service throttled | throttled calls after SDK retries | queries THROTTLED at once by the governor | p50 (ms) | p99 (ms) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const row of await burst(seconds)) console.log(row);
}
