import { gql, type ApolloClient } from '@apollo/client';
import type { Client as SseClient } from 'graphql-sse';
import type { Client as WsClient } from 'graphql-ws';
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { docBlock, runBlock, typeErrors } from './utils/docs';
import { startTestGateway, type TestGateway } from './utils/gateway';
import { leftover } from './utils/leftovers';
import { until } from './utils/wait';

/**
 * What a frontend team does first: the Apollo Client 4 recipes of
 * docs/frontend/clients.md, each block taken from the page and run as
 * written, with the default cache, queries over HTTP and subscriptions over
 * graphql-ws or SSE. With global ids, a subscription event lands on the
 * cached job, and every query holding it moves along without being fetched
 * again.
 */

let t: TestGateway;
let warnings: string[];

beforeAll(async () => {
  // A job that goes from QUEUED to SUCCEEDED in two seconds, polled every 200 ms.
  t = await startTestGateway({ env: { ER_EMULATOR_JOB_SECONDS: '2', ER_POLL_INTERVAL_MS: '200' } });
});

afterAll(async () => {
  await t.close();
});

beforeEach(() => {
  warnings = [];
  // Apollo Client warns through console.warn (lost cache data, say); every warning is kept, and none is printed.
  jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void warnings.push(args.map(String).join(' ')));
});

afterEach(() => {
  jest.restoreAllMocks();
  delete (globalThis as { WebSocket?: unknown }).WebSocket;
});

const blocks = {
  // A browser has a WebSocket global; Node 20 has none, and the Node block brings its own.
  'apollo-browser': { browser: true, transport: 'ws' },
  'apollo-node': { browser: false, transport: 'ws' },
  'apollo-sse': { browser: false, transport: 'sse' },
} as const;

test.each(Object.keys(blocks) as (keyof typeof blocks)[])(
  'the %s block: a query answers over HTTP, and a watched job query reaches SUCCEEDED from subscription events alone',
  async (name) => {
    const { browser, transport } = blocks[name];
    if (browser) (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
    else delete (globalThis as { WebSocket?: unknown }).WebSocket;
    const made = runBlock<{ client: ApolloClient; ws?: WsClient; sse?: SseClient }>(
      docBlock('docs/frontend/clients.md', name),
      ['client', transport],
      { addresses: { 'http://127.0.0.1:4000': t.gateway.url, 'ws://127.0.0.1:4000': t.gateway.url.replace('http', 'ws') } },
    );
    const { client } = made;
    leftover(() => (made.ws ?? made.sse)!.dispose());
    leftover(() => client.stop());
    // The client's GraphQL requests over HTTP (not its SSE streams), counted where Apollo's HttpLink makes them.
    let queries = 0;
    let counting = true;
    const realFetch = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      if (counting && String(input instanceof Request ? input.url : input).endsWith('/graphql')) queries++;
      return realFetch(input, init);
    };
    leftover(() => (globalThis.fetch = realFetch));

    const workflow = await client.query<{ idMappingWorkflow: { workflowName: string; jobs: { nodes: unknown[] } } }>({
      query: gql`
        query Workflow {
          idMappingWorkflow(workflowName: "customer-id-map") {
            id
            workflowName
            jobs(first: 2) {
              nodes {
                id
                status
              }
            }
          }
        }
      `,
    });
    expect(workflow.error).toBeUndefined();
    expect(workflow.data!.idMappingWorkflow.workflowName).toBe('customer-id-map');
    expect(workflow.data!.idMappingWorkflow.jobs.nodes).toHaveLength(2);

    counting = false;
    const started = await t.post<{ startIdMappingJob: { jobId: string } }>(
      'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }',
    );
    const jobId = started.data!.startIdMappingJob.jobId;
    counting = true;
    const selection =
      'id status metrics { inputRecords totalMappedRecords } errorDetails { errorMessage } outputSourceConfig { outputS3Path }';

    // The badge: a query for the job's status, watched as a component watches it.
    const statuses: string[] = [];
    const changed = new EventEmitter();
    const badge = client
      .watchQuery({
        query: gql(`query Badge($jobId: ID!) { idMappingJob(workflowName: "customer-id-map", jobId: $jobId) { ${selection} } }`),
        variables: { jobId },
      })
      .subscribe({
        next: ({ data }) => {
          if (data) statuses.push((data as { idMappingJob: { status: string } }).idMappingJob.status);
          changed.emit('status');
        },
      });
    const onStatus = { emitter: changed, event: 'status' };
    await until(() => statuses.length > 0, onStatus);
    expect(statuses[0]).toBe('QUEUED');

    // The live feed, elsewhere on the page: its events name the same job by id.
    const events: { status: string; metrics: { inputRecords: number | null } | null }[] = [];
    const live = client
      .subscribe({
        query: gql(
          `subscription Live($jobId: ID!) { idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) { ${selection} } }`,
        ),
        variables: { jobId },
      })
      .subscribe({
        next: ({ data }) => data && events.push((data as { idMappingJobUpdated: (typeof events)[number] }).idMappingJobUpdated),
      });
    await until(() => statuses.at(-1) === 'SUCCEEDED', onStatus);
    live.unsubscribe();
    badge.unsubscribe();

    expect(statuses).toContain('RUNNING');
    expect(events.at(-1)).toMatchObject({ status: 'SUCCEEDED', metrics: { inputRecords: expect.any(Number) } });
    // The workflow and the badge went over HTTP once each: every later status came from the cache, fed by the subscription.
    expect(queries).toBe(2);
    expect(warnings).toEqual([]);
  },
);

test.each(Object.keys(blocks))('the %s block compiles as a file of a strict TypeScript project', (name) => {
  expect(typeErrors(docBlock('docs/frontend/clients.md', name))).toEqual([]);
});
