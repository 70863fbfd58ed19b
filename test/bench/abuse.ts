import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { seededJobId } from '../../src/emulator/seed';
import { startGateway } from '../../src/server/app';
import { loadConfig } from '../../src/server/config';

/**
 * The abuse run of `npm run bench`: one hostile client doing the worst the
 * limits still let through, all at once, while ten honest clients each ask
 * for its own job once a second, arriving 0.3 s apart. Default settings (the rate governor at
 * 5 calls per second per operation, caches on), with the emulator answering
 * in 50 ms; clients are told apart by X-Forwarded-For from a trusted proxy,
 * as behind a load balancer. Prints the honest clients' success rate and p99
 * (target: 100 %, under 1 s) and what the hostile client got.
 */

const HONEST = 10;
const now = () => performance.now();

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const bogusJobId = (i: number) => `f${i.toString(16).padStart(31, '0')}`;

export async function abuse(seconds: number): Promise<void> {
  const gateway = await startGateway(loadConfig({ PORT: '0', ER_METRICS_PORT: '0', LOG_LEVEL: 'silent', ER_TRUST_PROXY: 'loopback' }), {
    processMetrics: false,
    emulator: { faults: { latencyMs: 50 } },
  });
  const endpoint = `${gateway.url}/graphql`;
  // Honest users read a running job and finished ones.
  const running = gateway.emulator!.state.holdRunning('idMapping', 'loyalty-id-map').jobId;
  const post = async (address: string, body: unknown) => {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
      body: JSON.stringify(body),
    });
    return (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
  };
  const until = now() + seconds * 1000;
  const hostile: Record<string, number> = {};
  const count = (label: string) => (hostile[label] = (hostile[label] ?? 0) + 1);
  const codeOf = (res: { errors?: { extensions?: { code?: string } }[] }) => res.errors?.[0]?.extensions?.code ?? 'ok';

  // The hostile client, from one address, on every door at once.
  const attacker = '10.6.6.6';
  const bigList = {
    query: 'query ($f: Int) { idMappingJobs(workflowName: "customer-id-map", first: $f) { nodes { jobId metrics { inputRecords } } } }',
    variables: { f: 100 },
  };
  const tooBig = {
    query: 'query ($f: Int) { idMappingWorkflows(first: $f) { nodes { jobs(first: $f) { nodes { metrics { inputRecords } } } } } }',
    variables: { f: 100 },
  };
  const entities = {
    query: 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on IdMappingJob { status } } }',
    variables: {
      r: Array.from({ length: 100 }, (_, i) => ({ __typename: 'IdMappingJob', workflowName: 'customer-id-map', jobId: bogusJobId(i) })),
    },
  };
  const loop = async (label: string, body: unknown) => {
    while (now() < until) count(`${label}: ${codeOf(await post(attacker, body))}`);
  };
  const sockets = async () => {
    while (now() < until) {
      const socket = new WebSocket(`${gateway.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', {
        headers: { 'x-forwarded-for': attacker },
      });
      socket.on('error', () => {});
      const closed = new Promise((resolve) => socket.once('close', resolve));
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await new Promise((resolve) => socket.once('message', resolve));
      for (let i = 0; i < 150; i++) {
        socket.send(
          JSON.stringify({
            id: String(i),
            type: 'subscribe',
            payload: {
              query: 'subscription ($w: String!, $j: ID!) { idMappingJobUpdated(workflowName: $w, jobId: $j) { status } }',
              variables: { w: 'customer-id-map', j: bogusJobId(i) },
            },
          }),
        );
      }
      await sleep(500);
      // And a frame of a megabyte before leaving.
      socket.send('x'.repeat(2 ** 20));
      count(`socket closed: ${await closed.then(() => 'yes')}`);
    }
  };

  // Ten honest clients, each from its own address, each asking for its job once a second: half for a running job, half for a finished one each.
  const latencies: number[] = [];
  let honestOk = 0;
  let honestFailed = 0;
  const failures: Record<string, number> = {};
  const honest = async (n: number) => {
    // Users arrive apart, not in the same millisecond: 0.3 s after one another.
    await sleep(300 * n);
    while (now() < until) {
      const job = n % 2 === 0 ? { w: 'loyalty-id-map', j: running } : { w: 'customer-id-map', j: seededJobId('customer-id-map', n) };
      const started = now();
      const res = await post(`10.0.1.${n}`, { query: `{ idMappingJob(workflowName: "${job.w}", jobId: "${job.j}") { status } }` });
      latencies.push(now() - started);
      if (res.errors) {
        honestFailed++;
        failures[codeOf(res)] = (failures[codeOf(res)] ?? 0) + 1;
      } else honestOk++;
      await sleep(Math.max(0, 1000 - (now() - started)));
    }
  };

  gateway.emulator!.resetRequests();
  await Promise.all([
    ...[0, 1, 2, 3].map(() => loop('list of 100 with metrics', bigList)),
    loop('nested lists by variables', tooBig),
    ...[0, 1].map(() => loop('_entities of 100 bogus jobs', entities)),
    sockets(),
    ...Array.from({ length: HONEST }, (_, n) => honest(n)),
  ]);
  const total = honestOk + honestFailed;
  console.log(`\n## Abuse (${seconds} s): one hostile client, ${HONEST} honest clients asking for one job each per second\n`);
  console.log('| honest requests | success | p50 | p99 | target |');
  console.log('| --- | --- | --- | --- | --- |');
  console.log(
    `| ${total} | ${((100 * honestOk) / total).toFixed(1)} %${honestFailed ? ` (${JSON.stringify(failures)})` : ''} | ${percentile(latencies, 50).toFixed(0)} ms | ${percentile(latencies, 99).toFixed(0)} ms | 100 %, p99 < 1000 ms: ${honestFailed === 0 && percentile(latencies, 99) < 1000 ? 'met' : 'missed'} |`,
  );
  console.log('\nWhat the hostile client got:\n');
  for (const [label, n] of Object.entries(hostile).sort()) console.log(`- ${label}: ${n}`);
  console.log(
    `- upstream calls in all: ${gateway.emulator!.requests()} (${(gateway.emulator!.requests() / seconds).toFixed(1)} per second); watched jobs at the end: ${gateway.watcher.watchedJobs}`,
  );
  await gateway.close();
}
