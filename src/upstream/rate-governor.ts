import type { EntityResolutionClient } from '@aws-sdk/client-entityresolution';
import type { Context } from '@opentelemetry/api';
import {
  SMITHY_CONTEXT_KEY,
  type FinalizeHandler,
  type FinalizeHandlerArguments,
  type HandlerExecutionContext,
  type MetadataBearer,
} from '@smithy/types';
import { GraphQLError } from 'graphql';
import { steadyScheduler, type Scheduler } from '../watch/scheduler';

/** Who is calling: a client waiting for an answer, or a poller that can wait its turn. */
export type CallPriority = 'interactive' | 'poll';

/** The governor's refusal: THROTTLED with a retry hint. Nothing was sent upstream. */
export class GovernorRefusal extends GraphQLError {
  constructor(operation: string, retryAfterSeconds: number) {
    super(`The gateway is holding ${operation} calls to the service's rate limit; retry after ${retryAfterSeconds} s.`, {
      extensions: { code: 'THROTTLED', retryAfterSeconds },
    });
  }
}

/** What the governor needs to know of one upstream call: who waits for it and for how long at most. */
export interface CallTerms {
  priority: CallPriority;
  /** The time left to the request being served, in ms: an interactive call never waits past it. */
  remainingMs?: () => number;
  /** Whose call it is: waiting clients take turns, so one client's burst cannot hold everyone else's calls. @default 'anonymous' */
  client?: string;
  /** Aborted when the request no longer waits (its deadline passed): the call leaves the queue without spending a token. */
  signal?: AbortSignal;
  /** The trace context of the operation the call serves (OpenTelemetry's): the call's span is its child. Unset with tracing off. */
  trace?: Context;
}

/** Terms by SDK command: the middleware finds them on the command it governs, for every attempt the SDK makes of it. */
const callTerms = new WeakMap<object, CallTerms>();

/** The terms of the command an SDK middleware is handling (see `withTerms`), if it was given any. */
export function termsOf(context: HandlerExecutionContext): CallTerms | undefined {
  return callTerms.get((context as { [SMITHY_CONTEXT_KEY]?: { commandInstance?: object } })[SMITHY_CONTEXT_KEY]?.commandInstance ?? {});
}

/** Sets the terms of `command` before it is sent; a command sent without terms is an interactive call with no deadline. */
export function withTerms<C extends object>(command: C, terms: CallTerms): C {
  callTerms.set(command, terms);
  return command;
}

export interface RateGovernorOptions {
  /** Calls per second per operation. */
  ratePerSecond: number;
  /** Calls that may go at once after a quiet spell. @default ratePerSecond */
  burst?: number;
  /** An interactive call that would wait longer fails at once with THROTTLED. */
  maxWaitMs: number;
  /** Told how long each call waited for its turn, and of each call refused. */
  observer?: { waited(operation: string, ms: number): void; refused(operation: string): void };
  /** With replicas: each operation's tokens come from a budget they all share (Redis) instead of this process's bucket. */
  sharedBudget?: (operation: string) => LaneBudget;
  /** The share (0–0.9) of an operation's tokens that go to polls while interactive calls wait for them too. @default 0.2 */
  pollShare?: number;
  /** The time tokens refill by, waits are measured on and hand-outs are timed with: tests drive it by hand. @default steadyScheduler */
  scheduler?: Scheduler;
}

/**
 * One operation's tokens. `take` takes one and answers 0, or answers how many
 * ms until one is there (taking nothing); `waitFor(n)` estimates how long
 * until `n` more are there. A budget shared by replicas answers `take` with a
 * promise.
 */
export interface LaneBudget {
  /** `trace`: the trace context of the call that asks, when one does (the shared budget's Redis command is in its trace). */
  take(trace?: Context): number | Promise<number>;
  waitFor(tokens: number): number;
}

/**
 * This process's token bucket, refilled by `now` (ms): synchronous, so a
 * call with a token free takes no promise. A quiet operation has its whole
 * burst to spend; a clock that goes back refills nothing meanwhile. One
 * small object (a websocket holds one for its message rate).
 */
