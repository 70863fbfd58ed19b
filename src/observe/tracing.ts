import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { randomUUID } from 'node:crypto';
import type { Config } from '../server/config';
import { TraceSampling, UNSAMPLED } from './sampling';
import { SubscriptionRecord } from './subscription-record';

/** Tracing's settings, from the OTEL_* variables (see config.ts); undefined when tracing is off. */
export type TracingSettings = NonNullable<Config['tracing']>;

/** Reads one incoming header (or `connection_init` field, or `extensions` entry) by its lower-case name. */
export type TraceCarrier = (name: string) => unknown;

const carrierGetter: TextMapGetter<TraceCarrier> = {
  get: (carrier, key) => {
    const value = carrier(key);
    if (typeof value === 'string') return value;
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? (value as string[]) : undefined;
  },
  keys: () => [],
};

type SpanOptions = NonNullable<Parameters<Tracer['startSpan']>[1]>;

/** Links a poll span keeps at most: a job with thousands of subscribers links the newest ones. */
const MAX_LINKS = 32;

/** An operation's span name, as the GraphQL semantic conventions name it (`query JobPage`). */
const spanNameOf = (type: string, name: string | undefined) => (name ? `${type} ${name}` : type);

/** An operation's span attributes: its kind, its name and (with ER_TRACE_DOCUMENT) its text. */
function operationAttributes(type: string, name: string | undefined, document: string | undefined): Attributes {
  const attributes: Attributes = { 'graphql.operation.type': type };
  if (name) attributes['graphql.operation.name'] = name;
  if (document !== undefined) attributes['graphql.document'] = document;
  return attributes;
}

/**
 * An operation known before it is answered: a cached answer's, as Apollo
 * resolved it when the answer was stored. Made once per stored answer, with
 * its span's name and attributes, so a hit's span starts complete (no
 * rename, no attribute set one by one) and nothing of it is made per hit.
 */
export class KnownOperation {
  readonly spanName: string;
  /** Without the document, and with it (ER_TRACE_DOCUMENT): the SDK copies them into each span, so they are shared. */
  readonly attributes: Readonly<Attributes>;
  readonly attributesWithDocument: Readonly<Attributes>;

  constructor(
    readonly type: string,
    readonly name: string | undefined,
    /** The operation's text. */
    readonly source: string,
  ) {
    this.spanName = spanNameOf(type, name);
    this.attributes = operationAttributes(type, name, undefined);
    this.attributesWithDocument = operationAttributes(type, name, source);
  }
}

/**
 * One GraphQL operation's server span, started when the request arrives
 * (the parent is the caller's `traceparent`, if any) and named once the
 * operation is known, as the GraphQL semantic conventions name it
 * (`query JobPage`). `context` is what the operation's upstream calls are
 * children of: it travels explicitly (the GraphQL context, the JobStore
 * view, the SDK command's terms), never through AsyncLocalStorage.
 */
export class OperationTrace {
  /** The span's context, made when first asked for: an answer from the response cache has no children and never asks. */
  private own: Context | undefined;

  constructor(
    /** None when the operation is not sampled: then nothing is recorded, and `context` drops its children too. */
    readonly span: Span | undefined,
    /** The span's parent; when there is no span, the context its children get (and drop them in). */
    private readonly parent: Context,
    private readonly withDocument: boolean,
  ) {}

  /** The context the operation's children start in. */
  get context(): Context {
    if (!this.span) return this.parent;
    return (this.own ??= trace.setSpan(this.parent, this.span));
  }

  /** The operation's kind and name (and its text, when ER_TRACE_DOCUMENT asks). */
  resolved(type: string, name: string | undefined, document: () => string | undefined): void {
    if (!this.span) return;
    this.span.updateName(spanNameOf(type, name));
    this.span.setAttributes(operationAttributes(type, name, this.withDocument ? document() : undefined));
  }

  /** Ends the span with the codes of the errors the client was sent (masked ones as INTERNAL_SERVER_ERROR): codes only, never messages. */
  end(codes: readonly string[]): void {
    if (!this.span) return;
    if (codes.length > 0) {
      const distinct = [...new Set(codes)];
      this.span.setAttribute('graphql.error.codes', distinct);
      for (const code of codes) this.span.addEvent('graphql.error', { 'graphql.error.code': code });
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: distinct.join(', ') });
    }
    this.span.end();
  }
}

/** What a caller's trace context travels in: W3C `traceparent`, `tracestate` and `baggage`. */
const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });
const TRACE_FIELDS = propagator.fields();

/**
 * Tracing, on when an OTLP endpoint is set: spans go to it over OTLP/HTTP in
 * batches. No context manager is installed (none is needed: every span's
 * parent is handed to it), so with tracing off nothing of OpenTelemetry runs
 * at all, and with it on no async hook slows the process.
 */
export class Tracing {
  private readonly tracer: Tracer;

  /** The operation of an unsampled request that sent no trace context: one for all, as it holds nothing. */
  private readonly unsampled: OperationTrace;

  constructor(
    provider: TracerProvider,
    private readonly sampling: TraceSampling,
    private readonly settings: TracingSettings,
  ) {
    this.tracer = provider.getTracer('er-gateway');
    this.unsampled = new OperationTrace(undefined, UNSAMPLED, false);
  }

  /**
   * Starts a span under `parent` (a root without one) when it is sampled;
   * undefined, with nothing made, when it is not. Every span of the gateway
   * starts here: an unsampled request costs no ids, spans or attributes.
   */
  startSpan(name: string, options: SpanOptions, parent: Context = ROOT_CONTEXT): Span | undefined {
    const decided = this.sampling.parentFor(parent);
    return decided && this.tracer.startSpan(name, options, decided);
  }

