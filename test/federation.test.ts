import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, type GraphQLFormattedError } from 'graphql';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { seededJobId } from '../src/emulator/seed';
import { newApiKey, writeTempFile } from './utils/auth';
import { runningJob, startTestGateway, type TestGateway } from './utils/gateway';
import { Subscription, wsClient } from './utils/subscriptions';

/**
 * er-gateway in a supergraph beside a subgraph that knows jobs only by key:
 * a dashboard that pins jobs and says who pinned them.
 */

const pinned = [
  { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 1) },
  { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 2) },
  { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 1) },
  // A running job of loyalty-id-map, held on the gateway's emulator once it starts.
  { workflowName: 'loyalty-id-map', jobId: '0'.repeat(32) },
  { workflowName: 'customer-id-map', jobId: 'f'.repeat(32) },
];

const dashboardTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.4", import: ["@key"])

  type Query {
    pinnedJobs: [IdMappingJob]!
  }

  type IdMappingJob @key(fields: "workflowName jobId") {
    workflowName: String!
    jobId: ID!
    pinnedBy: String!
  }
`);

const dashboard = new ApolloServer({
  plugins: [ApolloServerPluginInlineTraceDisabled()],
  schema: buildSubgraphSchema({
    typeDefs: dashboardTypeDefs,
    resolvers: {
      Query: { pinnedJobs: () => pinned },
      IdMappingJob: {
        __resolveReference: (ref: { workflowName: string; jobId: string }) => ref,
        pinnedBy: (job: { jobId: string }) => `ops-${job.jobId.slice(0, 4)}`,
      },
    },
  }),
});

let t: TestGateway;
let router: ApolloServer;
let routerUrl: string;
let dashboardUrl: string;

beforeAll(async () => {
  t = await startTestGateway();
  pinned[3] = runningJob(t.emulator);
  ({ url: dashboardUrl } = await startStandaloneServer(dashboard, { listen: { port: 0, host: '127.0.0.1' } }));
  const composed = composeServices([
    { name: 'er-gateway', typeDefs: parse(readFileSync(resolve(__dirname, '../schema.graphql'), 'utf8')), url: t.endpoint },
    { name: 'dashboard', typeDefs: dashboardTypeDefs, url: dashboardUrl },
  ]);
  if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
  router = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl: composed.supergraphSdl }) });
  ({ url: routerUrl } = await startStandaloneServer(router, { listen: { port: 0, host: '127.0.0.1' } }));
});

afterAll(async () => {
  await router.stop();
  await dashboard.stop();
  await t.close();
});

beforeEach(() => t.emulator.resetRequests());

async function viaRouter<T>(query: string): Promise<{ data?: T; errors?: GraphQLFormattedError[] }> {
  const res = await fetch(routerUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return (await res.json()) as { data?: T; errors?: GraphQLFormattedError[] };
}

type Pinned = { pinnedJobs: ({ jobId: string; pinnedBy: string; status: string; metrics: { inputRecords: number } | null } | null)[] };

test("er-gateway's root fields and types compose beside a subgraph with the usual names of a supergraph's own (viewer, Viewer, Workflow, Job)", () => {
  const users = parse(`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.4", import: ["@key"])
    type Query {
      viewer: Viewer
      me: Viewer
    }
    type Viewer @key(fields: "id") {
      id: ID!
      name: String
    }
    type Workflow {
      id: ID!
    }
    type Job {
      id: ID!
    }
    enum ViewerKind {
      HUMAN
      SERVICE
    }
  `);
  const composed = composeServices([
    { name: 'er-gateway', typeDefs: parse(readFileSync(resolve(__dirname, '../schema.graphql'), 'utf8')), url: t.endpoint },
    { name: 'users', typeDefs: users, url: 'http://users.invalid/graphql' },
  ]);
  expect(composed.errors?.map((e) => e.message)).toBeUndefined();
});

test('one query reads fields of both subgraphs on the same jobs; each distinct job costs one Get, a missing one is null with NOT_FOUND', async () => {
  const res = await viaRouter<Pinned>('{ pinnedJobs { jobId pinnedBy status metrics { inputRecords } } }');
  const jobs = res.data!.pinnedJobs;
  expect(jobs).toHaveLength(5);
  expect(jobs[0]).toEqual({
    jobId: pinned[0].jobId,
    pinnedBy: `ops-${pinned[0].jobId.slice(0, 4)}`,
    status: 'SUCCEEDED',
    metrics: { inputRecords: expect.any(Number) },
  });
  expect(jobs[2]).toEqual(jobs[0]);
  expect(jobs[3]).toMatchObject({ status: 'RUNNING' });
  expect(jobs[4]).toBeNull();
  expect(res.errors!.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
  // Four distinct keys among five representations.
  expect(t.emulator.requests('GetIdMappingJob')).toBe(4);
  expect(t.emulator.requests()).toBe(4);
});

test("er-gateway's own queries pass through the router, with the other subgraph's fields on their jobs", async () => {
  const res = await viaRouter<{ idMappingJobs: { nodes: { jobId: string; pinnedBy: string }[] } }>(
    '{ idMappingJobs(workflowName: "customer-id-map", first: 3) { nodes { jobId pinnedBy } } }',
  );
  expect(res.errors).toBeUndefined();
  expect(res.data!.idMappingJobs.nodes.map((job) => job.pinnedBy)).toEqual(
    res.data!.idMappingJobs.nodes.map((job) => `ops-${job.jobId.slice(0, 4)}`),
  );
  expect(t.emulator.requests()).toBe(1);
});

test('a subscription as the router sends it (graphql-transport-ws, typename and keys) yields entities the router can extend', async () => {
  const client = wsClient(t.gateway.url);
  try {
    const key = { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 2) };
    const sub = new Subscription<{ idMappingJobUpdated: Record<string, string> }>(
      client,
      'subscription ($workflowName: String!, $jobId: ID!) { idMappingJobUpdated(workflowName: $workflowName, jobId: $jobId) { __typename workflowName jobId status } }',
      key,
    );
    await sub.ended();
    const entity = sub.events[0].data!.idMappingJobUpdated;
    expect(entity).toEqual({ __typename: 'IdMappingJob', ...key, status: 'SUCCEEDED' });
    // What the router does next with the event: hand it to the other subgraph's _entities for its fields.
    const res = await fetch(dashboardUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on IdMappingJob { pinnedBy } } }',
        variables: { r: [{ __typename: entity.__typename, workflowName: entity.workflowName, jobId: entity.jobId }] },
      }),
    });
    expect(await res.json()).toEqual({ data: { _entities: [{ pinnedBy: `ops-${key.jobId.slice(0, 4)}` }] } });
  } finally {
    await client.dispose();
  }
});

describe('inline tracing for the router (ftv1)', () => {
  const ask = (endpoint: string) =>
    fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'apollo-federation-include-trace': 'ftv1' },
      body: JSON.stringify({ query: '{ matchingWorkflows { nodes { workflowName } } }' }),
    }).then((res) => res.json() as Promise<{ extensions?: { ftv1?: string } }>);

  test('is on by default', async () => {
    expect((await ask(t.endpoint)).extensions?.ftv1).toEqual(expect.any(String));
  });

  test('ER_INLINE_TRACING=false turns it off', async () => {
    const off = await startTestGateway({ env: { ER_INLINE_TRACING: 'false' } });
    try {
      expect((await ask(off.endpoint)).extensions?.ftv1).toBeUndefined();
    } finally {
      await off.close();
    }
  });
});

describe('behind a router that forwards credentials', () => {
  const pipeline = newApiKey();
  let authed: TestGateway;
  let authedRouter: ApolloServer<{ apiKey?: string }>;
  let authedRouterUrl: string;

  beforeAll(async () => {
    authed = await startTestGateway({
      env: {
        ER_AUTH: 'apikey',
        ER_API_KEYS: `pipeline:${pipeline.sha256}`,
        ER_POLICY_FILE: writeTempFile('policy.yaml', {
          grants: [{ to: { apiKeys: ['pipeline'] }, workflows: ['customer-*'], actions: ['read'] }],
        }),
      },
    });
    const composed = composeServices([
      { name: 'er-gateway', typeDefs: parse(readFileSync(resolve(__dirname, '../schema.graphql'), 'utf8')), url: authed.endpoint },
      { name: 'dashboard', typeDefs: dashboardTypeDefs, url: dashboardUrl },
    ]);
    const gateway = new ApolloGateway({
      supergraphSdl: composed.supergraphSdl!,
      // What the README asks of a router: the client's credentials go on to er-gateway.
      buildService: ({ url }) =>
        new RemoteGraphQLDataSource<{ apiKey?: string }>({
          url,
          willSendRequest: ({ request, context }) => void (context.apiKey && request.http!.headers.set('x-api-key', context.apiKey)),
        }),
    });
    authedRouter = new ApolloServer<{ apiKey?: string }>({ gateway });
    ({ url: authedRouterUrl } = await startStandaloneServer(authedRouter, {
      listen: { port: 0, host: '127.0.0.1' },
      context: async ({ req }) => ({ apiKey: req.headers['x-api-key'] as string | undefined }),
    }));
  });

  afterAll(async () => {
    await authedRouter.stop();
    await authed.close();
  });

  const pinnedVia = async (headers: Record<string, string>) => {
    const res = await fetch(authedRouterUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: '{ pinnedJobs { jobId status } }' }),
    });
    return (await res.json()) as { data?: { pinnedJobs: ({ status: string } | null)[] }; errors?: GraphQLFormattedError[] };
  };

  test("_entities through the router obey the client's grants: a job of a workflow it may not read fails alone with FORBIDDEN", async () => {
    authed.emulator.resetRequests();
    const res = await pinnedVia({ 'x-api-key': pipeline.key });
    const jobs = res.data!.pinnedJobs;
    expect(jobs[0]).toMatchObject({ status: 'SUCCEEDED' });
    expect(jobs[3]).toBeNull();
    expect(res.errors!.map((e) => e.extensions?.code).sort()).toEqual(['FORBIDDEN', 'NOT_FOUND']);
    // The loyalty-id-map job was refused before any call: three Gets for the three customer-id-map keys.
    expect(authed.emulator.requests()).toBe(3);
  });

  test('without credentials er-gateway answers the router 401, and nothing is read', async () => {
    authed.emulator.resetRequests();
    const res = await pinnedVia({});
    // The router reports what er-gateway answered it: the status, and er-gateway's own error with its code.
    expect(res.errors).toHaveLength(1);
    const { response } = res.errors![0].extensions as { response: { status: number; body: { errors: GraphQLFormattedError[] } } };
    expect(response.status).toBe(401);
    expect(response.body.errors.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    expect(res.errors![0].extensions?.code).toBe('UNAUTHENTICATED');
    expect(res.data?.pinnedJobs).toEqual([null, null, null, null, null]);
    expect(authed.emulator.requests()).toBe(0);
  });
});
