import type { FastifyReply, FastifyRequest } from 'fastify';
import { getOperationAST, type DocumentNode, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import type { Scheduler } from '../watch/scheduler';
import {
  DEFAULT_RETRIES,
  deliver,
  type CallbackConnections,
  type CallbackMessage,
  type CallbackTarget,
  type Delivery,
} from './callback-delivery';
import { readExtension, readOperation, type CallbackExtension } from './callback-request';
import type { CallbackUrls } from './callback-urls';
import type { Caller } from './client-limits';
import { clientErrorFormatter, formatAll } from './errors';
import { refuse } from './http';
import type { SchemaPosture } from './limits';
import { settleDeadline, type OperationGate } from './operations';
import type { RefusedStarts } from './refused-starts';
import type { SharedExecutions } from './shared-executions';
import { admitStream, maskedResult, refuseAtShutdown, type StreamAdmissionOptions } from './stream-admission';

/** What callback subscriptions are served with; the stream budget, the context and token expiry as for event streams. */
export interface CallbackOptions extends StreamAdmissionOptions {
  schema: GraphQLSchema;
  /** Subscriptions, executed once per event per distinct subscription (shared with websockets and SSE). */
  executions: SharedExecutions;
  gate: OperationGate;
  posture: SchemaPosture;
  refusedStarts: (caller: Caller, ...refused: Parameters<RefusedStarts>) => void;
  /** The callback URLs the gateway may call (ER_CALLBACK_URL_ALLOW). */
  urls: CallbackUrls;
  /** The kept-alive connections messages go out on, pooled per router origin (ER_CALLBACK_CONNECTIONS). */
  connections: CallbackConnections;
  /** The time of heartbeats and of a message's attempts: tests drive it by hand. */
  timers: Scheduler;
  /** Told of each message's fate, by action. */
  onMessage?: (action: CallbackMessage['action'], delivery: Delivery) => void;
}

/** Serves one callback subscription request from a router, for `caller`, answering it itself. */
export type CallbackHandler = (request: FastifyRequest, reply: FastifyReply, caller: Caller, extension: CallbackExtension) => Promise<void>;

/** Without heartbeats, how long a message is retried before it is dropped. */
const BUDGET_WITHOUT_HEARTBEAT_MS = 5000;
/**
 * A `check` is sent this far into each heartbeat interval: the protocol wants one within every interval, and Hive
 * Gateway times a subscription out one interval after the last message it received, so one sent on the dot arrives late.
 */
const HEARTBEAT_SHARE = 0.8;
/** At shutdown, how long the `complete` each subscription is sent may take. */
const SHUTDOWN_BUDGET_MS = 1000;

/** What a router is told at shutdown (in `complete`'s errors): its client subscribes again, through the router, elsewhere. */
const SHUTDOWN_ERROR: GraphQLFormattedError = {
  message: 'The gateway is shutting down: subscribe again; you get the current state first.',
  extensions: { code: 'UPSTREAM_UNAVAILABLE', reason: 'shutdown' },
};
const EXPIRED_ERROR: GraphQLFormattedError = { message: 'The token has expired.', extensions: { code: 'UNAUTHENTICATED' } };

/**
 * Subscriptions over Apollo's HTTP callback protocol (callbackSpec 1.0), for
 * routers that subscribe that way (Apollo Router's `subscription.mode.callback`,
 * Hive Gateway's `@graphql-mesh/transport-http-callback`): the router POSTs the
 * subscription to /graphql with `extensions.subscription`, and the gateway
 * POSTs `check`, `next` and `complete` messages to its callback URL.
 *
 * Ours rather than Apollo Server's `ApolloServerPluginSubscriptionCallback`,
 * which runs graphql-js's `subscribe` itself: a callback subscription here is
 * a subscriber like a websocket's or an event stream's, through the same
 * OperationGate (limits, cost, trusted documents), the same SharedExecutions
 * (one execution per event per distinct subscription), the same stream budget
 * and watched-jobs quota, released when it ends; and its fetches only go to
 * URLs the allow-list names, never following a redirect.
 *
 * The flow, per subscription: the request's shape and the URL are checked
 * (a body of the wrong shape: BAD_REQUEST; a URL the allow-list does not
 * name, or none listed: FORBIDDEN, and nothing is called), the operation
 * admitted and its subscription set up (a refusal, FORBIDDEN or NOT_FOUND,
 * is the answer, and nothing is called); then a `check` is POSTed, and only once the router has
 * confirmed it is its request answered, `{"data":null}`; the events follow as
 * `next`, a final state's as the last before `complete`. A `check` goes out
 * within every heartbeat interval the router asked for (none for 0). Each
 * message is retried on a network error, a timeout or a 5xx, with backoff,
 * for at most five attempts within one heartbeat interval, each ending at its
 * answer's status (docs/federation.md says where this departs from Apollo
 * Server's plugin, and why); what still fails is dropped (counted) and ends
 * the subscription, as does a 404 (the router ended it) or any other
 * refusal. Ending releases the watcher's subscription
 * (and the poller, if it was the job's last), the stream and the job quota.
 * Messages go out one at a time per subscription; the watcher's bounded
 * drop-oldest mailbox holds what arrives meanwhile, so nothing queues without
 * bound.
 *
 * `close` (at shutdown) sends each subscription a `complete` whose error
 * (UPSTREAM_UNAVAILABLE, reason `shutdown`) the router passes to its client:
 * the callback protocol has no reconnect of its own, so the client subscribes
 * again, through the router, to a replica that stays, and gets the job's
 * current state first. Without it the router would hold the subscription
 * until a heartbeat went missing, then fail it. A subscription still being
 * set up then is refused (503) before its `check`, as is one whose router
 * left during its setup (dropped, with nothing called).
 */
export function createCallbackHandler(options: CallbackOptions): { handle: CallbackHandler; close(): Promise<void> } {
  const { logger } = options;
  const format = clientErrorFormatter(logger, { hideSuggestions: !options.posture.introspection });
  /** Each subscription running, by what ends it with the `complete` shutdown sends. */
  const open = new Set<(errors: readonly GraphQLFormattedError[]) => Promise<void>>();
  let closed = false;

  const handle: CallbackHandler = async (request, reply, caller, extension) => {
    if (closed) return void refuseAtShutdown(reply, 'subscribe again');
    const asked = readExtension(extension);
    if (typeof asked === 'string') return void refuse(reply, 400, 'BAD_USER_INPUT', asked);
    if (!options.urls.enabled) {
      return void refuse(
        reply,
        403,
        'FORBIDDEN',
        'Callback subscriptions are off on this gateway: its operator lists the callback URLs it may call in ER_CALLBACK_URL_ALLOW.',
      );
    }
    const url = options.urls.check(asked.callbackUrl);
    if (!url) {
      logger.info({ client: caller.client }, 'callback subscription refused: its callback URL is not in ER_CALLBACK_URL_ALLOW');
      return void refuse(reply, 403, 'FORBIDDEN', 'This gateway may not call that callback URL: it is not in ER_CALLBACK_URL_ALLOW.');
    }
    const body = readOperation(request.body);
    if (typeof body === 'string') return void refuse(reply, 400, 'BAD_REQUEST', body);
    const admitted = options.gate.admit(body, (...refused) => options.refusedStarts(caller, ...refused));
    if (Array.isArray(admitted)) return void reply.code(400).send({ errors: formatAll(format, admitted) });
    const document = admitted as DocumentNode;
    if (getOperationAST(document, body.operationName ?? undefined)?.operation !== 'subscription') {
      return void refuse(
        reply,
        400,
        'BAD_USER_INPUT',
        'Callback mode is for subscriptions: send queries and mutations without extensions.subscription.',
      );
    }
    let subscription: CallbackSubscription | undefined;
    let expired = false;
    const stream = admitStream(options, reply, caller, 'callback subscription', () =>
      subscription ? void subscription.finish([EXPIRED_ERROR]) : (expired = true),
    );
    if (!stream) return;
    const end = new AbortController();
    // From here the stream is the subscription's to release once it runs; whatever else happens (a refusal, a throw) releases it.
    let running = false;
    let left = false;
    // From before the setup: a router that leaves during it must be seen once it is done. The events go out once the router has
    // its answer; a router that left before it had it (during the check, say) has no subscription to send them to.
    reply.raw.once('close', () => {
      if (!subscription) left = true;
      else if (reply.raw.writableFinished) subscription.start();
      else void subscription.finish(undefined, false);
    });
    try {
      const args = {
        schema: options.schema,
        document,
        variableValues: body.variables ?? undefined,
        operationName: body.operationName ?? undefined,
        // Trace context from the router's request headers, as on HTTP and SSE.
        contextValue: stream.context(end.signal, (name) => request.headers[name]),
      };
      const setup = await settleDeadline(options.executions.subscribe(args), args);
      if (!isAsyncIterator(setup)) {
        // A refusal (FORBIDDEN, NOT_FOUND, a quota) is the answer: no subscription, nothing called.
        return void reply.code(200).send({ data: null, errors: formatAll(format, (setup as ExecutionResult).errors ?? []) });
      }
      if (left || closed || expired) {
        void setup.return?.();
        if (left) return void logger.info({ client: caller.client }, 'callback subscription dropped: the router left during its setup');
        if (expired) return void refuse(reply, 401, 'UNAUTHENTICATED', EXPIRED_ERROR.message);
        return void refuseAtShutdown(reply, 'subscribe again');
      }
      running = true;
      const started = new CallbackSubscription(
        { url, id: asked.subscriptionId, verifier: asked.verifier },
        asked.heartbeatIntervalMs,
        setup,
        options,
        format,
        () => {
          end.abort();
          stream.release();
          open.delete(started.finish);
        },
      );
      subscription = started;
      open.add(started.finish);
      const checked = await started.check();
      if (checked !== 'delivered') {
        logger.info({ delivery: checked }, 'callback subscription refused: the router did not confirm its check');
        return void refuse(reply, 400, 'BAD_REQUEST', `The callback URL did not confirm the subscription (check: ${checked}).`);
      }
      return void reply.code(200).type('application/json; charset=utf-8').send('{"data":null}');
    } finally {
      if (!running) {
        end.abort();
        stream.release();
      }
    }
  };

  return {
    handle,
    close: async () => {
      closed = true;
      await Promise.all([...open].map((finish) => finish([SHUTDOWN_ERROR])));
      options.connections.destroy();
    },
  };
}

/**
 * One callback subscription: its messages, one at a time, its heartbeat, and
 * its end, which runs `ended` once whatever ends it (the job's final state, the
 * router's 404, a message that could not be delivered, a token's expiry, shutdown).
 */
class CallbackSubscription {
  /** Cuts the waits and the attempt in progress of every message still to go, once the subscription ends. */
  private readonly stop = new AbortController();
  /** The messages' chain: each goes out once the one before has been answered. */
  private sending: Promise<unknown> = Promise.resolve();
  private cancelHeartbeat = (): void => undefined;
  private ending?: Promise<void>;

  constructor(
    private readonly target: CallbackTarget,
    private readonly heartbeatMs: number,
    private readonly results: AsyncIterator<unknown>,
    private readonly options: CallbackOptions,
    private readonly format: ReturnType<typeof clientErrorFormatter>,
    private readonly ended: () => void,
  ) {}

  /** The `check` that confirms the subscription before the router's request is answered; anything but delivered ends it. */
  async check(): Promise<Delivery> {
    const delivery = await this.send({ action: 'check' });
    if (delivery !== 'delivered') await this.finish(undefined, false);
    return delivery;
  }

  /** Sends the events as they come, and the heartbeat. */
  start(): void {
    if (this.ending) return;
    this.beat();
    void this.pump();
  }

  /**
   * Ends the subscription: its events stop, and the router is sent `complete` (with `errors`, if any) unless it is the one
   * that ended it or cannot be reached. Resolves once that is done, within a second at shutdown.
   */
  readonly finish = (errors?: readonly GraphQLFormattedError[], tell = true): Promise<void> =>
    (this.ending ??= (async () => {
      this.cancelHeartbeat();
      this.ended();
      void this.results.return?.();
      if (tell) {
        const last = this.sending;
        // The message in progress is cut short: at shutdown its retries would hold the exit.
        const cut = this.options.timers.after(SHUTDOWN_BUDGET_MS, () => this.stop.abort());
        await last;
        cut();
        const budget = Math.min(SHUTDOWN_BUDGET_MS, this.budgetMs);
        this.stop.abort();
        await this.tell({ action: 'complete', errors }, budget, new AbortController().signal);
      } else {
        this.stop.abort();
      }
    })());

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const step = await this.results.next();
        if (this.ending) return;
        if (step.done) return void (await this.finish());
        const payloadJson =
          this.options.executions.serialized(step.value) ?? JSON.stringify(maskedResult(this.format, step.value as ExecutionResult));
        const delivery = await this.send({ action: 'next', payloadJson });
        if (delivery !== 'delivered') return void (await this.finish(undefined, false));
      }
    } catch (err) {
      this.options.logger.error({ err }, 'callback subscription failed');
      await this.finish([{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }]);
    }
  }

  /** A `check` within every heartbeat interval; one that fails ends the subscription. */
  private beat(): void {
    if (this.heartbeatMs <= 0) return;
    // Not awaited by the timer: its retries wait on the same clock.
    this.cancelHeartbeat = this.options.timers.after(this.heartbeatMs * HEARTBEAT_SHARE, () => void this.heartbeat());
  }

  private async heartbeat(): Promise<void> {
    const delivery = await this.send({ action: 'check' });
    if (delivery !== 'delivered') return void (await this.finish(undefined, false));
    if (!this.ending) this.beat();
  }

  /** Queues `message` behind the one in progress; its delivery, once it has been tried. */
  private send(message: CallbackMessage): Promise<Delivery> {
    const sent = this.sending.then(() =>
      this.stop.signal.aborted ? 'undeliverable' : this.tell(message, this.budgetMs, this.stop.signal),
    );
    this.sending = sent;
    return sent;
  }

  private async tell(message: CallbackMessage, budgetMs: number, signal: AbortSignal): Promise<Delivery> {
    const delivery = await deliver(
      this.target,
      message,
      { ...DEFAULT_RETRIES, budgetMs },
      this.options.connections,
      this.options.timers,
      signal,
    );
    this.options.onMessage?.(message.action, delivery);
    if (delivery !== 'delivered') {
      this.options.logger.info({ action: message.action, delivery, subscription: this.target.id }, 'callback message not delivered');
    }
    return delivery;
  }

  /** A router that stops answering has dropped the subscription by one heartbeat interval: no message is tried for longer. */
  private get budgetMs(): number {
    return this.heartbeatMs > 0 ? this.heartbeatMs : BUDGET_WITHOUT_HEARTBEAT_MS;
  }
}

function isAsyncIterator(value: unknown): value is AsyncIterator<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
