import { SpanKind, type Context } from '@opentelemetry/api';
import type { Tracing } from './tracing';

/** States a subscription's record keeps as span events: the first ones, so a long subscription's record stays small. */
export const MAX_STATE_EVENTS = 16;

/**
 * What one traced subscription got, kept while it is open and written once
 * it ends as one span (`subscription events`) in the subscriber's trace,
 * child of its subscribe span, spanning the whole subscription:
 * `er.subscription.events.delivered` (states pushed to it),
 * `er.subscription.events.skipped` (dropped because it had fallen behind:
 * it got the newer state instead), and a `job.state` span event with
 * `er.job.status` for each of the first MAX_STATE_EVENTS states delivered.
 * No span is open meanwhile and none is made per event: a subscriber costs
 * two counters and a short list until it leaves.
 */
export class SubscriptionRecord {
  private readonly startTime = performance.timeOrigin + performance.now();
  private delivered = 0;
  private skipped = 0;
  private readonly states: { time: number; status: string }[] = [];

  constructor(
    private readonly tracing: Tracing,
    private readonly parent: Context,
    /** The job it follows: `er.job.kind`, `er.workflow.name`, `er.job.id`. */
    private readonly attributes: Record<string, string>,
  ) {}

  /** A state was pushed to the subscriber. */
  deliver(status: string): void {
    this.delivered++;
    if (this.states.length < MAX_STATE_EVENTS) this.states.push({ time: performance.timeOrigin + performance.now(), status });
  }

  /** A state was dropped from the subscriber's queue (drop oldest). */
  skip(): void {
    this.skipped++;
  }

  /** The subscription ended (finished, closed by the client, or by the gateway): its span is written. */
  end(): void {
    const span = this.tracing.startSpan(
      'subscription events',
      {
        kind: SpanKind.INTERNAL,
        startTime: this.startTime,
        attributes: {
          ...this.attributes,
          'er.subscription.events.delivered': this.delivered,
          'er.subscription.events.skipped': this.skipped,
        },
      },
      this.parent,
    );
    if (!span) return;
    for (const { time, status } of this.states) span.addEvent('job.state', { 'er.job.status': status }, time);
    if (this.delivered > this.states.length) span.setAttribute('er.subscription.events.unrecorded', this.delivered - this.states.length);
    span.end();
  }
}
