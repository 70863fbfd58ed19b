import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { seededJobId } from '../src/emulator/seed';
import { writeTempFile } from './utils/auth';
import { leftover } from './utils/leftovers';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './utils/otlp';
import { startGatewayProcess, type GatewayProcess } from './utils/process';

/**
 * Traces through Hive Gateway in front of er-gateway, as a platform team runs it, both
 * exporting to one OTLP receiver: Hive Gateway with its OpenTelemetry
 * plugin (its own SDK and context manager; test/utils/hive-router.ts) and
 * er-gateway with OTEL_EXPORTER_OTLP_ENDPOINT, each in a process of its own.
 */

let receiver: OtlpReceiver;
let subgraph: GatewayProcess;
let routerUrl: string;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  subgraph = await startGatewayProcess({
    ...receiver.env,
    OTEL_SERVICE_NAME: 'er-gateway',
    ER_FINAL_JOB_CACHE_SIZE: '0',
    ER_RESPONSE_CACHE_MB: '0',
    ER_EMULATOR_JOB_SECONDS: '30',
    ER_POLL_INTERVAL_MS: '50',
  });
  const composed = composeServices([
    { name: 'er-gateway', typeDefs: parse(readFileSync(resolve(__dirname, '../schema.graphql'), 'utf8')), url: `${subgraph.url}/graphql` },
  ]);
  if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
  const supergraph = writeTempFile('supergraph.graphql', composed.supergraphSdl);
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', resolve(__dirname, 'utils/hive-router.ts')], {
    env: { PATH: process.env.PATH, SUPERGRAPH_FILE: supergraph, OTLP_TRACES_URL: `${receiver.url}/v1/traces`, NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((done) => child.once('exit', done));
  leftover(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  });
  routerUrl = await new Promise<string>((done, fail) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^hive ready at (\S+)/.exec(line);
      if (match) done(match[1]);
    });
    void exited.then((code) => fail(new Error(`Hive Gateway exited (${String(code)}) before it was ready`)));
  });
});

test("one trace covers Hive Gateway's spans, er-gateway's operation span under them and the upstream Get under that", async () => {
  const jobId = seededJobId('customer-id-map', 3);
  const res = await fetch(routerUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: `query PinnedJob { idMappingJob(workflowName: "customer-id-map", jobId: "${jobId}") { jobId status } }`,
    }),
  });
  const body = (await res.json()) as { data?: { idMappingJob: { status: string } }; errors?: unknown };
  expect(body.errors).toBeUndefined();
  expect(body.data?.idMappingJob.status).toBe('SUCCEEDED');

  const [operation] = await receiver.waitFor((span) => span.resource['service.name'] === 'er-gateway' && span.name.startsWith('query '));
  const [call] = await receiver.waitFor((span) => span.traceId === operation.traceId && span.name === 'EntityResolution.GetIdMappingJob');
  expect(call.parentSpanId).toBe(operation.spanId);
  const fromRouter = (span: ReceivedSpan) => span.traceId === operation.traceId && span.resource['service.name'] === 'hive-gateway';
  // The router's root span ends last, so it may come in a later export than the others: wait for it.
  await receiver.waitFor((span) => fromRouter(span) && span.parentSpanId === undefined);
  const routerSpans = receiver.spans.filter(fromRouter);
  // The operation span's parent is a span of the router's (its call to the subgraph), in the same trace.
  expect(routerSpans.find((span) => span.spanId === operation.parentSpanId)?.name).toBe('http.fetch');
  expect(routerSpans.find((span) => span.parentSpanId === undefined)?.name).toBe('POST /graphql');
  expect(routerSpans.map((span) => span.name)).toEqual(
    expect.arrayContaining(['graphql.operation PinnedJob', 'subgraph.execute (er-gateway)']),
  );
});

test("a subscription through the router: the subscribe span is in the client's trace, under the router's fetch, and polls link to it", async () => {
  const start = await fetch(routerUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }' }),
  });
  const { jobId } = ((await start.json()) as { data: { startIdMappingJob: { jobId: string } } }).data.startIdMappingJob;
  // The client's own trace, which the router continues.
  const clientTrace = randomBytes(16).toString('hex');
  const stream = new AbortController();
  leftover(() => stream.abort());
  const response = await fetch(routerUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      traceparent: `00-${clientTrace}-${randomBytes(8).toString('hex')}-01`,
    },
    body: JSON.stringify({
      query: `subscription FollowJob { idMappingJobUpdated(workflowName: "customer-id-map", jobId: "${jobId}") { status } }`,
    }),
    signal: stream.signal,
  });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes('"status"')) text += new TextDecoder().decode((await reader.read()).value);
  expect(text).toMatch(/"status":"(QUEUED|RUNNING)"/);

  const [subscribe] = await receiver.waitFor(
    (span) => span.resource['service.name'] === 'er-gateway' && span.name === 'subscription FollowJob',
  );
  const routerSpans = await receiver.waitFor(
    (span) => span.traceId === subscribe.traceId && span.resource['service.name'] === 'hive-gateway',
  );
  expect(routerSpans.find((span) => span.spanId === subscribe.parentSpanId)?.name).toBe('http.fetch');
  const polls = await receiver.waitFor(
    (span) => span.name === 'poll idMapping job' && span.links.some((link) => link.spanId === subscribe.spanId),
  );
  expect(polls[0].traceId).not.toBe(subscribe.traceId);
  stream.abort();
});
