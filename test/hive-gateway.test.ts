import { composeServices } from '@apollo/composition';
import { parse, type ExecutionResult, type FormattedExecutionResult } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import type { Server } from 'node:http';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { newApiKey, startIssuer, writeTempFile } from './utils/auth';
import { docBlock, runBlock, typeErrors } from './utils/docs';
import { capturedLogger, startTestGateway, type TestGateway } from './utils/gateway';
import { leftover } from './utils/leftovers';

/**
 * er-gateway behind Hive Gateway, as docs/federation.md sets it up: the
 * page's router block, taken from the page and run as written in front of a
 * test gateway (with auth off, then on), serves queries over HTTP and
 * subscriptions that reach a final state, the client's credential forwarded.
 */

const block = docBlock('docs/federation.md', 'hive-gateway');

/**
 * The page's router in front of `t`, the supergraph composed from schema.graphql with `t` as its er-gateway;
 * `change` makes a variant of the block, to show what a line of it is for.
 */
async function startRouter(t: TestGateway, change: (code: string) => string = (code) => code): Promise<string> {
  const composed = composeServices([
    { name: 'er-gateway', typeDefs: parse(readFileSync(resolve(__dirname, '../schema.graphql'), 'utf8')), url: t.endpoint },
  ]);
  if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
  const supergraph = writeTempFile('supergraph.graphql', composed.supergraphSdl);
  const { gateway, server } = runBlock<{ gateway: { dispose(): Promise<void> }; server: Server }>(change(block), ['gateway', 'server'], {
    addresses: { "'supergraph.graphql'": JSON.stringify(supergraph), 'listen(4100)': "listen(0, '127.0.0.1')" },
  });
  leftover(() => gateway.dispose());
  leftover(() => new Promise((done) => server.close(done)));
  if (!server.listening) await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}

/** A query through the router, with these headers. */
async function query<T>(router: string, text: string, headers: Record<string, string> = {}): Promise<FormattedExecutionResult<T>> {
  const res = await fetch(router, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: text }),
  });
  return (await res.json()) as FormattedExecutionResult<T>;
}

/** A subscription through the router over SSE, as a client holds it: every result until it completes (or fails). */
async function subscribe(
  router: string,
  text: string,
  headers: Record<string, string> = {},
): Promise<ExecutionResult<Record<string, { status: string }>, unknown>[]> {
  const client = createSseClient({ url: router, headers, retryAttempts: 0 });
  leftover(() => client.dispose());
  const results: ExecutionResult<Record<string, { status: string }>, unknown>[] = [];
  await new Promise<void>((done, fail) =>
    client.subscribe<Record<string, { status: string }>>(
      { query: text },
      { next: (result) => void results.push(result), error: fail, complete: done },
    ),
  );
  return results;
}

/** Starts a job through the router, subscribes to it there, and returns the statuses its events carried. */
async function jobThroughRouter(router: string, headers: Record<string, string>): Promise<string[]> {
  const started = await query<{ startIdMappingJob: { jobId: string } }>(
    router,
    'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }',
    headers,
  );
  expect(started.errors).toBeUndefined();
  const jobId = started.data!.startIdMappingJob.jobId;
  const events = await subscribe(
    router,
    `subscription { idMappingJobUpdated(workflowName: "customer-id-map", jobId: "${jobId}") { id status metrics { inputRecords } } }`,
    headers,
  );
  expect(events.flatMap((event) => event.errors ?? [])).toEqual([]);
  return events.map((event) => event.data!.idMappingJobUpdated.status);
}

const quick = { ER_EMULATOR_JOB_SECONDS: '1', ER_POLL_INTERVAL_MS: '100' };

test('with auth off, a query and a subscription through the router: the subscription reaches SUCCEEDED and completes', async () => {
  const t = await startTestGateway({ env: quick });
  const router = await startRouter(t);
  const workflows = await query<{ idMappingWorkflows: { nodes: { workflowName: string }[] } }>(
    router,
    '{ idMappingWorkflows { nodes { workflowName } } }',
  );
  expect(workflows.errors).toBeUndefined();
  expect(workflows.data!.idMappingWorkflows.nodes.map((w) => w.workflowName)).toContain('customer-id-map');
  const statuses = await jobThroughRouter(router, {});
  expect(statuses.at(-1)).toBe('SUCCEEDED');
});

