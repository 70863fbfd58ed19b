import { newApiKey, writeTempFile } from './utils/auth';
import { capturedLogger, codes, startTestGateway, type TestGateway } from './utils/gateway';
import { RawSocket } from './utils/subscriptions';

/**
 * The audit log of starts: every start the gateway refuses is one line with
 * its reason, whatever refused it (input validation, the policy, a limit,
 * the idempotency key), as a started or failed one is; and credentials that
 * fail are counted on /metrics.
 */

const ROLE = 'arn:aws:iam::123456789012:role/ErOutput';
const POLICY = {
  grants: [
    { to: { apiKeys: ['operator'] }, workflows: ['customer-*'], actions: ['read', 'start', 'subscribe'] },
    { to: { apiKeys: ['viewer'] }, workflows: ['*'], actions: ['read'] },
  ],
  outputs: [{ workflows: ['customer-id-map'], roles: [ROLE], s3Prefixes: ['s3://er-output/customers/'] }],
};
const operator = newApiKey();
const viewer = newApiKey();
const log = capturedLogger();
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({
    logger: log.logger,
    env: {
      ER_AUTH: 'apikey',
      ER_API_KEYS: `operator:${operator.sha256},viewer:${viewer.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', POLICY as never),
      ER_MAX_ALIASES: '2',
    },
  });
});

afterAll(async () => {
  await t.close();
});

const START = 'mutation ($input: StartIdMappingJobInput!) { startIdMappingJob(input: $input) { jobId } }';
const asOperator = { 'x-api-key': operator.key };

/** The audit lines written while `act` ran. */
async function audited(act: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const from = log.lines.length;
  await act();
  return log.lines.slice(from).filter((line) => line.audit === true);
}

const refused = (workflow: string, reason: string, more: Record<string, unknown> = {}) => ({
  principal: 'apiKey:operator',
  action: 'start',
  workflow,
  outcome: 'refused',
  reason,
  ...more,
});

test('a start with a malformed role ARN is refused as bad input and audited with its reason and field, before any call', async () => {
  const before = t.emulator.requests();
  let res: Awaited<ReturnType<TestGateway['post']>> | undefined;
  const lines = await audited(async () => {
    res = await t.post(
      START,
      {
        input: {
          workflowName: 'customer-id-map',
          outputSourceConfig: [{ roleArn: 'arn:aws:iam::role/NoAccount', outputS3Path: 's3://er-output/customers/x/' }],
        },
      },
      asOperator,
    );
  });
  expect(codes(res!)).toEqual(['BAD_USER_INPUT']);
  expect(lines).toEqual([expect.objectContaining(refused('customer-id-map', 'invalid_input', { field: 'outputSourceConfig.roleArn' }))]);
  expect(lines[0].msg).toBe('audit: start customer-id-map refused');
  expect(t.emulator.requests()).toBe(before);
});

test('a malformed workflow name is audited under the name the client sent', async () => {
  const lines = await audited(() =>
    t.post(START, { input: { workflowName: 'arn:aws:entityresolution:us-east-1:999988887777:idmappingworkflow/theirs' } }, asOperator),
  );
  expect(lines).toEqual([
    expect.objectContaining(
      refused('arn:aws:entityresolution:us-east-1:999988887777:idmappingworkflow/theirs', 'invalid_input', { field: 'workflowName' }),
    ),
  ]);
});

test('starts the policy refuses are audited once each, with the policy reason', async () => {
  const notGranted = await audited(() => t.post(START, { input: { workflowName: 'loyalty-id-map' } }, asOperator));
  expect(notGranted).toEqual([expect.objectContaining(refused('loyalty-id-map', 'not_granted'))]);
  const output = await audited(() =>
    t.post(
      START,
      { input: { workflowName: 'customer-id-map', outputSourceConfig: [{ roleArn: ROLE, outputS3Path: 's3://attacker-bucket/loot/' }] } },
      asOperator,
    ),
  );
  expect(output).toEqual([expect.objectContaining(refused('customer-id-map', 'output_not_allowed'))]);
});

test('a key reused for another start is audited as idempotency_key_reused; its first start as started', async () => {
  const key = `audit-${Date.now()}`;
  const first = await audited(() => t.post(START, { input: { workflowName: 'customer-id-map', idempotencyKey: key } }, asOperator));
  expect(first).toEqual([
    expect.objectContaining({
      principal: 'apiKey:operator',
      action: 'start',
      workflow: 'customer-id-map',
      outcome: 'started',
      jobId: expect.any(String),
    }),
  ]);
  // The same start again is answered from its key: no second `started`.
  expect(await audited(() => t.post(START, { input: { workflowName: 'customer-id-map', idempotencyKey: key } }, asOperator))).toEqual([]);
  const other = await audited(() =>
    t.post(START, { input: { workflowName: 'customer-id-map', idempotencyKey: key, jobType: 'DELETE_ONLY' } }, asOperator),
  );
  expect(other).toEqual([expect.objectContaining(refused('customer-id-map', 'idempotency_key_reused'))]);
});

test('a mutation refused as a whole audits each start it held, with workflows from literals and variables', async () => {
  const before = t.emulator.requests();
  const aliases = await audited(() =>
    t.post(
      'mutation ($w: String!) { a: startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } b: startMatchingJob(input: { workflowName: $w }) { jobId } c: startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }',
      { w: 'customer-matching' },
      asOperator,
    ),
  );
  expect(aliases).toEqual(
    ['customer-matching', 'customer-matching', 'customer-id-map'].map((workflow) =>
      expect.objectContaining(refused(workflow, 'invalid_operation')),
    ),
  );
  expect(t.emulator.requests()).toBe(before);
});

test('a mutation whose upstream cost passes ER_MAX_UPSTREAM_CALLS audits each start with limit_exceeded and the limit, and sends nothing', async () => {
  const small = await startTestGateway({
    logger: log.logger,
    env: {
      ER_AUTH: 'apikey',
      ER_API_KEYS: `operator:${operator.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', POLICY as never),
      ER_MAX_UPSTREAM_CALLS: '3',
    },
  });
  try {
    let res: Awaited<ReturnType<TestGateway['post']>> | undefined;
    const lines = await audited(async () => {
      res = await small.post(
        'mutation { a: startMatchingJob(input: { workflowName: "customer-matching" }) { jobId job { status } } b: startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId job { status } } }',
        undefined,
        asOperator,
      );
    });
    expect(codes(res!)).toEqual(['LIMIT_EXCEEDED']);
    expect(lines).toEqual(
      ['customer-matching', 'customer-id-map'].map((workflow) =>
        expect.objectContaining(refused(workflow, 'limit_exceeded', { limit: 'upstreamCalls' })),
      ),
    );
    expect(small.emulator.requests()).toBe(0);
  } finally {
    await small.close();
  }
});

