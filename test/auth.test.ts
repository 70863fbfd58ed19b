import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { request as httpRequest } from 'node:http';
import { resolve } from 'node:path';
import { Authenticator, credentialsFrom } from '../src/auth/authenticator';
import { SettingError } from '../src/settings/files';
import { Policy } from '../src/auth/policy';
import { MAX_TIMER_MS } from '../src/server/timers';
import { seededJobId } from '../src/emulator/seed';
import { newApiKey, startIssuer, writeTempFile, type TestIssuer } from './utils/auth';
import { ManualClock } from './utils/clock';
import { capturedLogger, codes, runningJob, startTestGateway, type TestGateway } from './utils/gateway';
import { ManualScheduler } from './utils/scheduler';
import { RawSocket, Subscription, wsClient } from './utils/subscriptions';

/**
 * Every path (query, list, _entities, mutation, subscription) for every kind
 * of caller: anonymous, an expired or forged token, a token whose groups do
 * not reach the workflow, one whose groups do, and an API key. Tokens are
 * signed here with a key pair made here, and the gateway fetches their JWKS
 * over real HTTP. The emulator's request count shows that a refusal costs
 * nothing upstream.
 */

const ROLE = 'arn:aws:iam::123456789012:role/ErOutput';
const POLICY = {
  grants: [
    { to: { groups: ['analysts'] }, workflows: ['customer-*'], actions: ['read', 'subscribe'] },
    { to: { groups: ['operators'] }, workflows: ['customer-*'], actions: ['read', 'start', 'subscribe'] },
    { to: { apiKeys: ['pipeline'] }, workflows: ['customer-matching'], actions: ['read', 'start'] },
  ],
  outputs: [{ workflows: ['customer-id-map'], roles: [ROLE], s3Prefixes: ['s3://er-output/customers/'] }],
} as const;

const clock = new ManualClock(Date.now());
const pipeline = newApiKey();
const audit = capturedLogger();
let issuer: TestIssuer;
let t: TestGateway;
const as: Record<'analyst' | 'operator' | 'otherOperator' | 'outsider' | 'expired' | 'forged', Record<string, string>> = {} as never;
const anonymous = {};
const withKey = { 'x-api-key': pipeline.key };

const job = (workflowName: string, index: number) => ({ workflowName, jobId: seededJobId(workflowName, index) });
const vars = (key: { workflowName: string; jobId: string }) => ({ w: key.workflowName, j: key.jobId });
const JOB = `query ($w: String!, $j: ID!) { idMappingJob(workflowName: $w, jobId: $j) { jobId status } }`;
const MATCHING_JOB = `query ($w: String!, $j: ID!) { matchingJob(workflowName: $w, jobId: $j) { jobId status } }`;
const START = `mutation ($input: StartIdMappingJobInput!) { startIdMappingJob(input: $input) { jobId outputSourceConfig { roleArn outputS3Path } } }`;