test("without `subscriptions: { kind: 'ws' }`, er-gateway refuses the router's subscription request as a possible CSRF (why the block sets it)", async () => {
  const t = await startTestGateway({ env: quick });
  const overHttp = (code: string) => code.replace(/\n {8}subscriptions: \{[\s\S]*?\n {8}\},/, '');
  const router = await startRouter(t, overHttp);
  const events = await subscribe(router, 'subscription { idMappingJobsChanged(workflowName: "customer-id-map") { id } }');
  expect(events.flatMap((event) => event.errors ?? []).map((error) => error.message)).toEqual([
    expect.stringMatching(/^This operation has been blocked as a potential Cross-Site Request Forgery/),
  ]);
});

describe("with auth on, the router forwards the client's credential", () => {
  const pipeline = newApiKey();
  const log = capturedLogger();
  let t: TestGateway;
  let router: string;
  let token: string;

  beforeAll(async () => {
    const issuer = await startIssuer();
    leftover(() => issuer.close());
    t = await startTestGateway({
      logger: log.logger,
      env: {
        ...quick,
        ER_AUTH: 'jwt,apikey',
        ER_JWT_JWKS_URL: issuer.jwksUrl,
        ER_JWT_ISSUER: issuer.issuer,
        ER_JWT_AUDIENCE: issuer.audience,
        ER_API_KEYS: `pipeline:${pipeline.sha256}`,
        ER_POLICY_FILE: writeTempFile('policy.yaml', {
          grants: [
            { to: { apiKeys: ['pipeline'], subjects: ['ada'] }, workflows: ['customer-*'], actions: ['read', 'start', 'subscribe'] },
          ],
        }),
      },
    });
    router = await startRouter(t);
    token = await issuer.sign('ada');
  });

  const refusedSockets = () => log.lines.filter((line) => line.msg === 'websocket not authenticated').length;
  const someJob = '{ idMappingJobs(workflowName: "customer-id-map", first: 1) { nodes { id } } }';

  test('an API key: a query, and a subscription that reaches SUCCEEDED through the router', async () => {
    const headers = { 'x-api-key': pipeline.key };
    const jobs = await query<{ idMappingJobs: { nodes: unknown[] } }>(router, someJob, headers);
    expect(jobs.errors).toBeUndefined();
    expect(jobs.data!.idMappingJobs.nodes).toHaveLength(1);
    expect((await jobThroughRouter(router, headers)).at(-1)).toBe('SUCCEEDED');
    expect(refusedSockets()).toBe(0);
  });

  test('a JWT: a query, and a subscription that reaches SUCCEEDED through the router', async () => {
    const headers = { authorization: `Bearer ${token}` };
    const jobs = await query<{ idMappingJobs: { nodes: unknown[] } }>(router, someJob, headers);
    expect(jobs.errors).toBeUndefined();
    expect((await jobThroughRouter(router, headers)).at(-1)).toBe('SUCCEEDED');
    expect(refusedSockets()).toBe(0);
  });

  test('without a credential, er-gateway refuses the query and closes the websocket the subscription came on', async () => {
    const jobs = await query(router, someJob);
    expect(jobs.errors!.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    const before = refusedSockets();
    const events = await subscribe(router, 'subscription { idMappingJobsChanged(workflowName: "customer-id-map") { id } }');
    expect(events.map((event) => event.data ?? null)).toEqual([null]);
    expect(events[0].errors).toHaveLength(1);
    expect(refusedSockets()).toBe(before + 1);
  });

  test('without connectionParams, the API key reaches er-gateway over HTTP but not over the websocket: the subscription is refused', async () => {
    const headersOnly = (code: string) => code.replace(/\n {10}options: \{ connectionParams: [^\n]*/, '');
    const bare = await startRouter(t, headersOnly);
    const headers = { 'x-api-key': pipeline.key };
    expect((await query(bare, someJob, headers)).errors).toBeUndefined();
    const before = refusedSockets();
    const events = await subscribe(bare, 'subscription { idMappingJobsChanged(workflowName: "customer-id-map") { id } }', headers);
    expect(events.map((event) => event.data ?? null)).toEqual([null]);
    expect(refusedSockets()).toBe(before + 1);
  });
});

test('the router block compiles as a file of a strict TypeScript project', () => {
  expect(typeErrors(block)).toEqual([]);
});
