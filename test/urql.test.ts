import type { Client } from '@urql/core';
import { Client as UrqlClient, fetchExchange } from '@urql/core';
import { cacheExchange, type KeyingConfig } from '@urql/exchange-graphcache';
import {
  buildSchema,
  getNamedType,
  isObjectType,
  isUnionType,
  isInterfaceType,
  type GraphQLNamedType,
  type GraphQLObjectType,
} from 'graphql';
import type { Client as WsClient } from 'graphql-ws';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import WebSocket from 'ws';
import { docBlock, runBlock, typeErrors } from './utils/docs';
import { startTestGateway, type TestGateway } from './utils/gateway';
import { leftover } from './utils/leftovers';
import { until as waitUntil } from './utils/wait';

/**
 * The urql recipe of docs/frontend/clients.md, run as written: its block is
 * taken from the page, compiled and run against a test gateway, in Node with
 * the `WebSocket` global a browser has. Every field of jobs, workflows and
 * starts is selected, and Graphcache must neither warn nor change an answer.
 */

const schema = buildSchema(readFileSync(resolve(__dirname, '../schema.graphql'), 'utf8'), { assumeValidSDL: true });
const block = docBlock('docs/frontend/clients.md', 'urql');

let t: TestGateway;
let warnings: string[];

beforeAll(async () => {
  t = await startTestGateway({ env: { ER_EMULATOR_JOB_SECONDS: '2', ER_POLL_INTERVAL_MS: '200' } });
});

afterAll(async () => {
  await t.close();
});

beforeEach(() => {
  warnings = [];
  // Graphcache warns through console.warn; every warning is kept, and none is printed.
  jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void warnings.push(args.map(String).join(' ')));
  (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
});

afterEach(() => {
  jest.restoreAllMocks();
  delete (globalThis as { WebSocket?: unknown }).WebSocket;
});

/** The page's block, with the gateway's address in place of the page's. */
function docsClient(): { client: Client; ws: WsClient; keys: KeyingConfig } {
  const made = runBlock<{ client: Client; ws: WsClient; keys: KeyingConfig }>(block, ['client', 'ws', 'keys'], {
    addresses: { 'http://127.0.0.1:4000': t.gateway.url, 'ws://127.0.0.1:4000': t.gateway.url.replace('http', 'ws') },
  });
  leftover(() => made.ws.dispose());
  return made;
}

/** The object types Graphcache must be told how to key: reachable from a query, a start or a subscription, without an `id`. */
function typesWithoutId(): string[] {
  const found = new Set<string>();
  const visit = (type: GraphQLNamedType): void => {
    if (found.has(type.name)) return;
    found.add(type.name);
    const members = isUnionType(type) ? type.getTypes() : isInterfaceType(type) ? schema.getPossibleTypes(type) : [];
    for (const member of members) visit(member);
    if (isObjectType(type) || isInterfaceType(type))
      for (const field of Object.values(type.getFields())) if (field.name !== '_service') visit(getNamedType(field.type));
  };
  for (const root of [schema.getQueryType()!, schema.getMutationType()!, schema.getSubscriptionType()!]) visit(root);
  const roots = new Set(['Query', 'Mutation', 'Subscription']);
  return [...found]
    .map((name) => schema.getType(name)!)
    .filter((type): type is GraphQLObjectType => isObjectType(type) && !roots.has(type.name) && !type.name.startsWith('__'))
    .filter((type) => !('id' in type.getFields()) && !/PageInfo|(Connection|Edge)$/.test(type.name))
    .map((type) => type.name)
    .sort();
}

/** Every field of `type`, nested objects' too, as a selection (the connections' `first` left at its default). */
function everyField(type: GraphQLObjectType): string {
  return `{ ${Object.values(type.getFields())
    .map((field) => {
      const named = getNamedType(field.type);
      return isObjectType(named) ? `${field.name} ${everyField(named)}` : field.name;
    })
    .join(' ')} }`;
}

const typed = (name: string) => schema.getType(name) as GraphQLObjectType;

/** Fields whose value differs from one request to the next: when the gateway looked, and cursors (sealed afresh each time). */
const perRequest = new Set(['observedAt', 'cursor', 'endCursor']);

/** An answer without the `__typename`s urql adds to each selection, and without the per-request fields. */
function comparable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(comparable);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== '__typename' && !perRequest.has(key))
      .map(([key, item]) => [key, comparable(item)]),
  );
}

test('the recipe keys every object type without an id that a job, workflow or start query reaches, and no other', () => {
  const { keys } = docsClient();
  expect(Object.keys(keys).sort()).toEqual(typesWithoutId());
  // Jobs and workflows are keyed by their global id: the recipe leaves them to Graphcache.
  for (const entity of ['IdMappingJob', 'MatchingJob', 'IdMappingWorkflow', 'MatchingWorkflow']) expect(keys).not.toHaveProperty(entity);
});

