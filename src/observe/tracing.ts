import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type HrTime,
  type Link,
  type Span,
  type SpanContext,
  type SpanStatus,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { CompositePropagator, hrTimeDuration, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  RandomIdGenerator,
  TracerProvider,
  type IdGenerator,
  type ReadableSpan,
  type SpanProcessor,
  type TimedEvent,
} from '@opentelemetry/sdk-trace';
import { randomUUID } from 'node:crypto';
import type { Config } from '../server/config';
import { ROOT_DECIDED, TraceSampling, UNSAMPLED } from './sampling';
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
  /** Without the document, and with it (ER_TRACE_DOCUMENT): shared by every answer span of the operation (AnswerSpan), never changed. */
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

const ERROR_CODES = 'graphql.error.codes';
const ERROR_EVENT = 'graphql.error';

/** What an operation's span records of the errors the client was sent, by their codes: the distinct codes, an event's attributes per error, an error status. */
function errorRecord(codes: readonly string[]): { distinct: string[]; events: Attributes[]; status: SpanStatus } {
  const distinct = [...new Set(codes)];
  const events = codes.map((code) => ({ 'graphql.error.code': code }));
  return { distinct, events, status: { code: SpanStatusCode.ERROR, message: distinct.join(', ') } };
}

/**
 * One GraphQL operation's server span, started when the request arrives
 * (the parent is the caller's `traceparent`, if any) and named once the
 * operation is known, as the GraphQL semantic conventions name it
 * (`query JobPage`). `context` is what the operation's upstream calls are
 * children of: it travels explicitly (the GraphQL context, the JobStore
 * view, the SDK command's terms), never through AsyncLocalStorage.
 */
export class OperationTrace implements OperationSpan {
  /** The span's context, made when first asked for: an operation without children never asks. */
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
      const { distinct, events, status } = errorRecord(codes);
      this.span.setAttribute(ERROR_CODES, distinct);
      for (const event of events) this.span.addEvent(ERROR_EVENT, event);
      this.span.setStatus(status);
    }
    this.span.end();
  }
}

/** What an ObservedOperation asks of its trace: the SDK's span (OperationTrace) or a cached answer's (AnswerTrace). */
export interface OperationSpan {
  /** The context the operation's children start in. */
  readonly context: Context;
  resolved(type: string, name: string | undefined, document: () => string | undefined): void;
  end(codes: readonly string[]): void;
}

/** Now, as OpenTelemetry's HrTime (seconds and nanoseconds since the epoch) on the clock the SDK's spans use, in one array (the SDK's `hrTime` makes three). */
function hrNow(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.floor((ms - seconds * 1000) * 1e6)];
}

const UNSET_STATUS: SpanStatus = { code: SpanStatusCode.UNSET };
const NO_EVENTS: TimedEvent[] = [];
const NO_LINKS: Link[] = [];

/** What every answer span shares: where its spans go, and the resource and scope the SDK's spans of this tracer carry. */
interface AnswerSpans {
  processors: readonly SpanProcessor[];
  ids: IdGenerator;
  resource: ReadableSpan['resource'];
  scope: ReadableSpan['instrumentationScope'];
}

/**
 * The server span of an answer from the response cache, made here and not
 * by the SDK's tracer, then handed to the same span processors (batched and
 * exported by the SDK's BatchSpanProcessor and OTLP exporter as any span).
 * A hit is the gateway's cheapest request and its span the simplest: known
 * name and attributes, no children, no errors. The SDK's `startSpan` copies
 * its attributes twice, asks the sampler again, counts it for its own
 * metrics and builds a span of thirty fields: a hit it traced allocated
 * about 2.5 KB more than an untraced one, against about 0.6 KB with this
 * span (see docs/performance.md). It is a ReadableSpan, which is all a span
 * processor and an exporter read.
 */
class AnswerSpan implements ReadableSpan {
  readonly kind = SpanKind.SERVER;
  readonly startTime: HrTime = hrNow();
  endTime: HrTime = this.startTime;
  status: SpanStatus = UNSET_STATUS;
  events: TimedEvent[] = NO_EVENTS;
  ended = false;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;

  constructor(
    private readonly spans: AnswerSpans,
    readonly name: string,
    private readonly context: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    /** Shared with every answer of the same operation: replaced, never changed. */
    public attributes: Attributes,
    readonly links: Link[],
  ) {}

  spanContext(): SpanContext {
    return this.context;
  }

  get duration(): HrTime {
    return hrTimeDuration(this.startTime, this.endTime);
  }

  get resource(): ReadableSpan['resource'] {
    return this.spans.resource;
  }

  get instrumentationScope(): ReadableSpan['instrumentationScope'] {
    return this.spans.scope;
  }

