import { composeServices } from '@apollo/composition';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, type ExecutionResult } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { newApiKey, writeTempFile } from './utils/auth';
import { docBlock, runBlock, typeErrors } from './utils/docs';
import { startTestGateway, type TestGateway } from './utils/gateway';
import { leftover } from './utils/leftovers';
import { until } from './utils/wait';

/**
 * er-gateway as a subgraph in callback mode behind Hive Gateway, with
 * @graphql-mesh/transport-http-callback as docs/federation.md sets it up (the
 * page's block, run as written), beside a second subgraph whose field the
 * router adds to every event.
 */

const block = docBlock('docs/federation.md', 'hive-callback');
const HEARTBEAT_MS = 1000;

const pinsTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.4", import: ["@key"])
  type Query { pinCount: Int! }
  type IdMappingJob @key(fields: "workflowName jobId") {
    workflowName: String!
    jobId: ID!
    pinnedBy: String!
  }
`);

/** The second subgraph: who pinned each job. */
async function startPins(): Promise<string> {
  const pins = new ApolloServer({
    plugins: [ApolloServerPluginInlineTraceDisabled()],
    schema: buildSubgraphSchema({
      typeDefs: pinsTypeDefs,
      resolvers: {
        Query: { pinCount: () => 0 },
        IdMappingJob: {
          __resolveReference: (ref: { workflowName: string; jobId: string }) => ref,
          pinnedBy: (job: { jobId: string }) => `ops-${job.jobId.slice(0, 4)}`,
        },
      },
    }),
  });
  const { url } = await startStandaloneServer(pins, { listen: { port: 0, host: '127.0.0.1' } });
  leftover(() => pins.stop());
  return url;
}

/** A port free now, for the router whose public callback URL must be known before it listens. */
async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((done) => probe.close(done));
  return port;
}

interface Router {
  url: string;
  /** Stops the router: its callback endpoint goes with it. */
  stop(): Promise<void>;
}

/** The page's router in front of `t` and the pins subgraph, its heartbeat `HEARTBEAT_MS`. */
async function startRouter(t: TestGateway, pinsUrl: string, port: number): Promise<Router> {
  const composed = composeServices([
    { name: 'er-gateway', typeDefs: parse(readFileSync(resolve(__dirname, '../schema.graphql'), 'utf8')), url: t.endpoint },
    { name: 'pins', typeDefs: pinsTypeDefs, url: pinsUrl },
  ]);
  if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
  const supergraph = writeTempFile('supergraph.graphql', composed.supergraphSdl);
  const { gateway, server } = runBlock<{ gateway: { dispose(): Promise<void> }; server: Server }>(block, ['gateway', 'server'], {
    addresses: {
      "'supergraph.graphql'": JSON.stringify(supergraph),
      '127.0.0.1:4100': `127.0.0.1:${port}`,
      'listen(4100)': `listen(${port}, '127.0.0.1')`,
      'heartbeat_interval: 5000': `heartbeat_interval: ${HEARTBEAT_MS}`,
    },
  });
  const stop = leftover(async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
    await gateway.dispose();
  });
  if (!server.listening) await once(server, 'listening');
  return { url: `http://127.0.0.1:${port}/graphql`, stop };
}

type Update = { idMappingJobUpdated: { status: string; pinnedBy: string } };

/** A client's subscription at the router over SSE: its results as they come, and its end. */
function subscribe(router: string, query: string, headers: Record<string, string> = {}) {
  const client = createSseClient({ url: router, headers, retryAttempts: 0 });
  const results: ExecutionResult<Update, unknown>[] = [];
  const ended = new Promise<void>((done, failed) => {
    client.subscribe<Update>({ query }, { next: (result) => void results.push(result), error: failed, complete: done });
  });
  leftover(() => client.dispose());
  return { results, ended, leave: () => client.dispose() };
}

const updates = (jobId: string) =>
  `subscription { idMappingJobUpdated(workflowName: "customer-id-map", jobId: "${jobId}") { status pinnedBy } }`;

async function startJob(router: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(router, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: 'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }' }),
  });
  const body = (await res.json()) as { data?: { startIdMappingJob: { jobId: string } }; errors?: unknown[] };
  expect(body.errors).toBeUndefined();
  return body.data!.startIdMappingJob.jobId;
}

