import { execute, type subscribe, type DocumentNode, type GraphQLError, type GraphQLSchema } from 'graphql';
import { handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { Server } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type ServerOptions as WsServerOptions } from 'ws';
import type { Logger } from 'pino';
import { AuthenticationError, credentialsFrom, isCredentialName, type AuthFailure, type Authenticator } from '../auth/authenticator';
import type { Principal } from '../auth/principal';
import { socketCarrier, traceHeaders } from '../observe/tracing';
import type { GatewayContext } from '../resolvers/context';
import type { Scheduler } from '../watch/scheduler';
import type { Deadlines } from '../upstream/deadline';
import { callerOf, type Caller, type ClientLimits } from './client-limits';
import { clientErrorFormatter, formatAll } from './errors';
import type { SchemaPosture } from './limits';
import { settleDeadline, type OperationGate } from './operations';
import type { RefusedStarts } from './refused-starts';
import type { OriginGuard } from './origins';
import { closeWhenIdle } from './hand-over';
import type { PayloadWriter } from './direct-delivery';
import type { SharedExecutions } from './shared-executions';
import { guardSockets, type DropReason } from './socket-guard';
import { listenTo, sessionOf, SocketSession } from './socket-session';
import { maskedResult, type StreamContext } from './stream-admission';
import { SubscriptionWriter } from './subscription-writer';
import { runAt } from './timers';

/** How long a closed socket's client has to answer the close frame before its connection is cut. */
const CLOSE_HANDSHAKE_MS = 1000; // ws 8.23's `closeTimeout`, which @types/ws 8.18 does not name yet

export interface WebSocketOptions {
  httpServer: Server;
  schema: GraphQLSchema;
  /** Subscriptions, executed once per event per distinct subscription (shared with SSE). */
  executions: SharedExecutions;
  /** Parses, validates and limits each operation as HTTP does. */
  gate: OperationGate;
  /** Introspection as on HTTP: off, error messages suggest no field names. */
  posture: SchemaPosture;
  /** The context of one operation by `caller`, whose calls wait for the service no longer than `deadline`, and which ends with `subscriber.signal`. */
  context: StreamContext;
  /** What each client may hold: sockets, subscriptions per socket, distinct jobs. */
  limits: ClientLimits;
  /** The address a socket's client calls from (behind trusted proxies, the forwarded one). */
  addressOf: (request: IncomingMessage) => string;
  /** The largest message a client may send, in bytes; a larger one closes the socket with 1009. */
  maxPayloadBytes: number;
  /** Messages (pings included) a socket may send per second, with bursts of twice as many; past it the socket is closed with 1008. */
  messagesPerSecond: number;
  /** Who is asking, from `connection_init`'s payload. */
  authenticator: Authenticator;
  /** Upgrades from a Host or Origin it refuses are answered 403. */
  origins: OriginGuard;
  /** Closes a socket when its token expires. @default Node's timers */
  scheduler: Scheduler;
  /** The time of pings, of the message rate and of a dropped client's grace: tests drive it by hand. @default steadyScheduler */
  timers?: Scheduler;
  logger: Logger;
  /** Ping interval. @default 12000 */
  keepAliveMs: number;
  /** A socket that sends no connection_init within this time is closed (4408). @default 3000 */
  initTimeoutMs: number;
  /** A socket whose unsent output passes this many bytes is closed (1013). @default 1048576 */
  maxBufferedBytes: number;
  /** Told of each client the gateway drops. */
  onDrop?: (reason: DropReason) => void;
  /** Told of the starts of each mutation the gate refuses, with who sent it: they are audited as every refused start is. */
  refusedStarts: (caller: Caller, ...refused: Parameters<RefusedStarts>) => void;
  /** Told of each socket closed for its credentials, by why. */
  onAuthFailure?: (reason: AuthFailure) => void;
  /** Queries and mutations over the socket each run under a request deadline, as on HTTP; a subscription's setup too. */
  deadlines: Deadlines;
}

/** What graphql-ws hands our hooks beside the message: the socket's session (the socket, who it is once `connection_init` said so). */
type SocketExtra = SocketSession;

/** Close codes of a socket whose credentials fail: graphql-ws's Unauthorized. */
const UNAUTHORIZED = 4401;
/** The gateway cannot serve the socket now (its token could not be checked): the client may retry as is. */
const TRY_AGAIN_LATER = 1013;
/** A client past a limit of its own (too many sockets, too many messages): policy violation. */
const POLICY_VIOLATION = 1008;
/** The gateway is shutting down: graphql-ws clients retry on this code by default. */
const GOING_AWAY = 1001;

