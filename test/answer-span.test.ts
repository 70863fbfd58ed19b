import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './utils/otlp';

/**
 * A cached answer's span is made by the gateway (AnswerSpan), not by the
 * SDK's tracer: what the exporter sends of it must be what it sends of the
 * SDK's span of the same operation, field for field but the ids and times,
 * both made in one process (test/utils/answer-spans.ts) exporting to a
 * receiver here.
 */

const SOURCE = 'query CustomerJob($jobId: ID!) { idMappingJob(workflowName: "w", jobId: $jobId) { status } }';

/** A router's sampled traceparent (each span is sent one with `tracestate: router=1`), and its ids. */
function callerParent(): { traceparent: string; traceId: string; spanId: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

/** The span as exported, without what differs between any two spans (ids, times). */
function shape(span: ReceivedSpan): Record<string, unknown> {
  const raw = JSON.parse(span.raw) as Record<string, unknown>;
  return {
    ...raw,
    traceId: undefined,
    spanId: undefined,
    parentSpanId: undefined,
    startTimeUnixNano: undefined,
    endTimeUnixNano: undefined,
    events: (raw.events as Record<string, unknown>[] | undefined)?.map((event) => ({ ...event, timeUnixNano: undefined })),
    resource: span.resource,
  };
}

let receiver: OtlpReceiver;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
});

/** The same operation, once as a cached answer's span and once as the SDK's (named when resolved, as a miss's is), both ended with `codes`. */
async function both(codes: string[], env: Record<string, string> = {}): Promise<{ answer: ReceivedSpan; sdk: ReceivedSpan }> {
  const [a, b] = [callerParent(), callerParent()];
  const started = Date.now();
  await promisify(execFile)(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', 'test/utils/answer-spans.ts', SOURCE, JSON.stringify(codes), a.traceparent, b.traceparent],
    {
      cwd: resolve(__dirname, '..'),
      env: { PATH: process.env.PATH, ...receiver.env, OTEL_TRACES_SAMPLER: 'always_on', ER_TRACE_DOCUMENT: 'true', ...env },
    },
  );
  const finished = Date.now();
  // With ER_TRACE_REMOTE_PARENT=ignore each is a root of its own, linked to its caller's span.
  const ofCaller = (caller: typeof a) => (span: ReceivedSpan) =>
    span.traceId === caller.traceId || span.links.some((link) => link.spanId === caller.spanId);
  const [answer] = await receiver.waitFor(ofCaller(a));
  const [sdk] = await receiver.waitFor(ofCaller(b));
  const raw = JSON.parse(answer.raw) as { startTimeUnixNano: string; endTimeUnixNano: string };
  const [start, end] = [Number(BigInt(raw.startTimeUnixNano) / 1_000_000n), Number(BigInt(raw.endTimeUnixNano) / 1_000_000n)];
  expect(start).toBeGreaterThanOrEqual(started);
  expect(end).toBeGreaterThanOrEqual(start);
  expect(end).toBeLessThanOrEqual(finished);
  if (env.ER_TRACE_REMOTE_PARENT === 'ignore') {
    expect(answer.parentSpanId ?? '').toBe('');
    expect(answer.links).toMatchObject([{ traceId: a.traceId, spanId: a.spanId }]);
    expect(answer.traceId).not.toBe(a.traceId);
  } else expect(answer.parentSpanId).toBe(a.spanId);
  expect(answer.spanId).toMatch(/^[0-9a-f]{16}$/);
  expect(answer.spanId).not.toBe(sdk.spanId);
  return { answer, sdk };
}

test("a cached answer's span is exported as the SDK's span of the operation: name, kind, attributes, flags, trace state, status, resource", async () => {
  const { answer, sdk } = await both([]);
  expect(answer).toMatchObject({
    name: 'query CustomerJob',
    kind: 2,
    attributes: { 'graphql.operation.type': 'query', 'graphql.operation.name': 'CustomerJob', 'graphql.document': SOURCE },
  });
  expect(shape(answer)).toEqual(shape(sdk));
});

test('ended with error codes, it carries them as the SDK span does: the distinct codes, an event per error, an error status', async () => {
  const { answer, sdk } = await both(['NOT_FOUND', 'THROTTLED', 'NOT_FOUND']);
  expect(answer.attributes['graphql.error.codes']).toEqual(['NOT_FOUND', 'THROTTLED']);
  expect(answer.events.map((event) => event.attributes['graphql.error.code'])).toEqual(['NOT_FOUND', 'THROTTLED', 'NOT_FOUND']);
  expect(answer.status).toEqual({ code: 2, message: 'NOT_FOUND, THROTTLED' });
  expect(shape(answer)).toEqual(shape(sdk));
});

test("with ER_TRACE_REMOTE_PARENT=ignore, a new trace linked to the caller's span, as the SDK span is", async () => {
  const { answer, sdk } = await both([], { ER_TRACE_REMOTE_PARENT: 'ignore' });
  expect(shape(answer)).toEqual({ ...shape(sdk), links: expect.anything() });
  expect(answer.links).toHaveLength(1);
});
