import { EntityResolutionClient, ListIdMappingJobsCommand, ListMatchingWorkflowsCommand } from '@aws-sdk/client-entityresolution';
import { SEEDED_WORKFLOWS, seededJobId, CUSTOMER_ID_MAP_JOBS } from '../src/emulator/seed';
import { newApiKey, writeTempFile } from './utils/auth';
import { codes, startTestGateway, type GraphQLResponse, type TestGateway } from './utils/gateway';

/**
 * Cursors are opaque: sealed (AES-256-GCM) under the deployment's key and
 * bound to the caller and the list. Read from outside, with API keys for
 * three callers: one who may read only household-matching, and two who may
 * read everything.
 */

const keys = { household: newApiKey(), reader: newApiKey(), otherReader: newApiKey() };
const as = {
  household: { 'x-api-key': keys.household.key },
  reader: { 'x-api-key': keys.reader.key },
  otherReader: { 'x-api-key': keys.otherReader.key },
};
const POLICY = {
  grants: [
    { to: { apiKeys: ['household'] }, workflows: ['household-matching'], actions: ['read'] },
    { to: { apiKeys: ['reader', 'other-reader'] }, workflows: ['*'], actions: ['read'] },
  ],
};

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({
    env: {
      ER_AUTH: 'apikey',
      ER_API_KEYS: `household:${keys.household.sha256},reader:${keys.reader.sha256},other-reader:${keys.otherReader.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', POLICY),
    },
  });
});

afterAll(() => t.close());

interface Page {
  edges: { cursor: string; node: Record<string, string> }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const MATCHING_WORKFLOWS =
  'query ($first: Int, $after: String) { list: matchingWorkflows(first: $first, after: $after) { edges { cursor node { workflowName } } pageInfo { hasNextPage endCursor } } }';
const JOBS =
  'query ($w: String!, $first: Int, $after: String) { list: idMappingJobs(workflowName: $w, first: $first, after: $after) { edges { cursor node { jobId } } pageInfo { hasNextPage endCursor } } }';

async function list(
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string>,
): Promise<GraphQLResponse<{ list: Page }>> {
  return t.post<{ list: Page }>(query, variables, headers);
}

/** Every page of a list, `first` at a time: the items in order and every cursor handed out. */
async function walk(query: string, variables: Record<string, unknown>, headers: Record<string, string>, first: number) {
  const items: string[] = [];
  const cursors: string[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 200; pages++) {
    const res = await list(query, { ...variables, first, after }, headers);
    expect(res.errors).toBeUndefined();
    const page = res.data!.list;
    items.push(...page.edges.map((edge) => Object.values(edge.node)[0]));
    cursors.push(...page.edges.map((edge) => edge.cursor));
    if (!page.pageInfo.hasNextPage) return { items, cursors };
    after = page.pageInfo.endCursor;
  }
  throw new Error('the list did not end');
}

/** The texts a string could be read as: itself, and base64 and base64url decodings of it from each of the first four places, twice over. */
function readings(text: string, depth = 2): string[] {
  const out = [text];
  if (depth === 0) return out;
  for (let offset = 0; offset < 4; offset++) {
    for (const encoding of ['base64', 'base64url'] as const)
      out.push(...readings(Buffer.from(text.slice(offset), encoding).toString('latin1'), depth - 1));
  }
  return out;
}

/** The emulator's own page tokens for the lists walked here, got with the AWS SDK as any client of the service would. */
async function serviceTokens(): Promise<string[]> {
  const client = new EntityResolutionClient({
    endpoint: t.emulator.url,
    region: t.emulator.state.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const tokens: string[] = [];
    for (const maxResults of [1, 2, 3, 4]) {
      const out = await client.send(new ListMatchingWorkflowsCommand({ maxResults }));
      if (out.nextToken) tokens.push(out.nextToken);
    }
    let nextToken: string | undefined;
    do {
      const out: { nextToken?: string } = await client.send(
        new ListIdMappingJobsCommand({ workflowName: 'customer-id-map', maxResults: 7, nextToken }),
      );
      nextToken = out.nextToken;
      if (nextToken) tokens.push(nextToken);
    } while (nextToken);
    return tokens;
  } finally {
    client.destroy();
  }
}

test('no cursor names a workflow or carries the service token, in any base64 reading of it or of its parts', async () => {
  const household = await walk(MATCHING_WORKFLOWS, {}, as.household, 1);
  expect(household.items).toEqual(['household-matching']);
  const all = await walk(MATCHING_WORKFLOWS, {}, as.reader, 1);
  const jobs = await walk(JOBS, { w: 'customer-id-map' }, as.reader, 7);
  expect(jobs.items).toHaveLength(CUSTOMER_ID_MAP_JOBS);
  const tokens = await serviceTokens();
  expect(tokens.length).toBeGreaterThan(10);
  // What a token is made of, in case only part of one showed: the names of workflows and jobs in it.
  const secrets = [
    ...tokens,
    ...SEEDED_WORKFLOWS.map((wf) => wf.workflowName),
    ...jobs.items,
    'matching:',
    'idMapping:',
    'skip',
    'nextToken',
  ];
  const cursors = [...household.cursors, ...all.cursors, ...jobs.cursors];
  expect(cursors.filter((cursor) => !/^[A-Za-z0-9_-]+$/.test(cursor))).toEqual([]);
  const found = cursors.flatMap((cursor) =>
    readings(cursor).flatMap((text) => secrets.filter((secret) => text.includes(secret)).map((secret) => `${cursor} holds ${secret}`)),
  );
  expect(found).toEqual([]);
  // The one visible workflow's cursor is as long as any other: its length says nothing of those skipped before it.
  expect(new Set([...household.cursors, ...all.cursors].map((cursor) => cursor.length)).size).toBe(1);
});

test('cursors still page: walking a list page by page, from end cursors or from any edge cursor, gives the list read at once', async () => {
  const whole = await list(JOBS, { w: 'customer-id-map', first: 100 }, as.reader);
  const expected = whole.data!.list.edges.map((edge) => edge.node.jobId);
  expect(expected[0]).toBe(seededJobId('customer-id-map', CUSTOMER_ID_MAP_JOBS - 1));
  for (const first of [1, 7, 25, 40]) expect((await walk(JOBS, { w: 'customer-id-map' }, as.reader, first)).items).toEqual(expected);
  const resumed = await list(JOBS, { w: 'customer-id-map', first: 5, after: whole.data!.list.edges[30].cursor }, as.reader);
  expect(resumed.data!.list.edges.map((edge) => edge.node.jobId)).toEqual(expected.slice(31, 36));
  expect((await walk(MATCHING_WORKFLOWS, {}, as.reader, 2)).items).toEqual(
    SEEDED_WORKFLOWS.filter((wf) => wf.kind === 'matching')
      .map((wf) => wf.workflowName)
      .sort(),
  );
});

describe('a cursor opens only for the caller and the list it was given for', () => {
  let cursor: string;

  beforeAll(async () => {
    cursor = (await list(MATCHING_WORKFLOWS, { first: 1 }, as.reader)).data!.list.pageInfo.endCursor!;
  });

  beforeEach(() => t.emulator.resetRequests());

  const expectRefused = (res: GraphQLResponse<unknown>) => {
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors![0]).toMatchObject({
      message:
        'after is not a cursor this gateway gave you for this list: use an endCursor or edge cursor of the same list, as the same caller.',
      extensions: { code: 'BAD_USER_INPUT', field: 'after' },
    });
    expect(JSON.stringify(res.errors)).not.toMatch(/gcm|decipher|auth tag|stack|Unsupported state/i);
  };

  test('its own caller goes on with it', async () => {
    const res = await list(MATCHING_WORKFLOWS, { first: 1, after: cursor }, as.reader);
    expect(res.data!.list.edges.map((edge) => edge.node.workflowName)).toEqual(['customer-matching']);
  });

  test('another caller, even with the same grants, is refused with BAD_USER_INPUT before any call', async () => {
    expectRefused(await list(MATCHING_WORKFLOWS, { first: 1, after: cursor }, as.otherReader));
    expectRefused(await list(MATCHING_WORKFLOWS, { first: 1, after: cursor }, as.household));
    expect(t.emulator.requests()).toBe(0);
  });

  test("on another list it is BAD_USER_INPUT: the other kind of workflows, or a workflow's jobs", async () => {
    expectRefused(
      await t.post(
        'query ($after: String) { idMappingWorkflows(first: 1, after: $after) { nodes { workflowName } } }',
        { after: cursor },
        as.reader,
      ),
    );
    expectRefused(await list(JOBS, { w: 'customer-id-map', first: 1, after: cursor }, as.reader));
    const jobsCursor = (await list(JOBS, { w: 'customer-id-map', first: 1 }, as.reader)).data!.list.pageInfo.endCursor!;
    t.emulator.resetRequests();
    expectRefused(await list(JOBS, { w: 'loyalty-id-map', first: 1, after: jobsCursor }, as.reader));
    expect(t.emulator.requests()).toBe(0);
  });

  test('a cursor with any one character changed is BAD_USER_INPUT', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < cursor.length; i++) {
      const other = alphabet[(alphabet.indexOf(cursor[i]) + 1) % alphabet.length];
      expectRefused(await list(MATCHING_WORKFLOWS, { first: 1, after: cursor.slice(0, i) + other + cursor.slice(i + 1) }, as.reader));
    }
    expectRefused(await list(MATCHING_WORKFLOWS, { first: 1, after: cursor.slice(0, -1) }, as.reader));
    expectRefused(await list(MATCHING_WORKFLOWS, { first: 1, after: `${cursor}A` }, as.reader));
    expect(t.emulator.requests()).toBe(0);
  });
});

test("gateways given one ER_CURSOR_KEY accept each other's cursors; a gateway with a key of its own does not", async () => {
  const env = { ER_CURSOR_KEY: Buffer.alloc(32, 42).toString('base64') };
  const [a, b, own] = [await startTestGateway({ env }), await startTestGateway({ env }), await startTestGateway()];
  try {
    const query = 'query ($after: String) { matchingWorkflows(first: 1, after: $after) { nodes { workflowName } pageInfo { endCursor } } }';
    const first = await a.post<{ matchingWorkflows: { pageInfo: { endCursor: string } } }>(query);
    const after = first.data!.matchingWorkflows.pageInfo.endCursor;
    expect((await b.post(query, { after })).data).toEqual({
      matchingWorkflows: { nodes: [{ workflowName: 'customer-matching' }], pageInfo: { endCursor: expect.any(String) } },
    });
    expect(codes(await own.post(query, { after }))).toEqual(['BAD_USER_INPUT']);
  } finally {
    await Promise.all([a.close(), b.close(), own.close()]);
  }
});
