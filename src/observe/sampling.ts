import {
  ROOT_CONTEXT,
  SamplingDecision,
  TraceFlags,
  createContextKey,
  trace,
  type Context,
  type SamplingResult,
  type SpanContext,
} from '@opentelemetry/api';
import type { Sampler } from '@opentelemetry/sdk-trace';
import { createHmac, randomBytes } from 'node:crypto';
import type { Config } from '../server/config';

type TracingSettings = NonNullable<Config['tracing']>;

/** How one kind of span is decided: kept, dropped, by the ratio (see `TraceSampling.byRatio`), or as its parent was. */
type Rule = 'on' | 'off' | 'ratio' | 'follow';

/** Marks a context whose span was decided before the SDK saw it (see `TraceSampling.parentFor`): the SDK's sampler keeps it. */
const DECIDED = createContextKey('er-gateway sampled here');

/**
 * The context an unsampled operation hands its children: it holds a span
 * that records nothing and has no ids, so its children are dropped as well
 * (not sampled anew as roots) at no cost, and log lines carry no trace ids.
 */
export const UNSAMPLED = trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext({ traceId: '', spanId: '', traceFlags: TraceFlags.NONE }));

/** A root decided here: made once, as a sampled root's parent is always this one. */
export const ROOT_DECIDED = ROOT_CONTEXT.setValue(DECIDED, true);

const KEEP: SamplingResult = { decision: SamplingDecision.RECORD_AND_SAMPLED };
const DROP: SamplingResult = { decision: SamplingDecision.NOT_RECORD };

/**
 * OTEL_TRACES_SAMPLER's policy, decided before anything is made where that
 * can be: a span that will not be kept costs no ids, no span object and no
 * attributes. `parentFor` decides a span the gateway is about to start;
 * as the SDK's sampler it keeps what `parentFor` decided and applies the
 * same policy to whatever else the SDK starts.
 */
export class TraceSampling implements Sampler {
  private readonly ratio: number;
  /** This process's own, never sent: what a trace id is hashed with before the ratio decides on it. */
  private readonly secret = randomBytes(32);
  private readonly root: Rule;
  /** Spans whose parent is local (the gateway's own). */
  private readonly child: Rule;
  /** Spans whose parent is the caller's (`traceparent`). */
  private readonly remote: Rule;

  constructor({ sampler, ratio, remoteParent }: Pick<TracingSettings, 'sampler' | 'ratio' | 'remoteParent'>) {
    this.ratio = ratio;
    const [root, child]: [Rule, Rule] = {
      always_on: ['on', 'on'],
      always_off: ['off', 'off'],
      traceidratio: ['ratio', 'ratio'],
      parentbased_always_on: ['on', 'follow'],
      parentbased_always_off: ['off', 'follow'],
      parentbased_traceidratio: ['ratio', 'follow'],
    }[sampler] as [Rule, Rule];
    this.root = root;
    this.child = child;
    // `ignore` never gets here with a remote parent: the operation is a root (see Tracing.operation).
    this.remote = remoteParent === 'ratio' && child === 'follow' ? root : child;
  }

  /**
   * The context to start a span in under `parent` when the span is to be
   * kept, or undefined when it is not (then nothing need be made). A root's
   * ratio is drawn here, before any trace id exists: a trace that starts
   * here need agree with no one.
   */
  parentFor(parent: Context): Context | undefined {
    const span = trace.getSpan(parent);
    if (!span)
      return this.decide(this.root, undefined) ? (parent === ROOT_CONTEXT ? ROOT_DECIDED : parent.setValue(DECIDED, true)) : undefined;
    const context = span.spanContext();
    if (!trace.isSpanContextValid(context)) return undefined; // UNSAMPLED's
    // A local parent was decided when it started (its flag says how; an ended span records no more, but its late children still count).
    if (!context.isRemote) return context.traceFlags & TraceFlags.SAMPLED ? parent : undefined;
    return this.decide(this.remote, context) ? parent.setValue(DECIDED, true) : undefined;
  }

  shouldSample(context: Context, traceId: string): SamplingResult {
    if (context.getValue(DECIDED) === true) return KEEP;
    const parent = trace.getSpanContext(context);
    if (parent && trace.isSpanContextValid(parent)) return this.decide(parent.isRemote ? this.remote : this.child, parent) ? KEEP : DROP;
    return this.decide(this.root, undefined, traceId) ? KEEP : DROP;
  }

  private decide(rule: Rule, parent: SpanContext | undefined, traceId = parent?.traceId): boolean {
    switch (rule) {
      case 'on':
        return true;
      case 'off':
        return false;
      case 'follow':
        return parent !== undefined && (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
      case 'ratio':
        return traceId === undefined ? Math.random() < this.ratio : this.byRatio(traceId);
    }
  }

  /**
   * The ratio's decision on a trace id, which may be a caller's: the id is
   * hashed with this process's secret first, so no id a client can choose is
   * kept more often than the ratio says (the SDK's TraceIdRatioBasedSampler
   * decides on the id's own bits, and `00…01` is always kept). One trace id
   * is still decided alike every time in this process: a caller's several
   * operations of one trace are all kept, or none.
   */
  private byRatio(traceId: string): boolean {
    const draw = createHmac('sha256', this.secret).update(traceId).digest().readUIntBE(0, 6) / 2 ** 48;
    return draw < this.ratio;
  }

  toString(): string {
    return `TraceSampling{root=${this.root}, child=${this.child}, remote=${this.remote}, ratio=${this.ratio}}`;
  }
}
