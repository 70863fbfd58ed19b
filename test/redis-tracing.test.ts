import { randomBytes, randomUUID } from 'node:crypto';
import { seededJobId } from '../src/emulator/seed';
import { awsBackendEnv, startTestEmulator } from './utils/gateway';
import { startOtlpReceiver, type ReceivedSpan } from './utils/otlp';
import { startGatewayProcess } from './utils/process';
import { SHARED_REDIS_URL, sharedRedisPrefix } from './utils/redis';

/**
 * Redis commands made for a traced operation are client spans in its trace:
 * one gateway process in shared mode on the machine's Redis (a prefix of the
 * test's own) and the emulator, its spans sent to a receiver.
 */
test("a traced query's final-job read and shared rate budget, and a start's idempotency claim, are Redis spans in its trace, with no key or value", async () => {
  const emulator = await startTestEmulator();
  const receiver = await startOtlpReceiver();
  const prefix = sharedRedisPrefix();
  const gateway = await startGatewayProcess({
    ...awsBackendEnv(emulator.url, emulator.state.region),
    ER_ACCOUNT_ID: emulator.state.accountId,
    ER_REDIS_URL: SHARED_REDIS_URL,
    ER_REDIS_PREFIX: prefix,
    // The budget every replica shares is in Redis; finished jobs too.
    ER_RATE_PER_SECOND: '50',
    ER_FINAL_JOB_CACHE_SIZE: '100',
    ER_RESPONSE_CACHE_MB: '0',
    ...receiver.env,
  });
  const post = async (query: string, traceId: string) => {
    const response = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      body: JSON.stringify({ query }),
    });
    const body = (await response.json()) as { errors?: unknown };
    expect(body.errors).toBeUndefined();
  };
  const jobId = seededJobId('customer-id-map', 4);
  const idempotencyKey = randomUUID();

  const read = randomBytes(16).toString('hex');
  await post(`query FinishedJob { idMappingJob(workflowName: "customer-id-map", jobId: "${jobId}") { status } }`, read);
  const inRead = (span: ReceivedSpan) => span.traceId === read;
  const [server] = await receiver.waitFor((span) => inRead(span) && span.kind === 2);
  const [get] = await receiver.waitFor((span) => inRead(span) && span.name === 'GET');
  const [take] = await receiver.waitFor((span) => inRead(span) && span.name === 'EVALSHA erTake');
  for (const span of [get, take]) {
    expect(span).toMatchObject({
      kind: 3,
      parentSpanId: server.spanId,
      attributes: { 'db.system.name': 'redis', 'db.system': 'redis', 'server.address': '127.0.0.1', 'server.port': 6379 },
    });
  }
  expect(get.attributes['db.operation.name']).toBe('GET');
  expect(take.attributes).toMatchObject({ 'db.operation.name': 'EVALSHA', 'db.stored_procedure.name': 'erTake' });

  const start = randomBytes(16).toString('hex');
  await post(
    `mutation Start { startIdMappingJob(input: { workflowName: "customer-id-map", idempotencyKey: "${idempotencyKey}" }) { jobId } }`,
    start,
  );
  const [claim] = await receiver.waitFor((span) => span.traceId === start && span.name === 'EVALSHA erReserve');
  const [startServer] = await receiver.waitFor((span) => span.traceId === start && span.kind === 2);
  expect(claim).toMatchObject({ kind: 3, parentSpanId: startServer.spanId, attributes: { 'db.system.name': 'redis' } });

  // Keys name the prefix, workflows, jobs and idempotency keys: none of it is on a span.
  for (const span of receiver.spans.filter((s) => s.attributes['db.system.name'] === 'redis')) {
    for (const secret of [prefix, jobId, idempotencyKey, 'customer-id-map']) expect(span.raw).not.toContain(secret);
  }
});
