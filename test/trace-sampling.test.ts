import { randomBytes } from 'node:crypto';
import { seededJobId } from '../src/emulator/seed';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './utils/otlp';
import { startGatewayProcess } from './utils/process';

/** A W3C traceparent of a caller's trace, sampled or not, and its ids. */
function callerParent(sampled: boolean): { traceparent: string; traceId: string; spanId: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`, traceId, spanId };
}

/**
 * A trace id the ratio sampler keeps (`keep`) or drops at any ratio short of
 * 1: the SDK's rule XORs the id's four 32-bit words and keeps the trace when
 * that is below ratio × 2³²; here it is 0, or 2³² − 1.
 */
function traceIdFor(keep: boolean): string {
  const words = [0, 1, 2].map(() => randomBytes(4).readUInt32BE());
  words.push((words[0] ^ words[1] ^ words[2] ^ (keep ? 0 : 0xffffffff)) >>> 0);
  return words.map((word) => word.toString(16).padStart(8, '0')).join('');
}

const jobQuery = (n: number) =>
  `query SampledJob { idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', n)}") { status } }`;

interface TracedGateway {
  post(query: string, headers?: Record<string, string>): Promise<{ errors?: unknown }>;
}

/** A gateway process (its exporter runs as in production) sending its spans to `receiver`. */
async function gatewayWith(receiver: OtlpReceiver, env: Record<string, string>): Promise<TracedGateway> {
  const gateway = await startGatewayProcess({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '20',
    // Each query reaches the service, so each has an upstream call to trace (or not).
    ER_RESPONSE_CACHE_MB: '0',
    ER_FINAL_JOB_CACHE_SIZE: '0',
    ER_FRESHNESS_MS: '0',
    ...env,
  });
  return {
    async post(query, headers = {}) {
      const response = await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query }),
      });
      return (await response.json()) as { errors?: unknown };
    },
  };
}

/**
 * The spans of everything sent so far: a last, sampled query is sent, and
 * once its spans (server and call) are in, every earlier span ended before
 * them was exported in the same or an earlier batch.
 */
async function settle(receiver: OtlpReceiver, gateway: TracedGateway): Promise<ReceivedSpan[]> {
  // Sampled, and within any ratio but 0: so kept whatever ER_TRACE_REMOTE_PARENT says.
  const marker = { traceId: traceIdFor(true), spanId: randomBytes(8).toString('hex') };
  await gateway.post(jobQuery(9), { traceparent: `00-${marker.traceId}-${marker.spanId}-01` });
  await receiver.waitFor((span) => span.traceId === marker.traceId, 2);
  return receiver.spans.filter((span) => span.traceId !== marker.traceId);
}

describe('which traces are kept', () => {
  test('an unsampled operation exports nothing, its upstream call included; a sampled caller still gets its whole trace', async () => {
    const receiver = await startOtlpReceiver();
    const gateway = await gatewayWith(receiver, { OTEL_TRACES_SAMPLER: 'parentbased_always_off' });
    for (let n = 0; n < 3; n++) expect((await gateway.post(jobQuery(n))).errors).toBeUndefined();
    const unsampled = callerParent(false);
    expect((await gateway.post(jobQuery(3), { traceparent: unsampled.traceparent })).errors).toBeUndefined();
    expect(await settle(receiver, gateway)).toEqual([]);
  });

  test('with ER_TRACE_REMOTE_PARENT=follow (the default) a sampled traceparent is kept at a ratio of 0', async () => {
    const receiver = await startOtlpReceiver();
    const gateway = await gatewayWith(receiver, { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
    const caller = callerParent(true);
    await gateway.post(jobQuery(1), { traceparent: caller.traceparent });
    const [server] = await receiver.waitFor((span) => span.traceId === caller.traceId && span.kind === 2);
    expect(server.parentSpanId).toBe(caller.spanId);
  });

  test("with ER_TRACE_REMOTE_PARENT=ratio a caller's sampled flag forces nothing: the ratio decides on its trace id, which continues", async () => {
    const receiver = await startOtlpReceiver();
    const gateway = await gatewayWith(receiver, {
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.5',
      ER_TRACE_REMOTE_PARENT: 'ratio',
    });
    const spanId = () => randomBytes(8).toString('hex');
    const dropped = { traceId: traceIdFor(false), spanId: spanId() };
    const kept = { traceId: traceIdFor(true), spanId: spanId() };
    // Both say "sampled"; the first's trace id is past the ratio, the second's within it (the unsampled flag of a third is overridden alike).
    await gateway.post(jobQuery(1), { traceparent: `00-${dropped.traceId}-${dropped.spanId}-01` });
    await gateway.post(jobQuery(2), { traceparent: `00-${kept.traceId}-${kept.spanId}-00` });
    const spans = await settle(receiver, gateway);
    expect(spans.filter((span) => span.traceId === dropped.traceId)).toEqual([]);
    const server = spans.find((span) => span.traceId === kept.traceId && span.kind === 2);
    expect(server?.parentSpanId).toBe(kept.spanId);
    expect(spans.find((span) => span.traceId === kept.traceId && span.kind === 3)?.parentSpanId).toBe(server?.spanId);
  });

  test("with ER_TRACE_REMOTE_PARENT=ignore each operation is a trace of its own, linked to the caller's span", async () => {
    const receiver = await startOtlpReceiver();
    const gateway = await gatewayWith(receiver, { OTEL_TRACES_SAMPLER: 'parentbased_always_on', ER_TRACE_REMOTE_PARENT: 'ignore' });
    const caller = callerParent(false);
    await gateway.post(jobQuery(1), { traceparent: caller.traceparent });
    const [server] = await receiver.waitFor(
      (span) => span.kind === 2 && span.links.some((link) => link.traceId === caller.traceId && link.spanId === caller.spanId),
    );
    expect(server.traceId).not.toBe(caller.traceId);
    expect(server.parentSpanId).toBeUndefined();
    await receiver.waitFor((span) => span.traceId === server.traceId && span.kind === 3 && span.parentSpanId === server.spanId);
  });
});