beforeAll(async () => {
  issuer = await startIssuer();
  const bearer = async (sub: string, groups: string[], exp?: number) => ({
    authorization: `Bearer ${await issuer.sign(sub, { groups, ...(exp ? { exp } : {}) })}`,
  });
  Object.assign(as, {
    analyst: await bearer('ana', ['analysts']),
    operator: await bearer('oscar', ['operators']),
    otherOperator: await bearer('olga', ['operators']),
    outsider: await bearer('eve', ['marketing']),
    expired: await bearer('ana', ['analysts'], Math.floor(Date.now() / 1000) - 3600),
    forged: { authorization: `Bearer ${await issuer.forge('mallory', { groups: ['operators'] })}` },
  });
  t = await startTestGateway({
    emulator: { clock: clock.read },
    logger: audit.logger,
    env: {
      ER_AUTH: 'jwt,apikey',
      ER_JWT_JWKS_URL: issuer.jwksUrl,
      ER_JWT_ISSUER: issuer.issuer,
      ER_JWT_AUDIENCE: issuer.audience,
      ER_API_KEYS: `pipeline:${pipeline.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', POLICY as never),
    },
  });
});

afterAll(async () => {
  await t.close();
  await issuer.close();
});

beforeEach(() => t.emulator.resetRequests());
// Let every job a test started finish: the service runs one job of a workflow at a time.
afterEach(() => clock.advance(60_000));

describe('authentication', () => {
  test.each([
    ['no credentials', anonymous, 'Bearer realm="er-gateway"'],
    ['an expired token', 'expired', 'Bearer realm="er-gateway", error="invalid_token", error_description="The token has expired."'],
    [
      'a token signed with an unpublished key',
      'forged',
      'Bearer realm="er-gateway", error="invalid_token", error_description="The token is not valid for this gateway."',
    ],
    ['a malformed token', { authorization: 'Bearer not.a.token' }, expect.stringContaining('error="invalid_token"')],
    ['another scheme', { authorization: 'Basic YWxpY2U6c2VjcmV0' }, expect.stringContaining('error="invalid_token"')],
    ['an unknown API key', { 'x-api-key': 'guess' }, 'Bearer realm="er-gateway"'],
  ])('%s is 401 UNAUTHENTICATED with WWW-Authenticate, and costs nothing upstream', async (_name, who, challenge) => {
    const headers = typeof who === 'string' ? as[who as keyof typeof as] : who;
    const res = await t.post(JOB, vars(job('customer-id-map', 1)), headers as Record<string, string>);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toEqual(challenge);
    expect(res.data).toBeUndefined();
    expect(res.errors).toEqual([{ message: expect.any(String), extensions: { code: 'UNAUTHENTICATED' } }]);
    expect(t.emulator.requests()).toBe(0);
  });

  test('a valid token with junk in its signature part, or longer than 8 KiB, is 401 invalid_token, where jose would take it', async () => {
    const token = as.analyst.authorization.slice('Bearer '.length);
    const long = await issuer.sign('ana', { groups: ['analysts', ...Array.from({ length: 900 }, (_, i) => `group-${i}`)] });
    expect(long.length).toBeGreaterThan(8192);
    for (const sent of [`${token}=`, `${token}!`, `${token}$`, `${token}${'='.repeat(8000)}`, long]) {
      const res = await t.post(JOB, vars(job('customer-id-map', 1)), { authorization: `Bearer ${sent}` });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
    expect(t.emulator.requests()).toBe(0);
    expect((await t.post(JOB, vars(job('customer-id-map', 1)), as.analyst)).status).toBe(200);
  });

  test('a token whose groups are granted the workflow reads it; an API key reads what its name is granted', async () => {
    const byToken = await t.post(JOB, vars(job('customer-id-map', 1)), as.analyst);
    expect(byToken.errors).toBeUndefined();
    expect(byToken.data).toEqual({ idMappingJob: { jobId: job('customer-id-map', 1).jobId, status: 'SUCCEEDED' } });
    const byKey = await t.post(MATCHING_JOB, vars(job('customer-matching', 1)), withKey);
    expect(byKey.data).toEqual({ matchingJob: { jobId: job('customer-matching', 1).jobId, status: expect.any(String) } });
    expect(t.emulator.requests()).toBe(2);
  });
});

describe('authorization on every path', () => {
  test.each([
    ['a token without the workflow', 'outsider', job('customer-id-map', 1)],
    ['an analyst, on a workflow outside customer-*', 'analyst', job('loyalty-id-map', 1)],
    ['an API key, on a workflow not granted to it', 'pipeline', job('customer-id-map', 1)],
  ])('a query by %s is FORBIDDEN before any call', async (_name, who, key) => {
    const res = await t.post(JOB, vars(key), who === 'pipeline' ? withKey : as[who as keyof typeof as]);
    expect(res.status).toBe(200);
    expect(res.data).toEqual({ idMappingJob: null });
    expect(codes(res)).toEqual(['FORBIDDEN']);
    expect(res.errors![0].message).toBe(`You are not allowed to read workflow ${key.workflowName}.`);
    expect(t.emulator.requests()).toBe(0);
  });

  test('a list of workflows shows only the readable ones; the jobs of an unreadable one are FORBIDDEN', async () => {
    const res = await t.post<{
      idMappingWorkflows: { nodes: { workflowName: string }[] };
      matchingWorkflows: { nodes: { workflowName: string }[] };
    }>('{ idMappingWorkflows { nodes { workflowName } } matchingWorkflows { nodes { workflowName } } }', undefined, as.analyst);
    expect(res.errors).toBeUndefined();
    expect(res.data!.idMappingWorkflows.nodes.map((wf) => wf.workflowName)).toEqual(['customer-id-map']);
    expect(res.data!.matchingWorkflows.nodes.map((wf) => wf.workflowName)).toEqual(['customer-matching']);
    const jobs = await t.post('{ idMappingJobs(workflowName: "loyalty-id-map") { nodes { jobId } } }', undefined, as.analyst);
    expect(codes(jobs)).toEqual(['FORBIDDEN']);
    expect(t.emulator.requests('ListIdMappingJobs')).toBe(0);
  });

  test("a list of workflows pages past those left out: cursors count the service's places", async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res: {
        data?: {
          matchingWorkflows: { nodes: { workflowName: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
        } | null;
      } = await t.post(
        'query ($after: String) { matchingWorkflows(first: 1, after: $after) { nodes { workflowName } pageInfo { hasNextPage endCursor } } }',
        { after },
        as.operator,
      );
      seen.push(...res.data!.matchingWorkflows.nodes.map((wf) => wf.workflowName));
      if (!res.data!.matchingWorkflows.pageInfo.hasNextPage) break;
      after = res.data!.matchingWorkflows.pageInfo.endCursor;
    }
    expect(seen).toEqual(['customer-matching']);
  });

  test('_entities: a denied item fails alone with FORBIDDEN, the others resolve, and only they are read', async () => {
    const res = await t.post<{ _entities: unknown[] }>(
      'query ($r: [_Any!]!) { _entities(representations: $r) { ... on IdMappingJob { jobId } ... on MatchingWorkflow { workflowName } } }',
      {
        r: [
          { __typename: 'IdMappingJob', ...job('customer-id-map', 2) },
          { __typename: 'IdMappingJob', ...job('loyalty-id-map', 2) },
          { __typename: 'MatchingWorkflow', workflowName: 'customer-matching' },
          { __typename: 'MatchingWorkflow', workflowName: 'address-matching' },
        ],
      },
      as.analyst,
    );
    expect(res.data!._entities).toEqual([{ jobId: job('customer-id-map', 2).jobId }, null, { workflowName: 'customer-matching' }, null]);
    expect(res.errors!.map((error) => [error.path, error.extensions?.code])).toEqual([
      [['_entities', 1], 'FORBIDDEN'],
      [['_entities', 3], 'FORBIDDEN'],
    ]);
    expect(t.emulator.requests()).toBe(2);
  });

  test('_entities without credentials is 401, as a router that does not forward them would see', async () => {
    const res = await t.post('query { _entities(representations: []) { __typename } }', undefined, anonymous);
    expect(res.status).toBe(401);
  });
});

describe('starts', () => {
  const startAs = (who: Record<string, string>, input: Record<string, unknown>) =>
    t.post<{ startIdMappingJob: { jobId: string } }>(START, { input }, who);

  test('an analyst may not start; the refusal costs nothing and is audited', async () => {
    const res = await startAs(as.analyst, { workflowName: 'customer-id-map' });
    expect(codes(res)).toEqual(['FORBIDDEN']);
    expect(t.emulator.requests()).toBe(0);
    expect(await audit.line((line) => line.audit === true && line.principal === 'token:ana' && line.action === 'start')).toMatchObject({
      workflow: 'customer-id-map',
      outcome: 'refused',
    });
  });

  test("an operator starts with the workflow's own output; the start is audited with its job id", async () => {
    const res = await startAs(as.operator, { workflowName: 'customer-id-map' });
    expect(res.errors).toBeUndefined();
    const { jobId } = res.data!.startIdMappingJob;
    expect(await audit.line((line) => line.audit === true && line.jobId === jobId)).toMatchObject({
      principal: 'token:oscar',
      action: 'start',
      workflow: 'customer-id-map',
      outcome: 'started',
    });
  });

  test.each([
    [
      'a role of another account',
      { roleArn: 'arn:aws:iam::999988887777:role/AttackerRole', outputS3Path: 's3://er-output/customers/x/' },
      'The role',
    ],
    ['a bucket outside the allowed folders', { roleArn: ROLE, outputS3Path: 's3://attacker-bucket/loot/' }, 'The output path'],
    ['a folder that only starts like an allowed one', { roleArn: ROLE, outputS3Path: 's3://er-output/customers-evil/' }, 'The output path'],
    [
      'a KMS key not on the list',
      { roleArn: ROLE, outputS3Path: 's3://er-output/customers/x/', kmsArn: 'arn:aws:kms:us-east-1:999988887777:key/abc' },
      'The KMS key',
    ],
  ])('an operator naming %s is FORBIDDEN before any call', async (_name, output, message) => {
    const res = await startAs(as.operator, { workflowName: 'customer-id-map', outputSourceConfig: [output] });
    expect(codes(res)).toEqual(['FORBIDDEN']);
    expect(res.errors![0].message).toMatch(new RegExp(`^${message}`));
    expect(t.emulator.requests()).toBe(0);
  });

  test('an operator may choose an output among those allowed', async () => {
    const output = { roleArn: ROLE, outputS3Path: 's3://er-output/customers/run-7/' };
    const res = await startAs(as.operator, { workflowName: 'customer-id-map', outputSourceConfig: [output] });
    expect(res.errors).toBeUndefined();
    expect(t.emulator.requests('StartIdMappingJob')).toBe(1);
  });

  test('an API key starts what its name is granted, and nothing else', async () => {
    const granted = await t.post(
      'mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }',
      undefined,
      withKey,
    );
    expect(granted.errors).toBeUndefined();
    const refused = await t.post(
      'mutation { startMatchingJob(input: { workflowName: "address-matching" }) { jobId } }',
      undefined,
      withKey,
    );
    expect(codes(refused)).toEqual(['FORBIDDEN']);
    expect(t.emulator.requests('StartMatchingJob')).toBe(1);
  });

  test("idempotency keys are the sender's: another principal's same key starts its own job, and learns nothing of the first", async () => {
    const key = `shared-${Date.now()}`;
    const first = await startAs(as.operator, { workflowName: 'customer-id-map', idempotencyKey: key });
    expect(first.errors).toBeUndefined();
    expect((await startAs(as.operator, { workflowName: 'customer-id-map', idempotencyKey: key })).data).toEqual(first.data);
    clock.advance(60_000);
    const same = await startAs(as.otherOperator, { workflowName: 'customer-id-map', idempotencyKey: key });
    expect(same.errors).toBeUndefined();
    expect(same.data!.startIdMappingJob.jobId).not.toBe(first.data!.startIdMappingJob.jobId);
    clock.advance(60_000);
    const output = { roleArn: ROLE, outputS3Path: 's3://er-output/customers/other/' };
    const different = await startAs(as.otherOperator, {
      workflowName: 'customer-id-map',
      idempotencyKey: `${key}-b`,
      outputSourceConfig: [output],
    });
    expect(different.errors).toBeUndefined();
    expect(t.emulator.requests('StartIdMappingJob')).toBe(3);
  });
});

describe('subscriptions', () => {
  const UPDATES = 'subscription ($w: String!, $j: ID!) { idMappingJobUpdated(workflowName: $w, jobId: $j) { jobId status } }';

  async function closeCode(connectionParams: Record<string, unknown> | undefined): Promise<{ code: number; reason: string }> {
    let closed!: (event: { code: number; reason: string }) => void;
    const whenClosed = new Promise<{ code: number; reason: string }>((resolve) => (closed = resolve));
    const client = wsClient(t.gateway.url, { connectionParams, onClosed: closed });
    const sub = new Subscription(client, UPDATES, { w: 'customer-id-map', j: job('customer-id-map', 1).jobId });
    await sub.ended();
    await client.dispose();
    return whenClosed;
  }

  test.each([
    ['no credentials', undefined],
    ['an expired token', 'expired'],
    ['an unknown API key', { 'X-API-Key': 'guess' }],
  ])('a socket with %s is closed with 4401 before anything is read', async (_name, params) => {
    const connectionParams = typeof params === 'string' ? { Authorization: as[params as keyof typeof as].authorization } : params;
    expect(await closeCode(connectionParams)).toMatchObject({ code: 4401 });
    expect(t.emulator.requests()).toBe(0);
  });

  test('credentials in connection_init: a granted workflow streams, another is FORBIDDEN before any call', async () => {
    const client = wsClient(t.gateway.url, { connectionParams: { Authorization: as.analyst.authorization } });
    const granted = new Subscription(client, UPDATES, { w: 'customer-id-map', j: job('customer-id-map', 1).jobId });
    expect((await granted.event(1)).data).toEqual({ idMappingJobUpdated: { jobId: job('customer-id-map', 1).jobId, status: 'SUCCEEDED' } });
    const reads = t.emulator.requests();
    const denied = new Subscription(client, UPDATES, { w: 'loyalty-id-map', j: job('loyalty-id-map', 1).jobId });
    await denied.ended();
    expect(denied.failure ?? denied.events[0]?.errors).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })]);
    expect(t.emulator.requests()).toBe(reads);
    await client.dispose();
  });

  test('an API key without the subscribe grant may not subscribe', async () => {
    const client = wsClient(t.gateway.url, { connectionParams: { 'x-api-key': pipeline.key } });
    const sub = new Subscription(
      client,
      'subscription ($w: String!, $j: ID!) { matchingJobUpdated(workflowName: $w, jobId: $j) { status } }',
      {
        w: 'customer-matching',
        j: job('customer-matching', 1).jobId,
      },
    );
    await sub.ended();
    expect(sub.failure ?? sub.events[0]?.errors).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })]);
    await client.dispose();
  });
});

describe('origins and hosts', () => {
  /** The status of a websocket upgrade with `headers`: 101 when it opens (the socket is then closed), else the refusal's. */
  async function upgrade(headers: Record<string, string>): Promise<number> {
    try {
      (await RawSocket.open(t.gateway.url, { init: false, headers })).close();
      return 101;
    } catch (err) {
      return Number(/Unexpected server response: (\d+)/.exec((err as Error).message)?.[1] ?? 0);
    }
  }

  function rawPost(headers: Record<string, string>): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const url = new URL(t.endpoint);
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ query: '{ __typename }' }));
    });
  }

  test('a websocket from a foreign Origin is refused at the upgrade; one from the same origin or localhost opens', async () => {
    expect(await upgrade({ origin: 'https://evil.example' })).toBe(403);
    expect(await upgrade({ origin: 'null' })).toBe(403);
    expect(await upgrade({ origin: t.gateway.url })).toBe(101);
    expect(await upgrade({ origin: 'http://localhost:5173' })).toBe(101);
  });

  test('a foreign Host is refused on HTTP and websockets (DNS rebinding)', async () => {
    const http = await rawPost({ host: 'rebind.evil.example', ...as.analyst });
    expect(http.status).toBe(403);
    expect(JSON.parse(http.body)).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'FORBIDDEN' } }] });
    expect(await upgrade({ host: 'rebind.evil.example' })).toBe(403);
  });

  test('an HTTP request from a foreign Origin is 403; a CORS preflight from an allowed one is answered', async () => {
    const foreign = await rawPost({ origin: 'https://evil.example', ...as.analyst });
    expect(foreign.status).toBe(403);
    const preflight = await fetch(t.endpoint, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
  });
});

describe('a token that expires', () => {
  test('closes its socket with 4401 when it does, on the gateway clock', async () => {
    const scheduler = new ManualScheduler();
    const own = await startIssuer();
    const g = await startTestGateway({
      scheduler,
      env: {
        ER_AUTH: 'jwt',
        ER_JWT_JWKS_URL: own.jwksUrl,
        ER_JWT_CLOCK_SKEW_S: '0',
        ER_POLICY_FILE: writeTempFile('policy.yaml', POLICY as never),
      },
    });
    try {
      // The scheduler's clock starts at 0: this token is valid for its first 90 seconds.
      const token = await own.sign('ana', { groups: ['analysts'], exp: 90 });
      let closed!: (event: { code: number; reason: string }) => void;
      const whenClosed = new Promise<{ code: number; reason: string }>((resolve) => (closed = resolve));
      const client = wsClient(g.gateway.url, { connectionParams: { authorization: `Bearer ${token}` }, onClosed: closed });
      const sub = new Subscription(
        client,
        'subscription ($w: String!, $j: ID!) { idMappingJobUpdated(workflowName: $w, jobId: $j) { status } }',
        {
          w: 'customer-id-map',
          j: job('customer-id-map', 1).jobId,
        },
      );
      await sub.event(1);
      expect(scheduler.pending).toBe(1);
      expect(scheduler.nextDelay).toBe(90_000);
      await scheduler.runNext();
      expect(await whenClosed).toMatchObject({ code: 4401, reason: 'The token has expired.' });
      await client.dispose();
    } finally {
      await g.close();
      await own.close();
    }
  });
});

describe('a token valid for long', () => {
  const DAY = 86_400_000;
  const WORKFLOW = `query { idMappingWorkflow(workflowName: "customer-id-map") { workflowName } }`;
  let asked = 0;

  async function gatewayWith(scheduler?: ManualScheduler) {
    const own = await startIssuer();
    const g = await startTestGateway({
      scheduler,
      env: {
        ER_AUTH: 'jwt',
        ER_JWT_JWKS_URL: own.jwksUrl,
        ER_JWT_CLOCK_SKEW_S: '0',
        ER_POLICY_FILE: writeTempFile('policy.yaml', POLICY as never),
      },
    });
    return { own, g, close: async () => (await g.close(), await own.close()) };
  }

  /** Asks the query over HTTP with `token`: the gateway is serving while the stream is open. */
  async function answersOver(url: string, token: string): Promise<void> {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: WORKFLOW }),
    });
    expect(await res.json()).toEqual({ data: { idMappingWorkflow: { workflowName: 'customer-id-map' } } });
  }

  /** Asks a query on `socket` and waits for its answer: the socket is open and serving. */
  async function answers(socket: RawSocket): Promise<void> {
    const id = `q${++asked}`;
    socket.subscribe(id, WORKFLOW);
    await socket.until(() => socket.messages.some((m) => m.id === id && m.type === 'complete'));
    expect(socket.results(id)).toEqual([{ data: { idMappingWorkflow: { workflowName: 'customer-id-map' } } }]);
  }

  test('keeps its websocket open for its 60 days: the expiry is armed in steps Node can time, and closes it with 4401 on the day', async () => {
    const scheduler = new ManualScheduler();
    const { own, g, close } = await gatewayWith(scheduler);
    try {
      // The scheduler's clock starts at 0.
      const token = await own.sign('ana', { groups: ['analysts'], exp: (60 * DAY) / 1000 });
      const socket = await RawSocket.open(g.gateway.url, { payload: { authorization: `Bearer ${token}` } });
      await answers(socket);
      expect(scheduler.pending).toBe(1);
      expect(scheduler.nextDelay).toBe(MAX_TIMER_MS);
      await scheduler.advance(3_600_000);
      await answers(socket);
      // Past each step of 24.8 days the expiry is armed again, not run.
      await scheduler.advance(60 * DAY - 3_600_000 - 1);
      await answers(socket);
      expect(scheduler.pending).toBe(1);
      await scheduler.advance(1);
      expect(await socket.closed).toEqual({ code: 4401, reason: 'The token has expired.' });
    } finally {
      await close();
    }
  });

  test('a token expiring in 2 s ends its event stream when it does, not before', async () => {
    const scheduler = new ManualScheduler();
    const { own, g, close } = await gatewayWith(scheduler);
    try {
      const running = runningJob(g.emulator, 'customer-id-map');
      const token = await own.sign('ana', { groups: ['analysts'], exp: 2 });
      const res = await fetch(`${g.gateway.url}/graphql/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: 'subscription ($w: String!, $j: ID!) { idMappingJobUpdated(workflowName: $w, jobId: $j) { status } }',
          variables: { w: running.workflowName, j: running.jobId },
        }),
      });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('RUNNING')) text += new TextDecoder().decode((await reader.read()).value);
      await scheduler.advance(1999);
      let ended = false;
      const end = (async () => {
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read());
        ended = true;
      })();
      await answersOver(g.gateway.url, token);
      expect(ended).toBe(false);
      await scheduler.advance(1);
      await end;
      expect(ended).toBe(true);
    } finally {
      await close();
    }
  });

  test('a token expiring in 2 s closes its websocket with 4401 when it does, not before', async () => {
    const scheduler = new ManualScheduler();
    const { own, g, close } = await gatewayWith(scheduler);
    try {
      const token = await own.sign('ana', { groups: ['analysts'], exp: 2 });
      const socket = await RawSocket.open(g.gateway.url, { payload: { authorization: `Bearer ${token}` } });
      await answers(socket);
      expect(scheduler.nextDelay).toBe(2000);
      await scheduler.advance(1999);
      await answers(socket);
      await scheduler.advance(1);
      expect(await socket.closed).toEqual({ code: 4401, reason: 'The token has expired.' });
    } finally {
      await close();
    }
  });

  test("on Node's own timers, a 60-day token's socket serves, and no timer overflows", async () => {
    const overflows: Error[] = [];
    const onWarning = (warning: Error) => void (warning.name === 'TimeoutOverflowWarning' && overflows.push(warning));
    process.on('warning', onWarning);
    const { own, g, close } = await gatewayWith();
    try {
      const token = await own.sign('ana', { groups: ['analysts'], exp: Math.floor((Date.now() + 60 * DAY) / 1000) });
      const socket = await RawSocket.open(g.gateway.url, { payload: { authorization: `Bearer ${token}` } });
      await answers(socket);
      await answers(socket);
      expect(overflows).toEqual([]);
      socket.close();
    } finally {
      process.off('warning', onWarning);
      await close();
    }
  });
});