/** What a socket closed at shutdown is told (a close reason has 123 bytes at most). */
export const SHUTDOWN_REASON = 'The gateway is shutting down: reconnect and subscribe again; you get the current state first.';

/**
 * GraphQL over websockets (the graphql-transport-ws protocol) at /graphql on
 * the HTTP server's port. Returns the means to close every socket (code 1001)
 * and wait for their subscriptions to be released.
 *
 * The adapter between graphql-ws and `ws` is ours rather than
 * `graphql-ws/use/ws`, for two reasons: a send to a client that has just gone
 * resolves quietly (its close releases everything) instead of failing every
 * open operation with a console error, and pings belong to the socket guard,
 * which says why it drops a client.
 *
 * Browsers cannot set headers on a websocket, so credentials travel in
 * `connection_init`'s payload, as headers would (`{ "Authorization": "Bearer
 * …" }` or `{ "X-API-Key": "…" }`, names in any case). Missing or bad ones
 * close the socket with 4401; a token closes its socket when it expires.
 * Upgrades from a Host or Origin the guard refuses get 403 and no socket:
 * Apollo's CSRF prevention does not cover websockets.
 */
export function serveWebSockets(options: WebSocketOptions): { dispose(): Promise<void> } {
  const { schema, logger } = options;
  const format = clientErrorFormatter(logger, { hideSuggestions: !options.posture.introspection });
  const wsServer = new WebSocketServer(<WsServerOptions & { closeTimeout: number }>{
    server: options.httpServer,
    path: '/graphql',
    maxPayload: options.maxPayloadBytes,
    // A client that never answers our close frame (a half-open connection, a stalled reader) is cut after a
    // second: ws's own 30 s would hold the whole shutdown, as wsServer.close waits for every socket.
    closeTimeout: CLOSE_HANDSHAKE_MS,
    // Pings are messages too: they count against the message rate before they are answered.
    autoPong: false,
    verifyClient: ({ req }, allow) => {
      const refused = options.origins.refusal(req.headers.host, req.headers.origin);
      if (refused) {
        logger.info({ host: req.headers.host, origin: req.headers.origin }, 'websocket upgrade refused: host or origin not allowed');
        return allow(false, 403, 'Forbidden');
      }
      const address = options.addressOf(req);
      const release = options.limits.openUnnamed(address);
      if (!release) {
        logger.info({ address }, 'websocket upgrade refused: too many sockets from this address not yet initialised');
        return allow(false, 429, 'Too Many Requests');
      }
      unnamed.set(req, release);
      req.socket.once('close', release);
      return allow(true);
    },
  });
  /** Each upgrade's count among its address's sockets not yet initialised, released at `connection_init` or close. */
  const unnamed = new WeakMap<IncomingMessage, () => void>();
  const guard = guardSockets(wsServer, {
    keepAliveMs: options.keepAliveMs,
    maxBufferedBytes: options.maxBufferedBytes,
    logger,
    onDrop: options.onDrop,
    scheduler: options.timers,
  });

  /** Each subscription's writer of shared payloads, by its context. */
  const writers = new WeakMap<GatewayContext, PayloadWriter>();
  const protocol = makeServer<Record<string, unknown> | undefined, SocketExtra>({
    schema,
    // The session times connection_init itself (see SocketSession).
    connectionInitWaitTimeout: 0,
    onConnect: async (ctx) => {
      const payload = ctx.connectionParams ?? {};
      const lower = new Map(Object.entries(payload).map(([name, value]) => [name.toLowerCase(), value]));
      const { socket } = ctx.extra;
      ctx.extra.initialised();
      const credentials = credentialsFrom((name) => lower.get(name));
      // graphql-ws keeps the payload as connectionParams for the socket's life (its trace headers are read from it): not the credential.
      forgetCredentials(payload, lower);
      let principal: Principal;
      try {
        principal = await options.authenticator.authenticate(credentials);
      } catch (err) {
        if (!(err instanceof AuthenticationError)) throw err;
        logger.info({ reason: err.reason }, 'websocket not authenticated');
        options.onAuthFailure?.(err.reason);
        // The signing keys' fault, not the client's: 1013 is one graphql-ws clients retry, 4401 one they give up on.
        socket.close(err.reason === 'unavailable' ? TRY_AGAIN_LATER : UNAUTHORIZED, err.message);
        return false;
      }
      const caller = callerOf(principal, ctx.extra.address);
      const release = options.limits.openStream(caller.client);
      if (!release) {
        logger.info({ client: caller.client }, 'websocket refused: the client holds its share of streams');
        socket.close(POLICY_VIOLATION, 'Too many connections from this client');
        return false;
      }
      ctx.extra.releaseStream = release;
      ctx.extra.caller = caller;
      ctx.extra.quota = options.limits.socketQuota(caller.client);
      const { expiresAt } = principal;
      if (expiresAt !== undefined) {
        ctx.extra.cancelExpiry = runAt(options.scheduler, expiresAt, () => socket.close(UNAUTHORIZED, 'The token has expired.'));
      }
      return true;
    },
    context: (ctx, id, payload) => {
      const end = new AbortController();
      ctx.extra.operations.set(id, end);
      // Trace context: the message's extensions, else connection_init's payload, else the upgrade's headers.
      const carrier = socketCarrier(payload.extensions, ctx.connectionParams, ctx.extra.traceHeaders);
      const context = options.context(
        options.deadlines.start(),
        ctx.extra.caller!,
        { signal: end.signal, quota: ctx.extra.quota! },
        carrier,
      );
      writers.set(context, new SubscriptionWriter(ctx.extra.socket, ctx.extra.connection, id, ctx.extra, guard.check));
      return context;
    },
    // Completed by the server (or by the client, whose `complete` aborted it already): nothing left to end.
    onComplete: (ctx, id) => void ctx.extra.operations.delete(id),
    // The deadline ends with the answer; a subscription's with its setup, as its events read nothing more of the service.
    execute: (args) => settleDeadline(execute(args), args),
    subscribe: (args) =>
      settleDeadline(options.executions.subscribe(args, writers.get(args.contextValue as GatewayContext)), args) as ReturnType<
        typeof subscribe
      >,
    onSubscribe: (ctx, _id, payload) => {
      const admitted = options.gate.admit(payload, (...refused) => options.refusedStarts(ctx.extra.caller!, ...refused));
      if (Array.isArray(admitted)) return admitted as GraphQLError[];
      // The subscribe message stays with graphql-ws for the subscription's life: its query becomes the gate's copy, not one per
      // subscriber. Set here, not by a JSON reviver, which V8 runs recursively: 40,000-deep variables overflowed it (4400).
      if (typeof payload.query === 'string') (payload as { query: string }).query = options.gate.sharedText(payload.query);
      return {
        schema,
        document: admitted as DocumentNode,
        variableValues: payload.variables,
        operationName: payload.operationName ?? undefined,
      };
    },
    onError: (_ctx, _id, _payload, errors) => formatAll(format, errors),
    onNext: (ctx, _id, _payload, _args, result) => {
      // Past the limit the socket is closed, and graphql-ws sends nothing more on it.
      guard.check(ctx.extra.socket);
      // A shared payload is masked already, once for all its subscribers.
      if (options.executions.serialized(result) !== undefined) return result;
      return maskedResult(format, result);
    },
  } satisfies ServerOptions<Record<string, unknown> | undefined, SocketExtra>);

  wsServer.options.handleProtocols = handleProtocols;
  wsServer.on('error', (err: NodeJS.ErrnoException) => {
    // ws passes on the HTTP server's errors: a failed listen is the starter's to report, once.
    if (err.syscall !== 'listen') logger.error({ err }, 'websocket server error');
  });
  const sessionSettings = {
    initTimeoutMs: options.initTimeoutMs,
    messagesPerSecond: options.messagesPerSecond,
    now: options.timers?.now,
    logger,
    onDrop: options.onDrop,
  };
  wsServer.on('connection', (socket, request) => {
    // The session keeps of the upgrade request only what its operations need: the request goes.
    const releaseUnnamed = unnamed.get(request);
    if (releaseUnnamed) request.socket.removeListener('close', releaseUnnamed);
    const session = new SocketSession(
      socket,
      request.socket,
      options.addressOf(request),
      traceHeaders(request.headers),
      releaseUnnamed,
      sessionSettings,
    );
    listenTo(socket, session);
    session.open((graphqlSocket) => protocol.opened(graphqlSocket, graphqlSocket));
  });

  return {
    dispose: async () => {
      guard.dispose();
      // Once the event each is writing, if any, is out, and its `complete` after it (see closeWhenIdle).
      await Promise.all(
        [...wsServer.clients].map((socket) => closeWhenIdle(sessionOf(socket), () => socket.close(GOING_AWAY, SHUTDOWN_REASON))),
      );
      await new Promise<void>((resolve, reject) => wsServer.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/**
 * Takes a connection_init payload's credentials out of it (in any case of
 * their names) and out of its copy by lower-case name, which the closures
 * of onConnect (the expiry's timer) would keep: a presented key or token is
 * kept nowhere (docs/operators/securing.md).
 */
function forgetCredentials(payload: Record<string, unknown>, lower: Map<string, unknown>): void {
  for (const name of Object.keys(payload)) if (isCredentialName(name.toLowerCase())) delete payload[name];
  lower.clear();
}
