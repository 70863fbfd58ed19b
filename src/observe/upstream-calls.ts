import type { EntityResolutionClient } from '@aws-sdk/client-entityresolution';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type {
  FinalizeHandler,
  FinalizeHandlerArguments,
  HandlerExecutionContext,
  InitializeHandler,
  InitializeHandlerArguments,
  MetadataBearer,
  ResponseMetadata,
} from '@smithy/types';
import { failureName } from '../upstream/errors';
import { GovernorRefusal, termsOf } from '../upstream/rate-governor';
import type { GatewayMetrics } from './metrics';
import type { Tracing } from './tracing';

/** How `rpc.service` names the service, as the AWS SDK instrumentation does. */
const SERVICE = 'EntityResolution';

/** One call (all its attempts) as the middleware follows it. */
interface Call {
  span: Span;
  /** When the current attempt began waiting for its turn at the rate governor (ms since the time origin). */
  queuedAt?: number;
  waitedMs: number;
}

/**
 * Observes every call `client` makes, as SDK middleware: its duration by
 * operation and outcome on /metrics, and with `tracing` a client span per
 * call (all its attempts) named `EntityResolution.<Operation>`, with the
 * AWS attributes (`rpc.system=aws-api`, `rpc.service`, `rpc.method`,
 * `aws.request_id`, the HTTP status, attempts and retries, the exception's
 * name as `error.type`). The span is the child of the operation the call
 * serves (its command's terms carry the context), or of a poll's trace;
 * none when that is not sampled.
 * With `governed`, each attempt's wait for its turn at the rate governor is
 * a child span of its own (`rate governor wait`) when it waited at all, and
 * the call's total wait an attribute; a call the governor refused is an
 * error span with `er.rate_governor.refused`, and is no upstream call.
 */
export function observeUpstreamCalls(
  client: EntityResolutionClient,
  options: { metrics: GatewayMetrics; tracing?: Tracing; governed: boolean },
): void {
  const { metrics, tracing } = options;
  const calls = new WeakMap<HandlerExecutionContext, Call>();
  client.middlewareStack.add(
    (next: InitializeHandler<object, MetadataBearer>, context: HandlerExecutionContext) =>
      async (args: InitializeHandlerArguments<object>) => {
        const operation = context.commandName?.replace(/Command$/, '') ?? 'unknown';
        const started = performance.now();
        let call: Call | undefined;
        const span = tracing?.startSpan(
          `${SERVICE}.${operation}`,
          { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'aws-api', 'rpc.service': SERVICE, 'rpc.method': operation } },
          termsOf(context)?.trace,
        );
        if (span) {
          call = { span, waitedMs: 0 };
          calls.set(context, call);
        }
        try {
          const out = await next(args);
          metrics.upstreamDuration.observe({ operation, outcome: 'ok' }, (performance.now() - started) / 1000);
          if (call) ended(call, 'ok', out.output.$metadata);
          return out;
        } catch (err) {
          if (err instanceof GovernorRefusal) {
            call?.span.setAttribute('er.rate_governor.refused', true);
            if (call) ended(call, 'THROTTLED');
            throw err;
          }
          const outcome = failureName(err);
          metrics.upstreamDuration.observe({ operation, outcome }, (performance.now() - started) / 1000);
          if (call) ended(call, outcome, (err as Partial<MetadataBearer>).$metadata);
          throw err;
        }
      },
    { step: 'initialize', name: 'observeUpstreamCall', priority: 'high' },
  );
  if (!tracing || !options.governed) return;
  // Around the governor's middleware, inside the retry loop: the time between the two is one attempt's wait for its turn.
  client.middlewareStack.addRelativeTo(
    (next: FinalizeHandler<object, MetadataBearer>, context: HandlerExecutionContext) => (args: FinalizeHandlerArguments<object>) => {
      const call = calls.get(context);
      if (call) call.queuedAt = performance.now();
      return next(args);
    },
    { name: 'observeGovernorQueued', relation: 'before', toMiddleware: 'rateGovernor' },
  );
  client.middlewareStack.addRelativeTo(
    (next: FinalizeHandler<object, MetadataBearer>, context: HandlerExecutionContext) => (args: FinalizeHandlerArguments<object>) => {
      const call = calls.get(context);
      if (call?.queuedAt !== undefined) {
        const waitedMs = performance.now() - call.queuedAt;
        call.waitedMs += waitedMs;
        if (waitedMs >= 1) {
          const startTime = performance.timeOrigin + call.queuedAt;
          tracing.startSpan('rate governor wait', { startTime }, trace.setSpan(ROOT_CONTEXT, call.span))?.end(startTime + waitedMs);
        }
        call.queuedAt = undefined;
      }
      return next(args);
    },
    { name: 'observeGovernorTurn', relation: 'after', toMiddleware: 'rateGovernor' },
  );
}

function ended(call: Call, outcome: string, metadata?: ResponseMetadata): void {
  const { span } = call;
  span.setAttribute('er.upstream.outcome', outcome);
  span.setAttribute('er.rate_governor.wait_ms', Math.round(call.waitedMs));
  if (metadata?.requestId) span.setAttribute('aws.request_id', metadata.requestId);
  if (metadata?.httpStatusCode) span.setAttribute('http.response.status_code', metadata.httpStatusCode);
  if (metadata?.attempts !== undefined) {
    span.setAttribute('er.upstream.attempts', metadata.attempts);
    span.setAttribute('er.upstream.retries', Math.max(0, metadata.attempts - 1));
  }
  if (outcome !== 'ok') {
    span.setAttribute('error.type', outcome);
    span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
  }
  span.end();
}