describe('signing keys', () => {
  const settings = (issuer: TestIssuer) => ({
    modes: ['jwt'] as const,
    jwt: { jwksUrl: issuer.jwksUrl, algorithms: ['ES256'], clockSkewSeconds: 0, groupsClaim: 'groups', jwksCooldownMs: 0 },
  });

  test('a rotated key is fetched when a token first names it; the key set is not fetched per request', async () => {
    const own = await startIssuer();
    try {
      const authenticator = await Authenticator.create(settings(own));
      for (let i = 0; i < 3; i++) await authenticator.authenticate({ bearer: await own.sign('ana') });
      expect(own.fetches).toBe(1);
      await own.rotate();
      expect(await authenticator.authenticate({ bearer: await own.sign('ana', { groups: ['analysts'] }) })).toMatchObject({
        id: 'token:ana',
        groups: ['analysts'],
      });
      expect(own.fetches).toBe(2);
    } finally {
      await own.close();
    }
  });

  test('a token checked once is remembered until it expires, then refused as expired', async () => {
    const own = await startIssuer();
    const now = new ManualClock(Date.now());
    try {
      const authenticator = await Authenticator.create({ ...settings(own), now: now.read });
      const token = await own.sign('ana', { groups: ['analysts'], exp: Math.floor(now.now / 1000) + 60 });
      const first = await authenticator.authenticate({ bearer: token });
      // The same principal object: no second signature check made a new one.
      expect(await authenticator.authenticate({ bearer: token })).toBe(first);
      now.advance(59_000);
      expect(await authenticator.authenticate({ bearer: token })).toBe(first);
      now.advance(1000);
      await expect(authenticator.authenticate({ bearer: token })).rejects.toMatchObject({ reason: 'expired' });
    } finally {
      await own.close();
    }
  });

  test("the spellings of one signature (its last character's unused bits) are one remembered token, not one each", async () => {
    const own = await startIssuer();
    try {
      const authenticator = await Authenticator.create(settings(own));
      const token = await own.sign('ana');
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      // An ES256 signature is 64 bytes in 86 characters: the last one's two low bits are not read.
      const respelled = token.slice(0, -1) + alphabet[alphabet.indexOf(token.at(-1)!) ^ 1];
      expect(respelled).not.toBe(token);
      const first = await authenticator.authenticate({ bearer: token });
      expect(await authenticator.authenticate({ bearer: respelled })).toBe(first);
    } finally {
      await own.close();
    }
  });

  test('a signature one character longer than any bytes encode (4n + 1) is refused as invalid, not taken as another spelling', async () => {
    // ES384 signs 96 bytes, 128 characters: jose drops a lone 129th, which made the token with it one more spelling.
    const { publicKey, privateKey } = await generateKeyPair('ES384');
    const authenticator = await Authenticator.create({
      modes: ['jwt'],
      jwt: { publicKeyPem: await exportSPKI(publicKey), algorithms: ['ES384'], clockSkewSeconds: 0, groupsClaim: 'groups' },
    });
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384' })
      .setSubject('ana')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
      .sign(privateKey);
    expect(token.length - token.lastIndexOf('.') - 1).toBe(128);
    expect(await authenticator.authenticate({ bearer: token })).toMatchObject({ id: 'token:ana' });
    // Refused though the token it would spell is remembered.
    await expect(authenticator.authenticate({ bearer: `${token}A` })).rejects.toMatchObject({ reason: 'invalid' });
  });

  test('a remembered token and an API key are resolved at once, without a promise; a token seen first waits on its check', async () => {
    const own = await startIssuer();
    const key = newApiKey();
    try {
      const authenticator = await Authenticator.create({
        modes: ['jwt', 'apikey'],
        jwt: settings(own).jwt,
        apiKeys: [{ name: 'etl', sha256: key.sha256 }],
      });
      const token = await own.sign('ana');
      const first = authenticator.principalOf({ bearer: token });
      expect(first).toBeInstanceOf(Promise);
      const checked = await first;
      expect(authenticator.principalOf({ bearer: token })).toBe(checked);
      expect(authenticator.principalOf({ apiKey: key.key })).toMatchObject({ id: 'apiKey:etl' });
      expect(() => authenticator.principalOf({ apiKey: 'guess' })).toThrow(expect.objectContaining({ reason: 'invalid' }));
      expect(() => authenticator.principalOf({ bearer: 'not.a.token' })).toThrow(expect.objectContaining({ reason: 'invalid' }));
    } finally {
      await own.close();
    }
  });

  test('the bearer scheme is read in any case and with spaces around the token; another scheme or a token with spaces in it is a bad token', () => {
    const read = (authorization: string) => credentialsFrom((name) => (name === 'authorization' ? authorization : undefined)).bearer;
    expect(read('Bearer a.b.c')).toBe('a.b.c');
    expect(read('bEaReR   a.b.c  ')).toBe('a.b.c');
    expect(read('Basic a.b.c')).toBe('');
    expect(read('Bearer')).toBe('');
    expect(read('Bearera.b.c')).toBe('');
    // Left whole for the format check, which refuses it.
    expect(read('Bearer a.b c')).toBe('a.b c');
  });

  test('a remembered token is checked anew once its key set is due to be fetched again', async () => {
    const own = await startIssuer();
    const now = new ManualClock(Date.now());
    try {
      const authenticator = await Authenticator.create({ ...settings(own), jwt: { ...settings(own).jwt, jwksGraceMs: 0 }, now: now.read });
      const token = await own.sign('ana', { exp: Math.floor(now.now / 1000) + 3600 });
      const first = await authenticator.authenticate({ bearer: token });
      now.advance(10 * 60_000 - 1);
      expect(await authenticator.authenticate({ bearer: token })).toBe(first);
      expect(own.fetches).toBe(1);
      // Ten minutes on, the keys must be fetched again: the token is not taken on its old check while they cannot be.
      own.fail('error');
      now.advance(1);
      await expect(authenticator.authenticate({ bearer: token })).rejects.toMatchObject({ reason: 'unavailable' });
      expect(own.fetches).toBe(2);
    } finally {
      await own.close();
    }
  });

  test('an API key names its principal by its hash, the same every time; a wrong key is refused every time', async () => {
    const key = newApiKey();
    const authenticator = await Authenticator.create({
      modes: ['apikey'],
      apiKeys: [{ name: 'etl', sha256: key.sha256, groups: ['pipelines'] }],
    });
    const first = await authenticator.authenticate({ apiKey: key.key });
    expect(first).toMatchObject({ id: 'apiKey:etl', groups: ['pipelines'] });
    expect(await authenticator.authenticate({ apiKey: key.key })).toBe(first);
    for (let i = 0; i < 2; i++) {
      await expect(authenticator.authenticate({ apiKey: `${key.key}x` })).rejects.toMatchObject({ reason: 'invalid' });
    }
  });

  test('a key set that cannot be fetched is 503 UPSTREAM_UNAVAILABLE with Retry-After, not 401 and not 500', async () => {
    const own = await startIssuer();
    const token = await own.sign('ana', { groups: ['analysts'] });
    const g = await startTestGateway({
      env: { ER_AUTH: 'jwt', ER_JWT_JWKS_URL: own.jwksUrl, ER_POLICY_FILE: writeTempFile('policy.yaml', POLICY as never) },
    });
    try {
      await own.close();
      const res = await g.post(JOB, vars(job('customer-id-map', 1)), { authorization: `Bearer ${token}` });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(codes(res)).toEqual(['UPSTREAM_UNAVAILABLE']);
      expect(g.emulator.requests()).toBe(0);
    } finally {
      await g.close();
    }
  });
});

