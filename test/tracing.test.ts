import { randomBytes } from 'node:crypto';
import { seededJobId } from '../src/emulator/seed';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './utils/otlp';
import { startGatewayProcess, type GatewayProcess } from './utils/process';
import { CallbackReceiver } from './utils/callback-receiver';
import { sseClient, Subscription, wsClient } from './utils/subscriptions';
import { until } from './utils/wait';

/** A W3C traceparent of a sampled trace a router started, and its ids. */
function routerParent(): { traceparent: string; traceId: string; spanId: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

let receiver: OtlpReceiver;
let gateway: GatewayProcess;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  gateway = await startGatewayProcess({
    ...receiver.env,
    OTEL_SERVICE_NAME: 'er-gateway-under-test',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
    // One call per operation and no waiting: a second GetMatchingJob is THROTTLED by the rate governor.
    ER_RATE_PER_SECOND: '0.001',
    ER_RATE_MAX_WAIT_MS: '0',
    ER_FINAL_JOB_CACHE_SIZE: '0',
    ER_FRESHNESS_MS: '0',
    ER_RESPONSE_CACHE_MB: '0',
    ER_CALLBACK_URL_ALLOW: 'http://127.0.0.1:*/callback/**',
  });
});

async function post(query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Record<string, unknown>; errors?: { extensions: { code: string } }[] };
}

const inTrace = (traceId: string) => (span: ReceivedSpan) => span.traceId === traceId;