export class LocalBudget implements LaneBudget {
  private tokens: number;
  private at: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = steadyScheduler.now,
  ) {
    this.tokens = burst;
    this.at = now();
  }

  /** 0 when a token was free (and is now taken), else the ms until one is. */
  take(): number {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond));
  }

  waitFor(wanted: number): number {
    this.refill();
    const missing = wanted - this.tokens;
    return missing <= 0 ? 0 : (missing / this.ratePerSecond) * 1000;
  }

  private refill(): void {
    const now = this.now; // a scheduler's `now`, called as the function it was handed
    const time = now();
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, time - this.at) * this.ratePerSecond) / 1000);
    this.at = time;
  }
}

interface Waiter {
  go(): void;
}

/** Whether any call, interactive or poll, waits for one of the lane's tokens. */
function waiting(lane: Lane): boolean {
  return lane.interactiveWaiting > 0 || lane.polls.length > 0;
}

interface Lane {
  budget: LaneBudget;
  /** A shared budget's answer is awaited: no second hand-out starts meanwhile. */
  handing?: boolean;
  /** Interactive calls waiting for a token, by client, each client's in arrival order; the first client is served next. */
  queues: Map<string, Waiter[]>;
  /** Interactive calls waiting in all queues. */
  interactiveWaiting: number;
  /** Polls waiting for a token, in arrival order. */
  polls: Waiter[];
  /** Tokens owed to polls: grows by the poll share with each token a query takes (to 1 at most); a waiting poll gets the next token once it reaches 1. */
  pollCredit: number;
  /** Cancels the next hand-out of tokens, set while calls wait for it. */
  timer?: () => void;
}

/**
 * Spends the service's rate limit deliberately: a token bucket per upstream
 * operation, so calls wait their turn instead of being throttled by the
 * service. Interactive calls go before polls, except for the poll share:
 * while both wait, one token in 1/`pollShare` goes to a poll, so no flood
 * of queries can stop the watched jobs' polls. Waiting clients take turns
 * (round robin, one call each): a client with a hundred calls queued holds
 * another's single call back by one token, not a hundred. An interactive
 * call whose turn would come after `maxWaitMs`, or after its request's
 * deadline, is refused at once with THROTTLED and a retry hint, rather than
 * hanging; so a client's burst is refused past its share, not everyone's.
 */
export class RateGovernor {
  private readonly lanes = new Map<string, Lane>();
  private readonly burst: number;
  private readonly pollShare: number;
  private readonly scheduler: Scheduler;

  constructor(private readonly options: RateGovernorOptions) {
    this.burst = options.burst ?? options.ratePerSecond;
    this.pollShare = options.pollShare ?? 0.2;
    this.scheduler = options.scheduler ?? steadyScheduler;
  }

  /** Resolves when `operation` may be called; rejects with THROTTLED when an interactive caller would wait too long. */
  async turn(
    operation: string,
    priority: CallPriority,
    remainingMs = Infinity,
    client = 'anonymous',
    signal?: AbortSignal,
    trace?: Context,
  ): Promise<void> {
    const lane = this.lane(operation);
    const started = this.scheduler.now();
    if (priority === 'interactive') {
      // A free token goes straight out only when nobody is waiting for one.
      let free = waiting(lane) ? undefined : lane.budget.take(trace);
      if (typeof free === 'object') free = await free;
      if (free !== 0) {
        const expectedWaitMs = lane.budget.waitFor(this.turnsUntil(lane, client));
        if (expectedWaitMs > Math.min(this.options.maxWaitMs, remainingMs)) {
          this.options.observer?.refused(operation);
          throw new GovernorRefusal(operation, Math.max(1, Math.ceil(expectedWaitMs / 1000)));
        }
        await new Promise<void>((resolve, reject) => {
          const leave = () => {
            const queue = lane.queues.get(client);
            const at = queue?.indexOf(waiter) ?? -1;
            if (at < 0) return;
            queue!.splice(at, 1);
            if (queue!.length === 0) lane.queues.delete(client);
            lane.interactiveWaiting--;
            reject(signal!.reason);
          };
          const waiter: Waiter = {
            go: () => {
              signal?.removeEventListener('abort', leave);
              resolve();
            },
          };
          signal?.addEventListener('abort', leave, { once: true });
          const queue = lane.queues.get(client);
          if (queue) queue.push(waiter);
          else lane.queues.set(client, [waiter]);
          lane.interactiveWaiting++;
          this.handOut(lane);
        });
      }
    } else {
      let free = waiting(lane) ? undefined : lane.budget.take(trace);
      if (typeof free === 'object') free = await free;
      // A poll waits without a deadline: its turn comes with its share of the tokens.
      if (free !== 0) {
        await new Promise<void>((resolve) => {
          lane.polls.push({ go: resolve });
          this.handOut(lane);
        });
      }
    }
    this.options.observer?.waited(operation, this.scheduler.now() - started);
  }