describe('the policy file', () => {
  test('is checked at start-up: the gateway does not start, and the error names each entry at fault', async () => {
    const bad = writeTempFile('policy.yaml', {
      grants: [
        { to: {}, workflows: ['customer-*'], actions: ['read'] },
        { to: { groups: ['ops'] }, workflows: ['customer-*'], actions: ['delete'] },
      ],
      outputs: [{ workflows: ['*'], roles: ['arn:aws:iam::123456789012:user/alice'], s3Prefixes: ['s3://bucket/no-slash'] }],
    });
    const started = startTestGateway({ env: { ER_AUTH: 'apikey', ER_API_KEYS: `ci:${pipeline.sha256}`, ER_POLICY_FILE: bad } });
    await expect(started).rejects.toBeInstanceOf(SettingError);
    const message = await started.catch((err: Error) => err.message);
    expect(message).toContain(`ER_POLICY_FILE: ${bad} is not a valid policy:`);
    expect(message).toMatch(/grants\.0\.to: names nobody/);
    expect(message).toMatch(/grants\.1\.actions\.0: /);
    expect(message).toMatch(/outputs\.0\.roles\.0: must be an IAM role ARN/);
    expect(message).toMatch(/outputs\.0\.s3Prefixes\.0: must be an s3:\/\/bucket\/prefix\/ folder/);
  });

  test('a missing file names the setting', async () => {
    await expect(
      startTestGateway({ env: { ER_AUTH: 'apikey', ER_API_KEYS: `ci:${pipeline.sha256}`, ER_POLICY_FILE: '/nonexistent/policy.yaml' } }),
    ).rejects.toThrow(/^ER_POLICY_FILE: cannot read \/nonexistent\/policy.yaml \(ENOENT\)/);
  });

  test("deploy/policy.example.yaml, the README's example, is a valid policy", async () => {
    await expect(Policy.load(resolve(__dirname, '../deploy/policy.example.yaml'))).resolves.toBeInstanceOf(Policy);
  });
});

