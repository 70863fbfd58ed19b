import type { FastifyReply } from 'fastify';
import type { ExecutionResult, FormattedExecutionResult } from 'graphql';
import type { Logger } from 'pino';
import type { TraceCarrier } from '../observe/tracing';
import type { GatewayContext } from '../resolvers/context';
import type { Deadlines, RequestDeadline } from '../upstream/deadline';
import type { Scheduler } from '../watch/scheduler';
import type { Caller, ClientLimits } from './client-limits';
import { formatAll, type clientErrorFormatter } from './errors';
import { refuse } from './http';
import { runAt } from './timers';

/**
 * The context of one operation on a stream (a websocket's, an event stream's or a callback subscription's) by `caller`: its
 * calls wait for the service no longer than `deadline`, it ends with `subscriber.signal`, and its spans continue `carrier`.
 */
export type StreamContext = (
  deadline: RequestDeadline,
  caller: Caller,
  subscriber: NonNullable<GatewayContext['subscriber']>,
  carrier: TraceCarrier,
) => GatewayContext;

/** What an HTTP stream (an event stream, a callback subscription) is admitted by. */
export interface StreamAdmissionOptions {
  context: StreamContext;
  /** One budget for every transport: each stream is one of its client's. */
  limits: ClientLimits;
  /** The streams one client may hold (the limit `limits` keeps), named in a refusal. */
  streamsPerClient: number;
  deadlines: Deadlines;
  /** The clock a token's expiry is timed on. */
  scheduler: Scheduler;
  logger: Logger;
}

/** A stream its client holds: the context of its operation, and its release. */
export interface AdmittedStream {
  /** The context of the stream's operation, which ends with `signal`; its spans continue `carrier`. */
  context(signal: AbortSignal, carrier: TraceCarrier): GatewayContext;
  /** Gives the stream back to its client's budget and forgets the token's expiry; once, however often it is called. */
  release(): void;
}

/**
 * Takes a stream from `caller`'s budget, from before it opens: the stream, whose token's expiry (if any) runs `expired`; or,
 * past the budget, undefined, with `reply` answered 429 `LIMIT_EXCEEDED` (`what` names the stream in the log).
 */
export function admitStream(
  options: StreamAdmissionOptions,
  reply: FastifyReply,
  caller: Caller,
  what: string,
  expired: () => void,
): AdmittedStream | undefined {
  const give = options.limits.openStream(caller.client);
  if (!give) {
    options.logger.info({ client: caller.client }, `${what} refused: the client holds its share of streams`);
    const { streamsPerClient } = options;
    // No Retry-After: the budget frees when this client closes a stream of its own, which no clock foretells.
    refuse(
      reply,
      429,
      'LIMIT_EXCEEDED',
      `A client may hold ${streamsPerClient} streams (websockets, event streams and callback subscriptions) at once; close one first.`,
      { limit: 'streamsPerClient', limitValue: streamsPerClient },
    );
    return undefined;
  }
  const { expiresAt } = caller.principal;
  const forget = expiresAt === undefined ? () => undefined : runAt(options.scheduler, expiresAt, expired);
  let released = false;
  return {
    context: (signal, carrier) =>
      options.context(options.deadlines.start(), caller, { signal, quota: options.limits.socketQuota(caller.client) }, carrier),
    release: () => {
      if (released) return;
      released = true;
      forget();
      give();
    },
  };
}

/** A stream asked for once shutdown has begun: 503 with Retry-After, reason `shutdown`; `again` tells the client what to do. */
export function refuseAtShutdown(reply: FastifyReply, again: string): void {
  refuse(reply.header('retry-after', '1'), 503, 'UPSTREAM_UNAVAILABLE', `This replica is shutting down: ${again}.`, { reason: 'shutdown' });
}

/** A result as a client is sent it: its errors masked (a shared payload's are masked already, once for all its subscribers). */
export function maskedResult(
  format: ReturnType<typeof clientErrorFormatter>,
  result: ExecutionResult,
): ExecutionResult | FormattedExecutionResult {
  return result.errors ? { ...result, errors: formatAll(format, result.errors) } : result;
}
