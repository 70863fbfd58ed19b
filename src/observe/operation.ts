import type { Context } from '@opentelemetry/api';
import { getOperationAST, print, type DocumentNode, type GraphQLError, type OperationDefinitionNode } from 'graphql';
import type { Logger } from 'pino';
import type { Histogram } from 'prom-client';
import type { GatewayMetrics } from './metrics';
import { traceFields, type KnownOperation, type OperationSpan, type TraceCarrier, type Tracing } from './tracing';

/** The codes of an operation without errors, shared. */
const NO_CODES: readonly string[] = [];

/** The label of operations past the kept names, and of anonymous ones. */
export const OTHER_OPERATIONS = '__other';

/**
 * Operation names as metric labels, bounded as a router bounds them: the
 * first `max` distinct names are kept; every later one (and an anonymous
 * operation) is counted under `__other`, so clients that send ever new
 * names cannot grow /metrics without end. Only operations that parsed and
 * validated are named at all.
 */
export class OperationNames {
  private readonly kept = new Set<string>();

  constructor(private readonly max: number) {}

  label(name: string | null | undefined): string {
    if (!name) return OTHER_OPERATIONS;
    if (this.kept.has(name)) return name;
    if (this.kept.size >= this.max) return OTHER_OPERATIONS;
    this.kept.add(name);
    return name;
  }
}

/** The code a client sees of `error`: ours and GraphQL's pass (see server/errors.ts); anything else is masked. */
export type ClientCode = (error: GraphQLError) => string;

/**
 * One GraphQL operation as the metrics and the trace see it, on any
 * transport: HTTP (through the Apollo plugin), websockets and SSE (through
 * `settleDeadline`). Named once it has been resolved, settled once, with the
 * errors the client gets.
 */
export class ObservedOperation {
  private type = 'unknown';
  private name = OTHER_OPERATIONS;
  private settledAlready = false;
  private readonly started = performance.now();

  constructor(
    private readonly observer: OperationObserver,
    /** The operation's span, when tracing is on. */
    readonly trace?: OperationSpan,
  ) {}

  /** The context the operation's upstream calls are children of. */
  get traceContext(): Context | undefined {
    return this.trace?.context;
  }

  /** `operation` of `document` is the one that runs (from a transport that has not picked it: the one `operationName` names). */
  resolved(document: DocumentNode, operation: OperationDefinitionNode | string | null | undefined, source?: string): void {
    if (typeof operation !== 'object' || operation === null) operation = getOperationAST(document, operation);
    if (!operation) return;
    this.type = operation.operation;
    const name = operation.name?.value;
    this.name = this.observer.names.label(name);
    this.trace?.resolved(this.type, name, () => source ?? print(document));
  }

  /** The operation is known from the start (see OperationObserver.start): its span started named. */
  known(operation: KnownOperation): void {
    this.type = operation.type;
    this.name = this.observer.names.label(operation.name);
  }

  /** The operation's answer has been sent (a subscription's, once it is set up), with these errors. */
  settled(errors: readonly GraphQLError[] | undefined): void {
    if (this.settledAlready) return;
    this.settledAlready = true;
    const { metrics, clientCode } = this.observer;
    const codes = errors?.map(clientCode) ?? NO_CODES;
    this.observer.durationOf(this.type, this.name).observe((performance.now() - this.started) / 1000);
    for (const code of codes) metrics.operationErrors.inc({ type: this.type, name: this.name, code }, 1);
    this.trace?.end(codes);
  }
}

/** Starts an ObservedOperation per operation; with tracing, each with its span. */
export class OperationObserver {
  readonly names: OperationNames;
  /** The duration histogram's series by type and name, looked up once: prom-client hashes a label set on every observation otherwise. */
  private readonly durations = new Map<string, Histogram.Internal<'type' | 'name'>>();

  constructor(
    readonly metrics: GatewayMetrics,
    readonly clientCode: ClientCode,
    maxNames: number,
    private readonly tracing?: Tracing,
  ) {
    this.names = new OperationNames(maxNames);
  }

  /** The duration series of operations of `type` named `name` (a bounded label). */
  durationOf(type: string, name: string): Histogram.Internal<'type' | 'name'> {
    const key = `${type} ${name}`;
    let series = this.durations.get(key);
    if (!series) {
      series = this.metrics.operationDuration.labels({ type, name });
      this.durations.set(key, series);
    }
    return series;
  }

  /**
   * An operation arriving with `carrier`'s headers (or websocket fields) for its trace context; `known` when it is
   * known already (an answer from the response cache, of the operation Apollo resolved when it was stored).
   */
  start(carrier?: TraceCarrier, known?: KnownOperation): ObservedOperation {
    const observed = new ObservedOperation(this, this.tracing?.operation(carrier, known));
    if (known) observed.known(known);
    return observed;
  }

  /** `logger`, with the trace and span ids of `context` on every line when it is traced. */
  logger(logger: Logger, context: Context | undefined): Logger {
    const fields = traceFields(context);
    return fields ? logger.child(fields) : logger;
  }
}
