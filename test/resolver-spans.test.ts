import { randomBytes } from 'node:crypto';
import { seededJobId } from '../src/emulator/seed';
import { startOtlpReceiver } from './utils/otlp';
import { startGatewayProcess } from './utils/process';

test('with ER_TRACE_RESOLVERS a resolver that does work is a span under the operation, named Parent.field whatever its alias (the path an attribute); a property read is none', async () => {
  const receiver = await startOtlpReceiver();
  const gateway = await startGatewayProcess({
    ...receiver.env,
    ER_TRACE_RESOLVERS: 'true',
    ER_RESPONSE_CACHE_MB: '0',
  });
  const traceId = randomBytes(16).toString('hex');
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    body: JSON.stringify({
      query: `query ResolvedJob { job: idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 2)}") { status jobId } }`,
    }),
  });
  expect(((await response.json()) as { errors?: unknown }).errors).toBeUndefined();
  const [server] = await receiver.waitFor((span) => span.traceId === traceId && span.kind === 2);
  const [field] = await receiver.waitFor((span) => span.traceId === traceId && span.name === 'graphql.resolve Query.idMappingJob');
  expect(field).toMatchObject({
    parentSpanId: server.spanId,
    attributes: {
      'graphql.field.name': 'idMappingJob',
      'graphql.field.path': 'job',
      'graphql.field.type': 'IdMappingJob',
      'graphql.parent.type': 'Query',
    },
  });
  // The upstream call is the operation's child too (the context travels explicitly): it is inside the resolver's time.
  const [call] = await receiver.waitFor((span) => span.traceId === traceId && span.name === 'EntityResolution.GetIdMappingJob');
  expect(call.parentSpanId).toBe(server.spanId);
  const resolved = receiver.spans.filter((span) => span.traceId === traceId && span.name.startsWith('graphql.resolve'));
  expect(resolved.map((span) => span.name)).toEqual(['graphql.resolve Query.idMappingJob']);
});