describe('workflow identity', () => {
  test.each([
    ['of another account', 'arn:aws:entityresolution:us-east-1:999988887777:idmappingworkflow/customer-id-map'],
    ['of another region', 'arn:aws:entityresolution:eu-west-1:123456789012:idmappingworkflow/customer-id-map'],
    ['of the other kind', 'arn:aws:entityresolution:us-east-1:123456789012:matchingworkflow/customer-matching'],
  ])('a job read by a workflow ARN %s is BAD_USER_INPUT before any call', async (_name, arn) => {
    const res = await t.post(JOB, { w: arn, j: job('customer-id-map', 1).jobId }, as.operator);
    expect(res.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'workflowName' });
    expect(t.emulator.requests()).toBe(0);
  });

  test("an ARN of this account and region is read as the workflow's name, and the policy applies to that name", async () => {
    const arn = 'arn:aws:entityresolution:us-east-1:123456789012:idmappingworkflow/loyalty-id-map';
    expect(codes(await t.post(JOB, { w: arn, j: job('loyalty-id-map', 1).jobId }, as.analyst))).toEqual(['FORBIDDEN']);
    const own = 'arn:aws:entityresolution:us-east-1:123456789012:idmappingworkflow/customer-id-map';
    expect((await t.post(JOB, { w: own, j: job('customer-id-map', 1).jobId }, as.analyst)).errors).toBeUndefined();
  });
});