test('with every field of workflows, their jobs, starts and job events selected, Graphcache warns of nothing and answers what the gateway does', async () => {
  const { client } = docsClient();
  // One workflow per query: all of them at once, with all their jobs, would pass the gateway's limit of upstream calls.
  const names = await t.post<Record<'idMappingWorkflows' | 'matchingWorkflows', { nodes: { workflowName: string }[] }>>(
    '{ idMappingWorkflows { nodes { workflowName } } matchingWorkflows { nodes { workflowName } } }',
  );
  const answers: unknown[] = [];
  for (const [kind, type] of [
    ['idMapping', 'IdMappingWorkflow'],
    ['matching', 'MatchingWorkflow'],
  ] as const)
    for (const { workflowName } of names.data![`${kind}Workflows`].nodes) {
      const workflow = `{ ${kind}Workflow(workflowName: "${workflowName}") ${everyField(typed(type))} }`;
      const cached = await client.query(workflow, {}).toPromise();
      expect(cached.error).toBeUndefined();
      const direct = await t.post(workflow);
      expect(direct.errors).toBeUndefined();
      expect(comparable(cached.data)).toEqual(comparable(direct.data));
      answers.push(direct.data);
    }
  expect(answers.length).toBeGreaterThanOrEqual(4);
  // The demo data has what the keys are for: failed jobs' errorDetails, metrics, schema mappings with fields and tags.
  const text = JSON.stringify(answers);
  for (const field of ['"errorMessage":"', '"inputRecords":', '"schemaMapping":{', '"customerProfilesIntegration":{', '"rules":[{'])
    expect(text).toContain(field);

  const idMapping = await client
    .mutation(
      `mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) ${everyField(typed('StartIdMappingJobPayload'))} }`,
      {},
    )
    .toPromise();
  expect(idMapping.error).toBeUndefined();
  const matching = await client
    .mutation(
      `mutation { startMatchingJob(input: { workflowName: "customer-matching" }) ${everyField(typed('StartMatchingJobPayload'))} }`,
      {},
    )
    .toPromise();
  expect(matching.error).toBeUndefined();

  // A job's events carry the same fields; the last one is SUCCEEDED with its metrics.
  const jobId = (idMapping.data as { startIdMappingJob: { jobId: string } }).startIdMappingJob.jobId;
  const events: { status: string; metrics: unknown }[] = [];
  const errors: string[] = [];
  const changed = new EventEmitter();
  const live = client
    .subscription(
      `subscription Live($jobId: ID!) { idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) ${everyField(typed('IdMappingJob'))} }`,
      { jobId },
    )
    .subscribe((result) => {
      if (result.error) errors.push(result.error.message);
      if (result.data) events.push((result.data as { idMappingJobUpdated: { status: string; metrics: unknown } }).idMappingJobUpdated);
      changed.emit('event');
    });
  await waitUntil(() => errors.length > 0 || events.at(-1)?.status === 'SUCCEEDED', { emitter: changed, event: 'event' });
  live.unsubscribe();
  expect(errors).toEqual([]);
  const job = `{ idMappingJob(workflowName: "customer-id-map", jobId: "${jobId}") ${everyField(typed('IdMappingJob'))} }`;
  expect(comparable(events.at(-1))).toEqual(comparable((await t.post<{ idMappingJob: unknown }>(job)).data!.idMappingJob));

  expect(warnings).toEqual([]);
});

test('without the keys, the same selection makes Graphcache warn (the check above would see it)', async () => {
  const plain = new UrqlClient({ url: t.endpoint, preferGetMethod: false, exchanges: [cacheExchange({}), fetchExchange] });
  const result = await plain
    .query(`{ idMappingJobs(workflowName: "customer-id-map", first: 1) { nodes { id metrics { inputRecords } } } }`, {})
    .toPromise();
  expect(result.error).toBeUndefined();
  expect(warnings.join('\n')).toMatch(/Invalid key.*\n.*`IdMappingJobMetrics`/);
});

test("the docs' urql client: a watched job query reaches SUCCEEDED from subscription events alone", async () => {
  const { client } = docsClient();
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
    const selection = '{ id status metrics { inputRecords totalMappedRecords } errorDetails { errorMessage } }';
    const badge = client
      .query<{ idMappingJob: { id: string; status: string } }>(
        `query Badge($jobId: ID!) { idMappingJob(workflowName: "customer-id-map", jobId: $jobId) ${selection} }`,
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
      .subscription(`subscription Live($jobId: ID!) { idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) ${selection} }`, {
        jobId,
      })
      .subscribe((result) => {
        if (result.error) errors.push(result.error.message);
        changed.emit('result');
      });
    await until(() => statuses.at(-1) === 'SUCCEEDED');
    live.unsubscribe();
    badge.unsubscribe();

    expect(statuses).toContain('RUNNING');
    expect(queries).toBe(1);
    expect(warnings).toEqual([]);
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('the urql block compiles as a file of a strict TypeScript project', () => {
  expect(typeErrors(block)).toEqual([]);
});
