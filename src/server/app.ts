import { randomUUID } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControl } from '@apollo/server/plugin/cacheControl';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginInlineTrace } from '@apollo/server/plugin/inlineTrace';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import proxyAddr from '@fastify/proxy-addr';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Access, type AuditEntry } from '../auth/access';
import { loadAuth } from '../auth/setup';
import { RedisFinalJobStore } from '../cluster/final-jobs';
import { RedisIdempotencyStore } from '../cluster/idempotency';
import { DASHBOARD_DOCUMENTS } from '../dashboard/operations';
import type { Emulator, EmulatorOptions } from '../emulator/http';
import type { GatewayContext } from '../resolvers/context';
import { Cursors } from '../resolvers/cursors';
import { SHARED_JOB_SUBSCRIPTIONS } from '../resolvers/job-updates';
import { checkAwsAccess } from '../upstream/aws-access';
import { Deadlines, type RequestDeadline } from '../upstream/deadline';
import { CLIENT_REFUSALS } from '../upstream/errors';
import { MemoryIdempotencyStore, type IdempotencyStore } from '../upstream/idempotency';
import { JobStarter } from '../upstream/job-starter';
import { JobStore } from '../upstream/job-store';
import type { JobWatcher } from '../watch/job-watcher';
import { realScheduler, steadyScheduler, type Scheduler } from '../watch/scheduler';
import { createCallbackHandler } from './callback';
import { CallbackUrls } from './callback-urls';
import { CallbackConnections } from './callback-delivery';
import { ClientLimits, type Caller } from './client-limits';
import { ConfigError, connectionLimits, trustedProxies, type Config } from './config';
import { shareConnections } from './connection-share';
import { clientCode, clientErrorFormatter } from './errors';
import { createHttpLayer, createMetricsListener } from './http';
import { limitRules, limitsPlugin, type SchemaPosture } from './limits';
import { listening, urlOf } from './listen';
import { observePlugin } from '../observe/apollo-plugin';
import { createLogger } from '../observe/logging';
import { createMetrics, type GatewayMetrics } from '../observe/metrics';
import { OperationObserver } from '../observe/operation';
import { countedStreams } from '../observe/streams';
import { traceResolvers } from '../observe/resolver-spans';
import { startTelemetryExport } from '../observe/telemetry-export';
import { type TraceCarrier } from '../observe/tracing';
import { stdoutLog, type LogOutput } from './log';
import { OperationGate } from './operations';
import { OriginGuard } from './origins';
import {
  startClusterJobEvents,
  startCursorKeys,
  startEmbeddedEmulator,
  startJobWatcher,
  startListWatcher,
  startSharedRedis,
  startUpstreamClients,
} from './parts';
import { DocumentStore } from './document-store';
import { PreparedQueries } from './prepared-queries';
import type { RefusedStarts } from './refused-starts';
import { ResponseCache } from './response-cache';
import { retryAfterPlugin } from './retry-after';
import { buildGatewaySchema } from './schema';
import { SharedExecutions } from './shared-executions';
import { createSseHandler } from './sse';
import { Stack } from './stack';
import { TrustedDocuments } from './trusted-documents';
import { UpstreamCost } from './upstream-cost';
import { serveWebSockets } from './websocket';
import { OperationContext, type ProcessContext } from './operation-context';

export interface GatewayOptions {
  /** @default JSON lines on stdout (see LogOutput), at `logLevel` */
  logger?: Logger;
  /** Where `logger` writes, for the count of dropped lines on /metrics. @default stdout's, when `logger` is unset */
  logOutput?: LogOutput;
  /** Settings for the embedded emulator (ER_BACKEND=emulator): tests pass a clock and faults. */
  emulator?: Omit<EmulatorOptions, 'port' | 'host' | 'jobSeconds'>;
  /** Node's process metrics (heap, event loop) on /metrics. @default true */
  processMetrics?: boolean;
  /** Where idempotency keys live. @default a MemoryIdempotencyStore of `idempotencyMaxKeys` */
  idempotencyStore?: IdempotencyStore;
  /** The watcher's time, and the clock of token expiry: tests drive both by hand. @default Node's timers */
  scheduler?: Scheduler;
  /** The time of spans: request deadlines, the rate governor's waits and refills, websocket pings and message rates. Tests drive it by hand. @default steadyScheduler */
  timers?: Scheduler;
  /** The clock of the caches' windows (the freshness window, the response cache's maxAge), in ms: tests move it by hand. @default performance.now */
  now?: () => number;
  /** Told of each query answered without Apollo's pipeline (see PreparedQueries): tests count them. */
  onDirectAnswer?: () => void;
  /** Apollo's parsed documents. @default a DocumentStore of DOCUMENT_STORE_BYTES */
  documentStore?: DocumentStore;
}

