import type { Client } from '@urql/core';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, type ClientOptions } from 'graphql-ws';
import ts from 'typescript';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from './utils/gateway';
import { until as waitUntil } from './utils/wait';

/**
 * The urql setup of docs/frontend/clients.md, run as written: its code block is compiled and
 * run against a test gateway. The one change is Node's: graphql-ws there
 * needs `webSocketImpl` (browsers have WebSocket built in).
 */

const readme = readFileSync(resolve(__dirname, '../docs/frontend/clients.md'), 'utf8');
const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
  .map((match) => match[1])
  .find((code) => code.includes('@urql/exchange-graphcache'));

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({ env: { ER_EMULATOR_JOB_SECONDS: '2', ER_POLL_INTERVAL_MS: '200' } });
});

afterAll(async () => {
  await t.close();
});

/** Runs the page's block with the gateway's address in place of the page's, and returns what it made. */
function readmeClient(): { client: Client; ws: ReturnType<typeof createClient> } {
  const source = block!
    .replaceAll('http://127.0.0.1:4000', t.gateway.url)
    .replaceAll('ws://127.0.0.1:4000', t.gateway.url.replace('http', 'ws'));
  const { outputText } = ts.transpileModule(`${source}\nexport { client, ws };`, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  });
  const nodeRequire = (name: string): unknown =>
    name === 'graphql-ws'
      ? { createClient: (options: ClientOptions) => createClient({ ...options, webSocketImpl: WebSocket, retryAttempts: 0 }) }
      : // eslint-disable-next-line @typescript-eslint/no-require-imports -- the recipe is run as the CommonJS a bundler would make of it
        require(name);
  const module = { exports: {} as { client: Client; ws: ReturnType<typeof createClient> } };
  new Function('require', 'module', 'exports', outputText)(nodeRequire, module, module.exports);
  return module.exports;
}

test("the docs' urql client with Graphcache: a watched job query reaches SUCCEEDED from subscription events alone", async () => {
  expect(block).toBeDefined();
  const { client, ws } = readmeClient();
  const started = await t.post<{ startIdMappingJob: { jobId: string } }>(
    'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }',
  );
  const jobId = started.data!.startIdMappingJob.jobId;
  // The client's HTTP requests, counted where urql makes them.
  let queries = 0;
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    queries++;
    return realFetch(input, init);
  };
  try {
    const statuses: string[] = [];
    const errors: string[] = [];
    /** Waits for `done`, failing at once with any error a result carried. */
    const changed = new EventEmitter();
    /** Waits for `done`, looking again at each result; fails at once with any error a result carried. */
    const until = (done: () => boolean) =>
      waitUntil(
        () => {
          expect(errors).toEqual([]);
          return done();
        },
        { emitter: changed, event: 'result' },
      );
    const badge = client
      .query<{ idMappingJob: { id: string; status: string } }>(
        'query Badge($jobId: ID!) { idMappingJob(workflowName: "customer-id-map", jobId: $jobId) { id status } }',
        { jobId },
      )
      .subscribe((result) => {
        if (result.error) errors.push(result.error.message);
        if (result.data) statuses.push(result.data.idMappingJob.status);
        changed.emit('result');
      });
    await until(() => statuses.length > 0);
    expect(statuses[0]).toBe('QUEUED');

    const live = client
      .subscription(
        'subscription Live($jobId: ID!) { idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) { id status } }',
        { jobId },
      )
      .subscribe((result) => {
        if (result.error) errors.push(result.error.message);
        changed.emit('result');
      });
    await until(() => statuses.at(-1) === 'SUCCEEDED');
    live.unsubscribe();
    badge.unsubscribe();

    expect(statuses).toContain('RUNNING');
    expect(queries).toBe(1);
  } finally {
    globalThis.fetch = realFetch;
    await ws.dispose();
  }
});
