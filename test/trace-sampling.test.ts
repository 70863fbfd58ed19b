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

/** The trace id a client would craft to be kept by a ratio decided on the id's own bits (the SDK's TraceIdRatioBasedSampler XORs its words). */
const CRAFTED_TRACE_ID = '00000000000000000000000000000001';

const jobQuery = (n: number) =>
  `query SampledJob { idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', n)}") { status } }`;

interface TracedGateway {
  post(query: string, headers?: Record<string, string>): Promise<{ errors?: unknown }>;
  /** SIGTERM, and its exit status: by then every span it kept is exported. */
  stop(): Promise<number | string>;
}

/** A gateway process (its exporter runs as in production) sending its spans to `receiver`. */
async function gatewayWith(receiver: OtlpReceiver, env: Record<string, string>): Promise<TracedGateway> {
  const gateway = await startGatewayProcess({
    ...receiver.env,
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
    stop() {
      gateway.child.kill('SIGTERM');
      return gateway.exited;
    },
  };
}

/**
 * The spans of everything sent so far: a last, sampled query is sent, and
 * once its spans (server and call) are in, every earlier span ended before
 * them was exported in the same or an earlier batch.
 */
async function settle(receiver: OtlpReceiver, gateway: TracedGateway): Promise<ReceivedSpan[]> {
  // Sampled: so kept as ER_TRACE_REMOTE_PARENT=follow keeps it.
  const marker = callerParent(true);
  await gateway.post(jobQuery(9), { traceparent: marker.traceparent });
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

  test("with ER_TRACE_REMOTE_PARENT=ratio a caller's trace id forces nothing: 50 operations under a crafted 00…01 export no span at a ratio of 0.0001", async () => {
    const receiver = await startOtlpReceiver();
    const gateway = await gatewayWith(receiver, {
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.0001',
      ER_TRACE_REMOTE_PARENT: 'ratio',
    });
    // Sampled flag or not, each new span id under the one trace id.
    for (let n = 0; n < 50; n++) {
      const traceparent = `00-${CRAFTED_TRACE_ID}-${randomBytes(8).toString('hex')}-${n % 2 === 0 ? '01' : '00'}`;
      expect((await gateway.post(jobQuery(n % 8), { traceparent })).errors).toBeUndefined();
    }
    expect(await gateway.stop()).toBe(0);
    expect(receiver.spans.filter((span) => span.traceId === CRAFTED_TRACE_ID)).toEqual([]);
  });

  test("with ER_TRACE_REMOTE_PARENT=ratio a kept operation continues the caller's trace, whatever its sampled flag said", async () => {
    const receiver = await startOtlpReceiver();
    const gateway = await gatewayWith(receiver, {
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '1',
      ER_TRACE_REMOTE_PARENT: 'ratio',
    });
    const caller = callerParent(false);
    await gateway.post(jobQuery(1), { traceparent: caller.traceparent });
    const [server] = await receiver.waitFor((span) => span.traceId === caller.traceId && span.kind === 2);
    expect(server.parentSpanId).toBe(caller.spanId);
    const [call] = await receiver.waitFor((span) => span.traceId === caller.traceId && span.kind === 3);
    expect(call.parentSpanId).toBe(server.spanId);
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