  end(codes: readonly string[]): void {
    if (this.ended) return;
    this.endTime = hrNow();
    this.ended = true;
    // As OperationTrace records them (a stored answer has no errors, so this is for the contract's sake).
    if (codes.length > 0) {
      const { distinct, events, status } = errorRecord(codes);
      this.attributes = { ...this.attributes, [ERROR_CODES]: distinct };
      this.events = events.map((attributes) => ({ name: ERROR_EVENT, time: this.endTime, attributes }));
      this.status = status;
    }
    for (const processor of this.spans.processors) processor.onEnd(this);
  }
}

/** A cached answer's operation: its span (AnswerSpan), and the context its children would start in (it has none). */
class AnswerTrace implements OperationSpan {
  private own: Context | undefined;

  constructor(
    private readonly span: AnswerSpan,
    private readonly parent: Context,
  ) {}

  get context(): Context {
    return (this.own ??= trace.setSpanContext(this.parent, this.span.spanContext()));
  }

  /** Known from the start. */
  resolved(): void {}

  end(codes: readonly string[]): void {
    this.span.end(codes);
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

  /** Where cached answers' spans go (see AnswerSpan). */
  private readonly answers: AnswerSpans;

  constructor(
    provider: TracerProvider,
    private readonly sampling: TraceSampling,
    private readonly settings: TracingSettings,
    processors: readonly SpanProcessor[],
    ids: IdGenerator,
  ) {
    this.tracer = provider.getTracer('er-gateway');
    this.unsampled = new OperationTrace(undefined, UNSAMPLED, false);
    // A span the SDK made, never ended (so never exported): the resource and scope its spans carry, shared by answer spans.
    const probe = this.tracer.startSpan('probe', { root: true }, ROOT_DECIDED) as unknown as Partial<ReadableSpan>;
    this.answers = { processors, ids, resource: probe.resource!, scope: probe.instrumentationScope! };
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
  operation(carrier: TraceCarrier | undefined, known?: KnownOperation): OperationSpan {
    let parent = this.extract(carrier);
    let links: Link[] | undefined;
    if (this.settings.remoteParent === 'ignore' && parent !== ROOT_CONTEXT) {
      const caller = trace.getSpanContext(parent);
      if (caller) links = [{ context: caller }];
      parent = ROOT_CONTEXT;
    }
    if (known) {
      const decided = this.sampling.parentFor(parent);
      if (decided) return this.answer(known, parent, links);
    } else {
      const span = this.startSpan('GraphQL Operation', { kind: SpanKind.SERVER, links }, parent);
      if (span) return new OperationTrace(span, parent, this.settings.document);
    }
    // An unsampled caller's context is kept: its children are dropped as it was, and log lines name its trace.
    return parent === ROOT_CONTEXT ? this.unsampled : new OperationTrace(undefined, trace.getSpan(parent) ? parent : UNSAMPLED, false);
  }

  /** A sampled cached answer's span under `parent` (see AnswerSpan): the caller's trace continued, or a new one. */
  private answer(known: KnownOperation, parent: Context, links: Link[] | undefined): AnswerTrace {
    const caller = trace.getSpanContext(parent);
    const remote = caller && trace.isSpanContextValid(caller) ? caller : undefined;
    const context: SpanContext = {
      traceId: remote?.traceId ?? this.answers.ids.generateTraceId(),
      spanId: this.answers.ids.generateSpanId(),
      traceFlags: TraceFlags.SAMPLED,
      traceState: remote?.traceState,
    };
    const attributes = this.settings.document ? known.attributesWithDocument : known.attributes;
    return new AnswerTrace(new AnswerSpan(this.answers, known.spanName, context, remote, attributes, links ?? NO_LINKS), parent);
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
  const ids = new RandomIdGenerator();
  const processors = [
    new BatchSpanProcessor({
      exporter: new Exporter({ url: settings.endpoint, headers: settings.headers, timeoutMillis: settings.timeoutMs }),
      scheduledDelayMillis: settings.exportDelayMs,
      maxExportBatchSize: settings.maxExportBatchSize,
      maxQueueSize: settings.maxQueueSize,
      exportTimeoutMillis: settings.timeoutMs,
    }),
  ];
  const provider = new TracerProvider({
    idGenerator: ids,
    resource: resourceFromAttributes({
      'service.version': version,
      'service.instance.id': instanceId,
      ...settings.resourceAttributes,
      'service.name': settings.serviceName,
    }),
    sampler: sampling,
    spanProcessors: processors,
  });
  return { tracing: new Tracing(provider, sampling, settings, processors, ids), dispose: () => provider.shutdown() };
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
