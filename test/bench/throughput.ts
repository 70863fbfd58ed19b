import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { seededJobId } from '../../src/emulator/seed';
import { startGateway } from '../../src/server/app';
import { loadConfig } from '../../src/server/config';

/**
 * Throughput against the ceiling: the gateway with its production defaults
 * (caches, governor and limits on, info logging to /dev/null) beside a bare
 * Apollo Server from `startStandaloneServer` answering `{ hello }`, measured
 * in the same run, both warmed up, by autocannon in a process of its own.
 */

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
}

const CONNECTIONS = 50;
const WARM_SECONDS = 2;

/** autocannon's CLI, so the load generator does not share the servers' event loop. */
export async function load(url: string, body: string, seconds: number, connections = CONNECTIONS): Promise<Load> {
  const cli = resolve(__dirname, '../../node_modules/autocannon/autocannon.js');
  const args = ['--json', '-c', String(connections), '-d', String(seconds), '-m', 'POST', '-H', 'content-type=application/json', '-b', body, url];
  const { stdout } = await promisify(execFile)(process.execPath, [cli, ...args], { maxBuffer: 16 * 2 ** 20 });
  const r = JSON.parse(stdout) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, non2xx: r.non2xx, errors: r.errors };
}

/** Warmed for two seconds, then measured. */
async function measure(url: string, body: string, seconds: number): Promise<Load> {
  await load(url, body, WARM_SECONDS);
  return load(url, body, seconds);
}

const query = (text: string) => JSON.stringify({ query: text });

const SCENARIOS = [
  {
    label: 'a single finished job (status, times, two metrics)',
    target: 0.8,
    body: query(
      `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 5)}") { status startTime endTime metrics { inputRecords totalRecordsProcessed } } }`,
    ),
  },
  {
    label: 'a list of 25 finished jobs with metrics',
    target: 0.4,
    body: query('{ idMappingJobs(workflowName: "customer-id-map", first: 25) { nodes { jobId status metrics { inputRecords totalRecordsProcessed } } } }'),
  },
  { label: '`{ __typename }`', target: 0.9, body: query('{ __typename }') },
];

async function bareServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const apollo = new ApolloServer({ typeDefs: 'type Query { hello: String }', resolvers: { Query: { hello: () => 'world' } } });
  const { url } = await startStandaloneServer(apollo, { listen: { port: 0, host: '127.0.0.1' } });
  return { url, stop: () => apollo.stop() };
}

const row = (label: string, r: Load, ratio?: string) =>
  `| ${label} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.non2xx + r.errors} | ${ratio ?? '—'} |`;

/** Prints each scenario's requests/s, p50/p99 and its ratio to the bare server, measured before and after the gateway. */
export async function throughput(seconds: number): Promise<void> {
  console.log(`\nthroughput: ${CONNECTIONS} connections, ${seconds} s each after ${WARM_SECONDS} s warm-up; bare = Apollo Server startStandaloneServer answering { hello }\n`);
  console.log('| server, query | requests/s | p50 (ms) | p99 (ms) | non-2xx or errors | ratio to bare (target) |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  const hello = query('{ hello }');
  const bare = await bareServer();
  const bareBefore = await measure(bare.url, hello, seconds).finally(() => bare.stop());
  console.log(row('bare Apollo Server, `{ hello }`, before', bareBefore));

  const config = loadConfig({ PORT: '0', LOG_LEVEL: 'info' });
  const gateway = await startGateway(config, { logger: pino({ level: 'info' }, pino.destination('/dev/null')) });
  const results: Load[] = [];
  try {
    for (const scenario of SCENARIOS) results.push(await measure(`${gateway.url}/graphql`, scenario.body, seconds));
  } finally {
    await gateway.close();
  }

  const again = await bareServer();
  const bareAfter = await measure(again.url, hello, seconds).finally(() => again.stop());
  console.log(row('bare Apollo Server, `{ hello }`, after', bareAfter));
  const bareRps = (bareBefore.rps + bareAfter.rps) / 2;
  SCENARIOS.forEach((scenario, i) => {
    const ratio = results[i].rps / bareRps;
    console.log(row(`er-gateway, ${scenario.label}`, results[i], `**${ratio.toFixed(2)}** (≥ ${scenario.target})${ratio >= scenario.target ? '' : ' MISSED'}`));
  });
}