  /** The context a caller sent: W3C `traceparent`, `tracestate` and `baggage`; the root when it sent none. */
  extract(carrier: TraceCarrier | undefined): Context {
    return carrier ? propagator.extract(ROOT_CONTEXT, carrier, carrierGetter) : ROOT_CONTEXT;
  }

  /**
   * Starts the server span of one operation, child of the caller's context
   * (with ER_TRACE_REMOTE_PARENT=ignore: a root, linked to the caller's span);
   * when the operation is `known` already, named and with its attributes.
   */
  operation(carrier: TraceCarrier | undefined, known?: KnownOperation): OperationTrace {
    let parent = this.extract(carrier);
    let links: Link[] | undefined;
    if (this.settings.remoteParent === 'ignore' && parent !== ROOT_CONTEXT) {
      const caller = trace.getSpanContext(parent);
      if (caller) links = [{ context: caller }];
      parent = ROOT_CONTEXT;
    }
    const attributes = known && (this.settings.document ? known.attributesWithDocument : known.attributes);
    const span = this.startSpan(known?.spanName ?? 'GraphQL Operation', { kind: SpanKind.SERVER, links, attributes }, parent);
    if (span) return new OperationTrace(span, parent, this.settings.document);
    // An unsampled caller's context is kept: its children are dropped as it was, and log lines name its trace.
    return parent === ROOT_CONTEXT ? this.unsampled : new OperationTrace(undefined, trace.getSpan(parent) ? parent : UNSAMPLED, false);
  }

  /** The record of one traced subscription's events, written as a span of its trace when it ends. */
  subscription(parent: Context, attributes: Record<string, string>): SubscriptionRecord {
    return new SubscriptionRecord(this, parent, attributes);
  }

  /**
   * Runs one poll of a watched job as a trace of its own, linked to the
   * subscriptions it serves (the newest `MAX_LINKS`): a poll serves every
   * subscriber at once, so no subscriber's trace holds it.
   */
  async poll<T>(
    name: string,
    attributes: Record<string, string>,
    links: readonly SpanContext[],
    work: (context: Context) => Promise<T>,
  ): Promise<T> {
    const spanLinks: Link[] = links.slice(-MAX_LINKS).map((context) => ({ context }));
    const span = this.startSpan(name, { kind: SpanKind.INTERNAL, root: true, links: spanLinks, attributes });
    if (!span) return work(UNSAMPLED);
    if (links.length > 0) span.setAttribute('er.poll.subscriptions', links.length);
    try {
      return await work(trace.setSpan(ROOT_CONTEXT, span));
    } catch (err) {
      const code = (err as { extensions?: { code?: unknown } }).extensions?.code;
      span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : 'error' });
      throw err;
    } finally {
      span.end();
    }
  }
}

/** Starts tracing with `settings`; its dispose exports the spans still buffered, then stops (see startTelemetryExport for its bound). */
export function startTracing(
  settings: TracingSettings,
  version: string,
  instanceId: string = randomUUID(),
): { tracing: Tracing; dispose(): Promise<void> } {
  const Exporter = settings.protocol === 'http/json' ? JsonExporter : ProtobufExporter;
  const sampling = new TraceSampling(settings);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.version': version,
      'service.instance.id': instanceId,
      ...settings.resourceAttributes,
      'service.name': settings.serviceName,
    }),
    sampler: sampling,
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new Exporter({ url: settings.endpoint, headers: settings.headers, timeoutMillis: settings.timeoutMs }),
        scheduledDelayMillis: settings.exportDelayMs,
        maxExportBatchSize: settings.maxExportBatchSize,
        maxQueueSize: settings.maxQueueSize,
        exportTimeoutMillis: settings.timeoutMs,
      }),
    ],
  });
  return { tracing: new Tracing(provider, sampling, settings), dispose: () => provider.shutdown() };
}

/** The ids log lines carry inside a traced operation (pino's fields), or none when it is not sampled. */
export function traceFields(context: Context | undefined): { trace_id: string; span_id: string; trace_flags: string } | undefined {
  const span = context && trace.getSpanContext(context);
  if (!span || !trace.isSpanContextValid(span)) return undefined;
  return { trace_id: span.traceId, span_id: span.spanId, trace_flags: `0${span.traceFlags.toString(16)}` };
}

/**
 * Of a request's headers, those a trace context travels in (undefined when it has none): what a long-lived socket
 * keeps of its upgrade request for its operations' carriers, rather than the whole request.
 */
export function traceHeaders(headers: NodeJS.Dict<string | string[]>): Record<string, string | string[]> | undefined {
  let kept: Record<string, string | string[]> | undefined;
  for (const field of TRACE_FIELDS) {
    const value = headers[field];
    if (value !== undefined) (kept ??= {})[field] = value;
  }
  return kept;
}

/**
 * A websocket operation's carrier: the subscribe message's `extensions`
 * first (each operation its own trace), then `connection_init`'s payload
 * (the socket's), then the upgrade request's headers. Field names are
 * matched in any case, as headers are.
 */
export function socketCarrier(...sources: (Record<string, unknown> | NodeJS.Dict<string | string[]> | null | undefined)[]): TraceCarrier {
  return (name) => {
    for (const source of sources) {
      if (!source || typeof source !== 'object') continue;
      for (const [key, value] of Object.entries(source)) if (key.toLowerCase() === name && value !== undefined) return value;
    }
    return undefined;
  };
}