test('over websockets and SSE too, the starts of a mutation the gate refuses are audited', async () => {
  const mutation =
    'mutation { a: startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } b: startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } c: startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }';
  const expected = ['customer-matching', 'customer-matching', 'customer-id-map'].map((workflow) =>
    expect.objectContaining(refused(workflow, 'invalid_operation')),
  );
  const overWs = await audited(async () => {
    const socket = await RawSocket.open(t.gateway.url, { init: false });
    socket.init(asOperator);
    await socket.message('connection_ack');
    socket.subscribe('1', mutation);
    await socket.message('error', '1');
    socket.close();
  });
  expect(overWs).toEqual(expected);
  const overSse = await audited(async () => {
    const res = await fetch(`${t.gateway.url}/graphql/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...asOperator },
      body: JSON.stringify({ query: mutation }),
    });
    expect(res.status).toBe(400);
    await res.text();
  });
  expect(overSse).toEqual(expected);
});

test('credentials that fail are counted by reason and transport on /metrics, not audited', async () => {
  const metric = async () =>
    (await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text())
      .split('\n')
      .filter((line) => line.startsWith('er_gateway_auth_failures_total{'));
  const lines = await audited(async () => {
    expect((await t.post('{ __typename }', undefined, { 'x-api-key': 'not-a-key-of-ours' })).status).toBe(401);
    expect((await t.post('{ __typename }', undefined, { 'x-api-key': 'not-a-key-of-ours' })).status).toBe(401);
    expect((await t.post('{ __typename }')).status).toBe(401);
    const socket = await RawSocket.open(t.gateway.url, { init: false });
    socket.init({ 'x-api-key': 'not-a-key-of-ours' });
    expect((await socket.closed).code).toBe(4401);
  });
  expect(lines).toEqual([]);
  expect((await metric()).sort()).toEqual([
    'er_gateway_auth_failures_total{reason="invalid",transport="http"} 2',
    'er_gateway_auth_failures_total{reason="invalid",transport="websocket"} 1',
    'er_gateway_auth_failures_total{reason="missing",transport="http"} 1',
  ]);
});