async function callbackStreams(t: TestGateway): Promise<number> {
  const text = await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('er_gateway_active_streams{transport="callback"}'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test("a subscription through the router reaches SUCCEEDED with the other subgraph's field on every event", async () => {
  const port = await freePort();
  const t = await startTestGateway({
    env: { ER_EMULATOR_JOB_SECONDS: '1', ER_POLL_INTERVAL_MS: '100', ER_CALLBACK_URL_ALLOW: `http://127.0.0.1:${port}` },
  });
  const router = await startRouter(t, await startPins(), port);
  const jobId = await startJob(router.url);
  const { results, ended } = subscribe(router.url, updates(jobId));
  await ended;
  expect(results.flatMap((result) => result.errors ?? [])).toEqual([]);
  expect(results.at(-1)!.data!.idMappingJobUpdated.status).toBe('SUCCEEDED');
  for (const result of results) expect(result.data!.idMappingJobUpdated.pinnedBy).toBe(`ops-${jobId.slice(0, 4)}`);
  await until(async () => t.gateway.watcher.watchedJobs === 0 && (await callbackStreams(t)) === 0);
});

test("with auth on, the router forwards the client's API key on its callback subscription request; without one the subscription is refused", async () => {
  const pipeline = newApiKey();
  const port = await freePort();
  const t = await startTestGateway({
    env: {
      ER_EMULATOR_JOB_SECONDS: '1',
      ER_POLL_INTERVAL_MS: '100',
      ER_CALLBACK_URL_ALLOW: `http://127.0.0.1:${port}`,
      ER_AUTH: 'apikey',
      ER_API_KEYS: `pipeline:${pipeline.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [{ to: { apiKeys: ['pipeline'] }, workflows: ['customer-*'], actions: ['read', 'start', 'subscribe'] }],
      }),
    },
  });
  const router = await startRouter(t, await startPins(), port);
  const headers = { 'x-api-key': pipeline.key };
  const jobId = await startJob(router.url, headers);
  const allowed = subscribe(router.url, updates(jobId), headers);
  await allowed.ended;
  expect(allowed.results.flatMap((result) => result.errors ?? [])).toEqual([]);
  expect(allowed.results.at(-1)!.data!.idMappingJobUpdated.status).toBe('SUCCEEDED');
  const refused = subscribe(router.url, updates(jobId));
  await refused.ended.catch(() => undefined);
  expect(refused.results.flatMap((result) => result.errors ?? []).map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
});

describe('the router ending a subscription mid-job', () => {
  let t: TestGateway;
  let pinsUrl: string;

  beforeAll(async () => {
    // Jobs long enough to be mid-job throughout.
    t = await startTestGateway({
      env: { ER_EMULATOR_JOB_SECONDS: '600', ER_POLL_INTERVAL_MS: '100', ER_CALLBACK_URL_ALLOW: 'http://127.0.0.1:*/callback/**' },
    });
    pinsUrl = await startPins();
  });
  afterEach(() => {
    for (const job of t.emulator.state.listJobs('idMapping', 'customer-id-map', 100, undefined).items) {
      if (job.status === 'RUNNING' || job.status === 'QUEUED')
        t.emulator.state.failJob('idMapping', 'customer-id-map', job.jobId, 'ended by the test');
    }
  });

  test('a client that leaves: the router answers the next heartbeat 404, and er-gateway ends the subscription within the heartbeat interval, its poller released', async () => {
    const router = await startRouter(t, pinsUrl, await freePort());
    const jobId = await startJob(router.url);
    const client = subscribe(router.url, updates(jobId));
    void client.ended.catch(() => undefined);
    await until(() => client.results.length > 0);
    expect(t.gateway.watcher.watchedJobs).toBe(1);
    const left = performance.now();
    client.leave();
    await until(async () => t.gateway.watcher.watchedJobs === 0 && (await callbackStreams(t)) === 0);
    expect(performance.now() - left).toBeLessThan(HEARTBEAT_MS * 1.5);
  });

  test('a router that goes away (connection refused): er-gateway gives up after its bounded retries, within about a heartbeat interval, its poller released', async () => {
    const router = await startRouter(t, pinsUrl, await freePort());
    const jobId = await startJob(router.url);
    const client = subscribe(router.url, updates(jobId));
    void client.ended.catch(() => undefined);
    await until(() => client.results.length > 0);
    const gone = performance.now();
    await router.stop();
    await until(async () => t.gateway.watcher.watchedJobs === 0 && (await callbackStreams(t)) === 0);
    // The next heartbeat (at 80% of the interval), then retries for at most one interval.
    expect(performance.now() - gone).toBeLessThan(HEARTBEAT_MS * 2.5);
  });

  test("a router whose callback URL er-gateway may not call: the client's subscription fails with FORBIDDEN", async () => {
    const own = await startTestGateway({ env: { ER_CALLBACK_URL_ALLOW: 'https://router.elsewhere.example' } });
    const router = await startRouter(own, pinsUrl, await freePort());
    const client = subscribe(router.url, updates('f'.repeat(32)));
    await client.ended;
    expect(client.results.flatMap((result) => result.errors ?? []).map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(own.gateway.watcher.watchedJobs).toBe(0);
  });
});

test('the callback router block compiles as a file of a strict TypeScript project', () => {
  expect(typeErrors(block)).toEqual([]);
});