/** A running gateway; whoever starts it closes it. */
export interface Gateway {
  /** e.g. `http://127.0.0.1:4000` */
  readonly url: string;
  /** Where `/metrics` is served, e.g. `http://127.0.0.1:9464` */
  readonly metricsUrl: string;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** The embedded emulator, when ER_BACKEND=emulator. */
  readonly emulator?: Emulator;
  readonly watcher: JobWatcher;
  /**
   * Shuts down, readiness first: `/readyz` answers 503 at once, and for
   * `shutdownDelayMs` the gateway goes on serving new requests and
   * connections (answers say `Connection: close`), while load balancers
   * stop sending. Then it stops taking connections, closes websockets (1001,
   * with a reason that tells clients to reconnect) and ends event streams,
   * and lets HTTP requests finish for `shutdownDrainMs`; whatever still waits
   * for the service then is answered with UPSTREAM_UNAVAILABLE (reason
   * `shutdown`) instead of being cut. Last it stops the rest of what it
   * started, last started first: the metrics listener, pollers, the SDK
   * clients, Redis, the embedded emulator. The same promise when asked again.
   */
  close(): Promise<void>;
}

/** This package's version, for the spans' `service.version`. */
function gatewayVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** After the drain deadline, how long the answers of cut-short requests have to be written before connections are closed. */
const ANSWER_GRACE_MS = 2000;

/**
 * Starts the gateway and, with ER_BACKEND=emulator, the emulator it talks to.
 * This is the composition root: each part is pushed on one stack as soon as
 * it has started, and `close` disposes the stack, last part first. A start
 * that fails at any step (a port in use, Redis, AWS access, the schema,
 * Apollo) disposes the stack the same way before the error is thrown, so
 * nothing it started is left: no port, connection or timer.
 */
export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const stack = new Stack();
  try {
    return await compose(config, options, stack);
  } catch (err) {
    // The caller's error is what it needs to hear of; a part that also failed to stop is left to the log.
    await stack
      .dispose()
      .catch((stopError: unknown) =>
        (options.logger ?? createLogger(config)).error({ err: stopError }, 'a part failed to stop after start-up failed'),
      );
    throw err;
  }
}