  /**
   * Governs every attempt `client` makes, its retries included: the turn is
   * taken inside the SDK's retry loop, just before a request is signed and sent.
   */
  govern(client: EntityResolutionClient): void {
    client.middlewareStack.addRelativeTo(
      (next: FinalizeHandler<object, MetadataBearer>, context: HandlerExecutionContext) =>
        async (args: FinalizeHandlerArguments<object>) => {
          const terms = termsOf(context);
          await this.turn(
            context.commandName?.replace(/Command$/, '') ?? 'unknown',
            terms?.priority ?? 'interactive',
            terms?.remainingMs?.(),
            terms?.client,
            terms?.signal,
            terms?.trace,
          );
          return next(args);
        },
      { name: 'rateGovernor', relation: 'after', toMiddleware: 'retryMiddleware' },
    );
  }

  /**
   * Hands the tokens there are to waiting clients in turn, one call each,
   * then sets a timer for the next token while calls still wait.
   */
  private handOut(lane: Lane): void {
    if (lane.timer || lane.handing) return;
    while (waiting(lane)) {
      const taken = lane.budget.take();
      if (typeof taken === 'object') {
        lane.handing = true;
        void taken.then((until) => {
          lane.handing = false;
          if (until === 0) this.giveTurn(lane);
          this.handOutAfter(lane, until);
        });
        return;
      }
      if (taken > 0) return this.handOutAfter(lane, taken);
      this.giveTurn(lane);
    }
  }

  /**
   * The token just taken goes to a poll when only polls wait, or when the
   * poll share has earned one; else to the next waiting client's first call,
   * and the client goes to the back of the line if it still waits.
   */
  private giveTurn(lane: Lane): void {
    if (lane.polls.length > 0 && (lane.interactiveWaiting === 0 || lane.pollCredit >= 1)) {
      if (lane.interactiveWaiting > 0) lane.pollCredit -= 1;
      return lane.polls.shift()!.go();
    }
    // Each token a query takes earns polls their share, one token's worth at most: a poll that comes after a quiet spell goes next.
    lane.pollCredit = Math.min(1, lane.pollCredit + this.pollShare);
    const next = lane.queues.entries().next().value;
    // A waiter that gave up meanwhile leaves the token unspent here; a shared budget has lost it.
    if (!next) return;
    const [client, queue] = next;
    const waiter = queue.shift()!;
    lane.queues.delete(client);
    if (queue.length > 0) lane.queues.set(client, queue);
    lane.interactiveWaiting--;
    waiter.go();
  }

  /** Hands out again in `ms` (at once for 0) while calls still wait. */
  private handOutAfter(lane: Lane, ms: number): void {
    if (!waiting(lane)) return;
    if (ms === 0) return this.handOut(lane);
    lane.timer = this.scheduler.after(ms, () => {
      lane.timer = undefined;
      this.handOut(lane);
    });
  }

  /**
   * Tokens handed out before a new call of `client` would get its own, in
   * turns: each other waiting client gets at most one more turn than
   * `client` has calls waiting.
   */
  private turnsUntil(lane: Lane, client: string): number {
    const own = lane.queues.get(client)?.length ?? 0;
    let turns = own + 1;
    for (const [other, queue] of lane.queues) if (other !== client) turns += Math.min(queue.length, own + 1);
    // Waiting polls take their share of the tokens between.
    return lane.polls.length > 0 ? Math.ceil(turns / (1 - this.pollShare)) : turns;
  }

  private lane(operation: string): Lane {
    let lane = this.lanes.get(operation);
    if (!lane) {
      const budget = this.options.sharedBudget?.(operation) ?? new LocalBudget(this.options.ratePerSecond, this.burst, this.scheduler.now);
      lane = { budget, queues: new Map(), interactiveWaiting: 0, polls: [], pollCredit: 0 };
      this.lanes.set(operation, lane);
    }
    return lane;
  }
}
