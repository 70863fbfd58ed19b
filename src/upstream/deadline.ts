import { setMaxListeners } from 'node:events';
import type { GraphQLError } from 'graphql';
import { steadyScheduler, type Scheduler } from '../watch/scheduler';
import { gatewayError } from './errors';

/** Why a request stopped waiting for the service. */
export type DeadlineReason = 'deadline' | 'shutdown';

/**
 * The time one GraphQL request has left for everything it asks of the
 * service: every retry, every wait for the rate budget. Its `signal` aborts
 * when the time is up, or earlier when the gateway shuts down; it is made
 * on first use, so a request answered from caches costs no timer.
 */
export class RequestDeadline {
  /** `scheduler.now()` when the time is up. */
  readonly at: number;
  private controller?: AbortController;
  private cancelTimer?: () => void;
  private closed = false;

  constructor(
    readonly ms: number,
    private readonly open: Set<RequestDeadline>,
    private readonly scheduler: Scheduler = steadyScheduler,
  ) {
    this.at = scheduler.now() + ms;
  }

  /** Infinity once the request is answered. */
  get remainingMs(): number {
    return this.closed ? Infinity : this.at - this.scheduler.now();
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      // Every read of a request listens while it waits (a list of 100 jobs, 100 reads); each listener goes when its read ends.
      setMaxListeners(0, this.controller.signal);
      // Once the request is answered, nothing is cut: a subscription's later events read without a deadline.
      if (!this.closed) {
        this.open.add(this);
        this.cancelTimer = this.scheduler.after(Math.max(0, this.remainingMs), () => this.abort('deadline'));
      }
    }
    return this.controller.signal;
  }

  abort(reason: DeadlineReason): void {
    if (this.controller && !this.controller.signal.aborted) this.controller.abort(reason);
    this.close();
  }

  /** The request is answered: nothing more waits on it. */
  close(): void {
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.open.delete(this);
  }

  /** The error a field gets when the wait for `subject` was cut short. */
  error(subject: string): GraphQLError {
    return this.signal.reason === 'shutdown'
      ? gatewayError('UPSTREAM_UNAVAILABLE', `The gateway is shutting down, so ${subject} was not read; retry.`, { reason: 'shutdown' })
      : gatewayError(
          'UPSTREAM_UNAVAILABLE',
          `The service did not answer for ${subject} within the request's deadline of ${this.ms / 1000} s; retry.`,
          {
            reason: 'deadline',
          },
        );
  }
}

/**
 * Where requests get their deadlines. Contract: each request opens one and
 * hands it down explicitly (the GraphQL context carries it to the JobStore,
 * which tags each SDK command with it for the rate governor), and closes it
 * once answered; `abortAll` cuts every open deadline short, for a shutdown's
 * drain. Explicit rather than AsyncLocalStorage: on Node 20 its promise hooks
 * slowed every request by a quarter.
 */
export class Deadlines {
  private readonly open = new Set<RequestDeadline>();

  /** `scheduler` is the time deadlines run out by: tests drive it by hand. @default steadyScheduler */
  constructor(
    private readonly ms: number,
    private readonly scheduler: Scheduler = steadyScheduler,
  ) {}

  /** A new deadline of `ms` from now; whoever opens it closes it. */
  start(): RequestDeadline {
    return new RequestDeadline(this.ms, this.open, this.scheduler);
  }

  abortAll(reason: DeadlineReason): void {
    for (const deadline of [...this.open]) deadline.abort(reason);
  }
}

/** Resolves as `work` does, or rejects with the deadline's error once its signal aborts first. */
export function withinDeadline<T>(work: Promise<T>, deadline: RequestDeadline | undefined, subject: string): Promise<T> {
  if (!deadline) return work;
  const { signal } = deadline;
  if (signal.aborted) return Promise.reject(deadline.error(subject));
  return new Promise<T>((resolve, reject) => {
    const cut = () => reject(deadline.error(subject));
    signal.addEventListener('abort', cut, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', cut);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', cut);
        reject(err);
      },
    );
  });
}