async function compose(config: Config, options: GatewayOptions, stack: Stack): Promise<Gateway> {
  const logOutput = options.logOutput ?? (options.logger ? undefined : stdoutLog());
  const logger = options.logger ?? createLogger(config, logOutput);
  let closing: Promise<void> | undefined;
  /** Set on `close`: from then on /readyz answers 503, and HTTP answers close their connection. */
  let shuttingDown = false;
  const metrics = createMetrics({
    processMetrics: options.processMetrics ?? true,
    logLinesDropped: logOutput && (() => logOutput.dropped),
  });
  // First on the stack, so last to stop: the spans of everything else's shutdown are exported, and the final counts.
  const { tracing } = stack.use(
    // One id for this process's traces and metrics.
    startTelemetryExport(config, metrics.registry, { version: gatewayVersion(), instanceId: randomUUID() }, logger),
  );
  const scheduler = options.scheduler ?? realScheduler;
  const timers = options.timers ?? steadyScheduler;
  const { authenticator, policy } = await loadAuth(config.auth, scheduler.now, logger);
  // Files a setting names are read before anything starts: a bad one stops start-up with nothing to clean up.
  const manifest = config.trustedDocuments ? await TrustedDocuments.load(config.trustedDocuments) : undefined;
  // The dashboard the gateway serves runs on it whatever the manifest names.
  const trusted = manifest && config.dashboard ? manifest.including(DASHBOARD_DOCUMENTS) : manifest;
  const auditTo = (log: Logger) => (entry: AuditEntry) =>
    log.info({ audit: true, ...entry }, `audit: ${entry.action} ${entry.workflow} ${entry.outcome}`);
  const audit = auditTo(logger);
  const emulator = config.backend === 'emulator' ? stack.use(await startEmbeddedEmulator(config, options.emulator)).emulator : undefined;
  const observer = new OperationObserver(metrics, clientCode, config.metricsOperationNames, tracing);
  // Several replicas share Redis; without it everything stays in this process.
  const redis = config.redisUrl
    ? stack.use(await startSharedRedis({ ...config, redisUrl: config.redisUrl }, logger, tracing)).redis
    : undefined;
  const cursors = new Cursors(stack.use(await startCursorKeys(config, redis, logger)).ring);
  const deadlines = new Deadlines(config.requestDeadlineMs, timers);
  const { clients } = stack.use(startUpstreamClients(config, emulator, redis, metrics, timers, tracing));
  // Against AWS: a missing region or credentials stops start-up with its name (or, asked to start anyway, keeps /readyz at 503).
  const awsAccess = emulator ? undefined : stack.use(await checkAwsAccess(clients.reads, config.startWithoutAws, logger, scheduler));
  if (awsAccess?.refusal) throw new ConfigError(awsAccess.refusal);
  const jobs = new JobStore(clients, {
    finalJobs: config.finalJobCacheSize,
    freshnessMs: config.freshnessMs,
    now: options.now,
    observeRead: (result) => metrics.jobReads.inc({ result }),
    finalStore: redis && config.finalJobCacheSize > 0 ? new RedisFinalJobStore(redis, config.finalJobTtlSeconds) : undefined,
    startTimeoutMs: config.startTimeoutMs,
    observe: (operation, outcome, error, trace) => {
      metrics.upstreamRequests.inc({ operation, outcome });
      // Refusals (a missing job, bad input) are the client's business; service trouble is the operator's.
      if (!error) return;
      const log = observer.logger(logger, trace);
      log[CLIENT_REFUSALS.has(outcome) ? 'debug' : 'warn']({ operation, outcome, err: error }, 'upstream call failed');
    },
  });
  const idempotency =
    options.idempotencyStore ??
    (redis ? new RedisIdempotencyStore(redis) : new MemoryIdempotencyStore({ maxKeys: config.idempotencyMaxKeys }));
  const starter = new JobStarter(jobs, idempotency, {
    clockSkewMs: config.startClockSkewMs,
    startTimeoutMs: config.startTimeoutMs,
  });
  // With replicas, job events travel on Redis and one replica polls each job.
  const shared = redis ? { redis, events: stack.use(startClusterJobEvents(redis)).events } : undefined;
  const { watcher } = stack.use(startJobWatcher(config, jobs, shared, scheduler, metrics, tracing));
  const { lists } = stack.use(startListWatcher(config, jobs, scheduler, metrics));
  const listMaxAgeSeconds = Math.floor(config.freshnessMs / 1000);
  const home = emulator
    ? { region: emulator.state.region, accountId: emulator.state.accountId }
    : { region: awsAccess?.region ?? '', accountId: config.accountId };
  // Once answers depend on who asks, no shared cache may hand one principal's answer to another.
  const cacheScope = authenticator.required ? 'PRIVATE' : 'PUBLIC';
  const processContext: ProcessContext = {
    home,
    cursors,
    watcher,
    lists,
    finalMaxAgeSeconds: config.finalMaxAgeSeconds,
    listMaxAgeSeconds,
    cacheScope,
    starters: starter,
  };
  const context = (
    deadline: RequestDeadline,
    { principal, client }: Caller,
    subscriber: GatewayContext['subscriber'],
    carrier: TraceCarrier,
  ): GatewayContext => {
    const observed = observer.start(carrier);
    const trace = observed.traceContext;
    // Inside a traced operation, audit lines carry its trace and span ids.
    const access = new Access(principal, policy, trace ? (entry) => auditTo(observer.logger(logger, trace))(entry) : audit);
    const scoped = jobs.forRequest(deadline, access, client, trace);
    return new OperationContext(processContext, deadline, observed, access, scoped, client, subscriber);
  };
  /** The starts of a mutation refused as a whole (on any transport), each audited as a refused start of its caller. */
  const refusedStarts = ({ principal }: Caller, ...[workflows, reason, limit]: Parameters<RefusedStarts>) => {
    const access = new Access(principal, policy, audit);
    for (const workflow of workflows) access.refusedStart(workflow, reason, limit ? { limit } : {});
  };
  const trustProxy = trustedProxies(config.trustProxy);
  const origins = new OriginGuard({ allowedOrigins: config.allowedOrigins, allowedHosts: config.allowedHosts });

  const schema = await buildGatewaySchema();
  if (tracing && config.tracing?.resolvers)
    traceResolvers(schema, tracing, (context) => (context as GatewayContext).observed?.traceContext);
  const posture: SchemaPosture = {
    introspection: config.introspection,
    routerSecret: config.routerSecret,
    inlineTracing: config.inlineTracing,
  };
  const validationRules = limitRules(config, posture);
  const refused = (limit: string) => metrics.limitRefusals.inc({ limit });
  const cost = new UpstreamCost(
    schema,
    { maxUpstreamCalls: config.maxUpstreamCalls, maxEntities: config.maxEntities, filteredLists: !policy.readsEverything() },
    refused,
  );
  const variablesLimits = { maxDepth: config.maxVariablesDepth, maxValues: config.maxVariableValues };
  const gate = new OperationGate(schema, validationRules, cost, posture, variablesLimits, trusted);
  // Websockets and event streams draw from one set of per-client limits.
  const limits = new ClientLimits(
    {
      streamsPerClient: config.streamsPerClient,
      subscriptionsPerSocket: config.wsSubscriptionsPerSocket,
      jobsPerClient: config.watchedJobsPerClient,
    },
    refused,
  );
  const { maxConnections, perAddress } = connectionLimits(config);
  const responseCache =
    config.responseCacheMb > 0
      ? new ResponseCache({
          megabytes: config.responseCacheMb,
          now: options.now,
          scoped: authenticator.required,
          lookups: metrics.responseCacheLookups,
        })
      : undefined;
  const formatError = clientErrorFormatter(logger, { hideSuggestions: !config.introspection });
  // Apollo's own, given explicitly: the same instance hints and says Cache-Control for the queries answered without Apollo's pipeline.
  const cacheControl = ApolloServerPluginCacheControl();
  const prepared = new PreparedQueries<GatewayContext>({ cost, posture, variablesLimits, formatError, cacheControl });
  const http = createHttpLayer({
    context,
    authenticator,
    origins,
    deadlines,
    logger,
    backend: config.backend,
    shuttingDown: () => shuttingDown,
    readiness: async (): Promise<Record<string, boolean>> => ({
      ...(redis ? { redis: await redis.check() } : {}),
      ...(awsAccess ? { aws: awsAccess.ready() } : {}),
    }),
    trustProxy,
    bodyLimit: config.bodyLimitBytes,
    timeouts: {
      headersMs: config.httpHeadersTimeoutMs,
      requestMs: config.httpRequestTimeoutMs,
      keepAliveMs: config.httpKeepAliveTimeoutMs,
    },
    maxConnections,
    trusted,
    dashboard: config.dashboard,
    ide:
      config.ide === 'graphiql'
        ? { introspection: config.introspection, trustedDocuments: trusted !== undefined, auth: config.auth.modes }
        : undefined,
    // In production the plain page stays at /graphql, and links the IDE when it is on.
    browserPage: config.ide === 'sandbox' ? 'apollo' : config.ide === 'graphiql' && config.nodeEnv !== 'production' ? 'ide' : 'landing',
    onAuthFailure: (reason) => metrics.authFailures.inc({ reason, transport: 'http' }),
    responseCache: responseCache && { cache: responseCache, observer },
    prepared: { queries: prepared, onAnswer: options.onDirectAnswer },
  });
  const httpServer = http.app.server;
  stack.use(
    shareConnections(httpServer, {
      perAddress,
      // A trusted proxy's connections carry many clients: they are held to their stream budgets by forwarded address or principal instead.
      exempt: trustProxy && ((address) => trustProxy(address, 0)),
      logger,
      refused: () => refused('connectionsPerAddress'),
    }),
  );
  // Pushed before Apollo, so that it closes after the drain: /metrics answers while requests drain.
  const metricsListener = createMetricsListener(metrics, logger);
  stack.defer(() => metricsListener.close());
  // One for every streaming transport: the subscribers of one operation on websockets, event streams and callbacks share its executions.
  const executions = new SharedExecutions({
    audiences: SHARED_JOB_SUBSCRIPTIONS,
    format: clientErrorFormatter(logger, { hideSuggestions: !posture.introspection }),
    onExecution: () => metrics.subscriptionExecutions.inc(),
  });
  const webSockets = serveWebSockets({
    executions,
    httpServer,
    schema,
    gate,
    posture,
    context,
    authenticator,
    origins,
    scheduler,
    timers,
    logger,
    keepAliveMs: config.wsKeepAliveMs,
    initTimeoutMs: config.wsInitTimeoutMs,
    maxBufferedBytes: config.wsMaxBufferedBytes,
    deadlines,
    onDrop: (reason) => metrics.droppedSockets.inc({ reason }),
    onAuthFailure: (reason) => metrics.authFailures.inc({ reason, transport: 'websocket' }),
    refusedStarts,
    limits: countedStreams(limits, metrics, 'websocket'),
    addressOf: (request) => (trustProxy ? proxyAddr(request, trustProxy) : (request.socket.remoteAddress ?? 'unknown')),
    maxPayloadBytes: config.bodyLimitBytes,
    messagesPerSecond: config.wsMessagesPerSecond,
  });
  const sse = createSseHandler({
    executions,
    schema,
    gate,
    posture,
    context,
    limits: countedStreams(limits, metrics, 'sse'),
    streamsPerClient: config.streamsPerClient,
    refusedStarts,
    deadlines,
    scheduler,
    logger,
  });
  const callbacks = createCallbackHandler({
    executions,
    schema,
    gate,
    posture,
    context,
    limits: countedStreams(limits, metrics, 'callback'),
    streamsPerClient: config.streamsPerClient,
    refusedStarts,
    urls: new CallbackUrls(config.callbackUrlAllow),
    connections: new CallbackConnections(config.callbackConnections),
    deadlines,
    scheduler,
    timers,
    onMessage: (action, delivery) => {
      metrics.callbackMessages.inc({ action, delivery });
      if (delivery === 'undeliverable') metrics.callbackMessagesDropped.inc({ action });
    },
    logger,
  });
  // `close` runs it at the end of the shutdown delay, before the drain; the stack (and Apollo's drain) for a start that fails, once whichever asks first.
  const closeStreams = stack.defer(() => Promise.all([webSockets.dispose(), sse.close(), callbacks.close()]));
  const apollo = new ApolloServer<GatewayContext>({
    schema,
    // Apollo's default store sizes a document by its JSON, blind to the tokens and comments it holds: one client could fill the heap.
    documentStore: options.documentStore ?? new DocumentStore(),
    validationRules,
    logger,
    formatError,
    includeStacktraceInErrorResponses: false,
    // Introspection is refused by the validation rules, on HTTP and websockets alike.
    introspection: true,
    // Signals are main.ts's: Apollo's own handler would stop the server and re-raise the signal before our cleanup ran.
    stopOnTerminationSignals: false,
    plugins: [
      // Past the drain deadline, waits still open are cut (see close) and answered; the connections close once they are.
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownDrainMs + ANSWER_GRACE_MS }),
      limitsPlugin<GatewayContext>(cost, posture, variablesLimits, (ctx, ...refused) =>
        refusedStarts({ principal: ctx.access.principal, client: ctx.client }, ...refused),
      ),
      retryAfterPlugin<GatewayContext>(),
      observePlugin<GatewayContext>(),
      config.inlineTracing ? ApolloServerPluginInlineTrace() : ApolloServerPluginInlineTraceDisabled(),
      // Apollo's page loads its script from Apollo's CDN: only when asked for (ER_IDE=sandbox); otherwise the HTTP layer serves ours.
      config.ide === 'sandbox' ? ApolloServerPluginLandingPageLocalDefault() : ApolloServerPluginLandingPageDisabled(),
      ...(responseCache ? [responseCache.plugin<GatewayContext>()] : []),
      prepared.plugin(),
      // Should anything but `close` stop Apollo, websockets close (1001) and event streams end as HTTP requests drain.
      { serverWillStart: async () => ({ drainServer: closeStreams }) },
      // Last, where Apollo would put it when installed implicitly: its headers are set after the others'.
      cacheControl,
    ],
  });
  await apollo.start();
  // Apollo's stop drains HTTP (the listener closes) and the websockets; past the drain deadline, what still waits for the service is answered.
  stack.defer(async () => {
    const cut = setTimeout(() => {
      logger.info({ drainMs: config.shutdownDrainMs }, 'drain deadline reached: answering requests still waiting for the service');
      deadlines.abortAll('shutdown');
    }, config.shutdownDrainMs);
    try {
      await apollo.stop();
    } finally {
      clearTimeout(cut);
    }
  });
  http.serveGraphQL(apollo, sse.handle, callbacks.handle);
  await listening(
    () => http.app.listen({ port: config.port, host: config.host }),
    { port: 'PORT', host: 'HOST' },
    config.host,
    config.port,
  );
  await listening(
    () => metricsListener.listen({ port: config.metricsPort, host: config.metricsHost }),
    { port: 'ER_METRICS_PORT', host: 'ER_METRICS_HOST' },
    config.metricsHost,
    config.metricsPort,
  );

  return {
    url: urlOf(httpServer.address() as AddressInfo),
    metricsUrl: urlOf(metricsListener.server.address() as AddressInfo),
    logger,
    metrics,
    emulator,
    watcher,
    close: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        if (config.shutdownDelayMs > 0) {
          // Load balancers take a few checks to stop sending: everything that arrives meanwhile is served.
          await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
          logger.info(
            { delayMs: config.shutdownDelayMs },
            'shutdown delay over: no longer accepting; closing websockets and event streams',
          );
        }
        // Before the HTTP drain, which cuts connections with no request in progress: upgraded websockets are such connections.
        try {
          await closeStreams();
        } finally {
          await stack.dispose();
        }
      })()),
  };
}