describe('traces over OTLP/HTTP from a gateway process', () => {
  test("a query with a traceparent is a server span child of the caller's, with the upstream call under it naming the SDK operation", async () => {
    const parent = routerParent();
    const res = await post(
      'query CustomerJob($workflowName: String!, $jobId: ID!) { idMappingJob(workflowName: $workflowName, jobId: $jobId) { status } }',
      { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 0) },
      { traceparent: parent.traceparent, tracestate: 'router=1' },
    );
    expect(res.errors).toBeUndefined();
    const [server] = await receiver.waitFor((span) => span.traceId === parent.traceId && span.kind === 2);
    expect(server).toMatchObject({
      parentSpanId: parent.spanId,
      name: 'query CustomerJob',
      attributes: { 'graphql.operation.type': 'query', 'graphql.operation.name': 'CustomerJob' },
      resource: { 'service.name': 'er-gateway-under-test', 'deployment.environment.name': 'test' },
    });
    expect(server.attributes['graphql.document']).toBeUndefined();
    const [call] = await receiver.waitFor((span) => span.traceId === parent.traceId && span.kind === 3);
    expect(call).toMatchObject({
      parentSpanId: server.spanId,
      name: 'EntityResolution.GetIdMappingJob',
      attributes: {
        'rpc.system': 'aws-api',
        'rpc.service': 'EntityResolution',
        'rpc.method': 'GetIdMappingJob',
        'er.upstream.outcome': 'ok',
        'er.upstream.retries': 0,
        'http.response.status_code': 200,
      },
    });
    expect(call.attributes['aws.request_id']).toEqual(expect.any(String));
    // ER_TRACE_RESOLVERS is off by default: no span per field.
    expect(receiver.spans.filter((span) => span.traceId === parent.traceId && span.name.startsWith('graphql.resolve'))).toEqual([]);
  });

  test('a NOT_FOUND and a THROTTLED carry their codes, on the server span and the call; no span carries variables or credentials', async () => {
    // Job ids are 32 hex digits: these name no job, and must show in no span.
    const marker = randomBytes(16).toString('hex');
    const other = randomBytes(16).toString('hex');
    const token = `token-${randomBytes(6).toString('hex')}`;
    const query = 'query OneMatch($jobId: ID!) { matchingJob(workflowName: "customer-matching", jobId: $jobId) { status } }';
    const missing = routerParent();
    const notFound = await post(query, { jobId: marker }, { traceparent: missing.traceparent, authorization: `Bearer ${token}` });
    expect(notFound.errors?.[0].extensions.code).toBe('NOT_FOUND');
    const throttled = routerParent();
    const refused = await post(query, { jobId: other }, { traceparent: throttled.traceparent });
    expect(refused.errors?.[0].extensions.code).toBe('THROTTLED');

    const [missingServer] = await receiver.waitFor((span) => inTrace(missing.traceId)(span) && span.kind === 2);
    expect(missingServer.attributes['graphql.error.codes']).toEqual(['NOT_FOUND']);
    expect(missingServer.status.code).toBe(2);
    expect(missingServer.events).toEqual([{ name: 'graphql.error', attributes: { 'graphql.error.code': 'NOT_FOUND' } }]);
    const [missingCall] = await receiver.waitFor((span) => inTrace(missing.traceId)(span) && span.kind === 3);
    expect(missingCall.attributes).toMatchObject({ 'rpc.method': 'GetMatchingJob', 'error.type': 'ResourceNotFoundException' });

    const [throttledServer] = await receiver.waitFor((span) => inTrace(throttled.traceId)(span) && span.kind === 2);
    expect(throttledServer.attributes['graphql.error.codes']).toEqual(['THROTTLED']);
    const [throttledCall] = await receiver.waitFor((span) => inTrace(throttled.traceId)(span) && span.kind === 3);
    expect(throttledCall.attributes).toMatchObject({
      'rpc.method': 'GetMatchingJob',
      'er.rate_governor.refused': true,
      'error.type': 'THROTTLED',
    });

    for (const body of receiver.bodies) {
      expect(body).not.toContain(marker);
      expect(body).not.toContain(other);
      expect(body).not.toContain(token);
    }
  });

  test("an operation over SSE continues the traceparent of its request's headers", async () => {
    const parent = routerParent();
    const client = sseClient(gateway.url, { headers: { traceparent: parent.traceparent } });
    const results: unknown[] = [];
    for await (const result of client.iterate({ query: 'query OverSse { __typename }' })) results.push(result);
    expect(results).toEqual([{ data: { __typename: 'Query' } }]);
    const [server] = await receiver.waitFor((span) => inTrace(parent.traceId)(span) && span.kind === 2);
    expect(server).toMatchObject({ parentSpanId: parent.spanId, name: 'query OverSse' });
  });

  test("a callback subscription continues the traceparent of the router's request", async () => {
    const parent = routerParent();
    const callbacks = await CallbackReceiver.start();
    const id = 'traced-callback';
    const response = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: parent.traceparent },
      body: JSON.stringify({
        query: `subscription OverCallback { idMappingJobUpdated(workflowName: "customer-id-map", jobId: "${'f'.repeat(32)}") { status } }`,
        extensions: { subscription: { callbackUrl: callbacks.urlOf(id), subscriptionId: id, verifier: 'v', heartbeatIntervalMs: 0 } },
      }),
    });
    expect(response.status).toBe(200);
    const [server] = await receiver.waitFor((span) => inTrace(parent.traceId)(span) && span.kind === 2);
    expect(server).toMatchObject({ parentSpanId: parent.spanId, name: 'subscription OverCallback' });
  });

  test('a log line written during a traced request (the audit line of a start) carries its trace and span ids', async () => {
    const parent = routerParent();
    const res = await post(
      'mutation Start($input: StartIdMappingJobInput!) { startIdMappingJob(input: $input) { jobId } }',
      { input: { workflowName: 'loyalty-id-map' } },
      { traceparent: parent.traceparent },
    );
    expect(res.errors).toBeUndefined();
    const [server] = await receiver.waitFor((span) => inTrace(parent.traceId)(span) && span.kind === 2);
    const audited = () => gateway.lines.find((line) => line.audit === true && line.trace_id === parent.traceId);
    // The line comes on the process's stdout, which may trail the span's export.
    await until(() => audited() !== undefined, { emitter: gateway.child.stdout!, event: 'data' });
    expect(audited()).toMatchObject({ action: 'start', workflow: 'loyalty-id-map', span_id: server.spanId, trace_flags: '01' });
  });

  test("a websocket subscription's subscribe span is in the client's trace (connection_init's traceparent), with its document when asked; each poll is a trace of its own, linked to it", async () => {
    const watcher = await startGatewayProcess({
      ...receiver.env,
      ER_EMULATOR_JOB_SECONDS: '30',
      ER_POLL_INTERVAL_MS: '50',
      ER_TRACE_DOCUMENT: 'true',
    });
    const start = await fetch(`${watcher.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }' }),
    });
    const { jobId } = ((await start.json()) as { data: { startIdMappingJob: { jobId: string } } }).data.startIdMappingJob;
    const parent = routerParent();
    const client = wsClient(watcher.url, { connectionParams: { traceparent: parent.traceparent } });
    const subscription = new Subscription(
      client,
      'subscription Follow($jobId: ID!) { idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) { status } }',
      { jobId },
    );
    await subscription.event(1);
    const [subscribe] = await receiver.waitFor((span) => inTrace(parent.traceId)(span) && span.kind === 2);
    expect(subscribe).toMatchObject({
      parentSpanId: parent.spanId,
      name: 'subscription Follow',
      attributes: { 'graphql.operation.type': 'subscription' },
    });
    // ER_TRACE_DOCUMENT puts the document on the span; its variables stay off it.
    expect(subscribe.attributes['graphql.document']).toContain('subscription Follow($jobId: ID!)');
    expect(subscribe.raw).not.toContain(jobId);
    const [firstRead] = await receiver.waitFor((span) => inTrace(parent.traceId)(span) && span.kind === 3);
    expect(firstRead).toMatchObject({ parentSpanId: subscribe.spanId, attributes: { 'rpc.method': 'GetIdMappingJob' } });
    const linked = (span: ReceivedSpan) => span.links.some((link) => link.spanId === subscribe.spanId);
    const polls = await receiver.waitFor((span) => span.name === 'poll idMapping job' && linked(span), 2);
    expect(new Set(polls.map((poll) => poll.traceId)).size).toBe(polls.length);
    for (const poll of polls) {
      expect(poll.traceId).not.toBe(parent.traceId);
      expect(poll.parentSpanId).toBeUndefined();
      expect(poll.attributes).toMatchObject({ 'er.job.id': jobId, 'er.poll.subscriptions': 1 });
      const [call] = await receiver.waitFor((span) => span.traceId === poll.traceId && span.kind === 3);
      expect(call).toMatchObject({ parentSpanId: poll.spanId, attributes: { 'rpc.method': 'GetIdMappingJob' } });
    }
  });
});
