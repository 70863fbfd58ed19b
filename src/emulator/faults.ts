import type { Operation } from './operations';
import { ServiceError } from './state';

export interface Faults {
  /** Added before every answer, in milliseconds. @default 0 */
  latencyMs?: number;
  /** Share of requests (0–1) answered with ThrottlingException. @default 0 */
  throttleRate?: number;
  /** Share of requests (0–1) answered with InternalServerException. @default 0 */
  internalErrorRate?: number;
  /** Calls per second per operation (a token bucket of as many) past which the emulator throttles, as the service does; 0 for none. @default 0 */
  rateLimitPerSecond?: number;
}

/** A request the emulator holds (see `Emulator.holdNext`). */
export interface HeldRequest {
  readonly arrived: Promise<void>;
  release(): Promise<void>;
}

/**
 * The faults the emulator plays, for tests and benchmarks: a latency, rates
 * of throttling and internal errors, a rate limit per operation as the
 * service's, and scripted ones (the next N requests of an operation fail,
 * are carried out but never answered, or are held until released).
 */
export class FaultPlan {
  private faults: Faults;
  private readonly scripted = new Map<Operation, ServiceError[]>();
  private readonly drops = new Map<Operation, number>();
  private readonly holds = new Map<Operation, { arrive(): void; released: Promise<void>; carriedOut(): void }[]>();
  /** A token bucket per operation (rate per second, as many in a burst), as the service limits calls. */
  private readonly buckets = new Map<Operation, { tokens: number; at: number }>();

  constructor(
    faults: Faults = {},
    private readonly random: () => number = Math.random,
  ) {
    this.faults = { ...faults };
  }

  /** Replaces the rates and the latency; scripted faults stay. */
  set(faults: Faults): void {
    this.faults = { ...faults };
  }

  /** What a request for `operation` waits before it is carried out: the latency, then a hold. Resolves with the means to say it has been carried out. */
  async arrival(operation: Operation): Promise<() => void> {
    // Unref'd: a slow answer still pending when the emulator closes does not keep the process alive.
    if (this.faults.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.faults.latencyMs).unref());
    const hold = this.holds.get(operation)?.shift();
    if (!hold) return () => {};
    hold.arrive();
    await hold.released;
    return hold.carriedOut;
  }

  /** The error a request for `operation` gets instead of its answer, if any: scripted first, then the rate limit and the rates. */
  injected(operation: Operation): ServiceError | undefined {
    const next = this.scripted.get(operation)?.shift();
    if (next) return next;
    if (this.overRate(operation)) return new ServiceError('ThrottlingException', 'Rate exceeded.');
    if (this.random() < (this.faults.throttleRate ?? 0)) return new ServiceError('ThrottlingException', 'Rate exceeded.');
    if (this.random() < (this.faults.internalErrorRate ?? 0))
      return new ServiceError('InternalServerException', 'An internal error occurred.');
    return undefined;
  }

  /** Whether the answer to this request for `operation`, carried out, is dropped with its connection. */
  dropsAnswer(operation: Operation): boolean {
    const toDrop = this.drops.get(operation) ?? 0;
    if (toDrop <= 0) return false;
    this.drops.set(operation, toDrop - 1);
    return true;
  }

  /** The next `count` requests for `operation` are carried out, then their connections dropped unanswered. */
  dropNext(operation: Operation, count: number): void {
    this.drops.set(operation, (this.drops.get(operation) ?? 0) + count);
  }

  /** The next `count` requests for `operation` are answered with `error`. */
  failNext(operation: Operation, error: ServiceError['type'] | ServiceError, count: number): void {
    const fault = typeof error === 'string' ? new ServiceError(error, `Injected ${error} for ${operation}.`) : error;
    this.scripted.set(operation, [...(this.scripted.get(operation) ?? []), ...Array<ServiceError>(count).fill(fault)]);
  }

  /** The next request for `operation` is held (see `Emulator.holdNext`). */
  holdNext(operation: Operation): HeldRequest {
    let arrive!: () => void;
    let release!: () => void;
    let carriedOut!: () => void;
    const arrived = new Promise<void>((resolve) => (arrive = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const done = new Promise<void>((resolve) => (carriedOut = resolve));
    this.holds.set(operation, [...(this.holds.get(operation) ?? []), { arrive, released, carriedOut }]);
    return {
      arrived,
      release: () => {
        release();
        return done;
      },
    };
  }

  private overRate(operation: Operation): boolean {
    const limit = this.faults.rateLimitPerSecond ?? 0;
    if (limit <= 0) return false;
    const now = performance.now();
    const bucket = this.buckets.get(operation) ?? { tokens: limit, at: now };
    bucket.tokens = Math.min(limit, bucket.tokens + ((now - bucket.at) / 1000) * limit);
    bucket.at = now;
    this.buckets.set(operation, bucket);
    if (bucket.tokens < 1) return true;
    bucket.tokens -= 1;
    return false;
  }
}
