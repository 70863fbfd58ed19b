import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginInlineTrace } from '@apollo/server/plugin/inlineTrace';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { Access, type AuditEntry } from '../auth/access';
import { grantsKey } from '../auth/principal';
import { loadAuth } from '../auth/setup';
import { sharedCursorKeys } from '../cluster/cursor-key';
import { RedisFinalJobStore } from '../cluster/final-jobs';
import { RedisIdempotencyStore } from '../cluster/idempotency';
import { sharedBudgets } from '../cluster/rate-budget';
import { connectRedis } from '../cluster/redis';
import { retryAfterPlugin } from './retry-after';
import { ClusterJobEvents, RedisWatchCoordinator } from '../cluster/watch';
import { randomUUID } from 'node:crypto';
import { DASHBOARD_DOCUMENTS } from '../dashboard/operations';
import { startEmulator, type Emulator, type EmulatorOptions } from '../emulator/http';
import { createLoaders } from '../loaders';
import type { GatewayContext } from '../resolvers/context';
import { CursorKeyRing, Cursors } from '../resolvers/cursors';
import { resolveAwsAccess } from '../upstream/aws-access';
import { createUpstreamClients, type UpstreamClients } from '../upstream/client';
import { Deadlines, type RequestDeadline } from '../upstream/deadline';
import { MemoryIdempotencyStore, type IdempotencyStore } from '../upstream/idempotency';
import { JobStarter } from '../upstream/job-starter';
import { JobStore } from '../upstream/job-store';
import { RateGovernor } from '../upstream/rate-governor';
import { JobWatcher } from '../watch/job-watcher';
import { ListWatcher } from '../watch/list-watcher';
import { realScheduler, steadyScheduler, type Scheduler } from '../watch/scheduler';
import { ConfigError, type Config } from './config';
import { clientErrorFormatter } from './errors';
import proxyAddr from '@fastify/proxy-addr';
import { ClientLimits, type Caller } from './client-limits';
import type { RefusedStarts } from './refused-starts';
import { shareConnections } from './connection-share';
import { limitRules, limitsPlugin, type SchemaPosture } from './limits';
import { OperationGate } from './operations';
import { createSseHandler } from './sse';
import { TrustedDocuments } from './trusted-documents';
import { UpstreamCost } from './upstream-cost';
import { createHttpLayer, createMetricsListener } from './http';
import { createMetrics, type GatewayMetrics } from './metrics';
import { OriginGuard } from './origins';
import { responseCache } from './response-cache';
import { buildGatewaySchema } from './schema';
import { serveWebSockets } from './websocket';

export interface GatewayOptions {
  logger?: Logger;
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
}

/** How often a gateway started without AWS access looks again for a region and credentials. */
const AWS_RECHECK_MS = 30_000;

/**
 * Resolves the SDK's region and credentials once, and says the region.
 * Missing, it is a refusal to start, naming what is missing; with
 * ER_START_WITHOUT_AWS the gateway starts, logs it, reports not ready, and
 * looks again until they resolve.
 */
async function checkAwsAccess(
  clients: UpstreamClients,
  config: Config,
  logger: Logger,
  scheduler: Scheduler,
): Promise<{ region?: string; refusal?: string; ready(): boolean; stop(): void }> {
  const { region, missing } = await resolveAwsAccess(clients.reads);
  if (missing.length === 0) return { region, ready: () => true, stop: () => undefined };
  const problem = `ER_BACKEND=aws needs ${missing.join('; and ')}.`;
  if (!config.startWithoutAws) return { refusal: `${problem} (ER_START_WITHOUT_AWS=true starts anyway, not ready.)`, ready: () => false, stop: () => undefined };
  logger.error({ missing }, `AWS: ${problem} Starting anyway (ER_START_WITHOUT_AWS): /readyz is 503 and clients get GATEWAY_MISCONFIGURED until it is fixed.`);
  let ready = false;
  let cancel: (() => void) | undefined;
  const again = () => {
    cancel = scheduler.after(AWS_RECHECK_MS, () =>
      resolveAwsAccess(clients.reads).then((still) => {
        if (still.missing.length === 0) {
          ready = true;
          logger.info('AWS: a region and credentials resolve now; ready');
        } else again();
      }),
    );
  };
  again();
  return { region, ready: () => ready, stop: () => cancel?.() };
}

/** A port the gateway could not listen on, said in one line that names the setting to change. */
export class ListenError extends Error {}

/** Runs `listen`, turning the errors a person can fix into a ListenError naming the setting to change. */
async function listening(listen: () => Promise<unknown>, setting: { port: string; host: string }, host: string, port: number): Promise<void> {
  try {
    await listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ListenError(`port ${port} on ${host} is in use by another process: stop it, or set ${setting.port} to a free port.`);
    if (code === 'EACCES') throw new ListenError(`port ${port} on ${host} may not be opened by this user: set ${setting.port} to a port above 1023.`);
    if (code === 'EADDRNOTAVAIL') throw new ListenError(`${host} is not an address of this machine: set ${setting.host} to one of its addresses.`);
    throw err;
  }
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
   * Stops taking connections, closes websockets (1001) and lets HTTP requests
   * finish for `shutdownDrainMs`; then whatever still waits for the service is
   * answered with UPSTREAM_UNAVAILABLE (reason `shutdown`) instead of being
   * cut. Then it stops pollers, the SDK clients and the embedded emulator.
   */
  close(): Promise<void>;
}

/** After the drain deadline, how long the answers of cut-short requests have to be written before connections are closed. */
const ANSWER_GRACE_MS = 2000;

const CLIENT_REFUSALS = new Set(['ResourceNotFoundException', 'ValidationException', 'ConflictException']);

/** Starts the gateway and, with ER_BACKEND=emulator, the emulator it talks to. */
export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  const scheduler = options.scheduler ?? realScheduler;
  const timers = options.timers ?? steadyScheduler;
  const { authenticator, policy } = await loadAuth(config.auth, scheduler.now, logger);
  // Files a setting names are read before anything starts: a bad one stops start-up with nothing to clean up.
  const manifest = config.trustedDocuments ? await TrustedDocuments.load(config.trustedDocuments) : undefined;
  // The dashboard the gateway serves runs on it whatever the manifest names.
  const trusted = manifest && config.dashboard ? manifest.including(DASHBOARD_DOCUMENTS) : manifest;
  const audit = (entry: AuditEntry) => logger.info({ audit: true, ...entry }, `audit: ${entry.action} ${entry.workflow} ${entry.outcome}`);
  const emulator =
    config.backend === 'emulator' ? await startEmulator({ concurrency: config.emulatorConcurrency, concurrencyError: config.emulatorConcurrencyError, ...options.emulator, jobSeconds: config.emulatorJobSeconds }) : undefined;
  const metrics = createMetrics({ processMetrics: options.processMetrics ?? true });
  // Several replicas share Redis; without it everything stays in this process.
  const redis = config.redisUrl ? await connectRedis({ url: config.redisUrl, prefix: config.redisPrefix, logger, commandTimeoutMs: config.redisCommandTimeoutMs }) : undefined;
  // One cursor key per deployment: the setting's, else the one replicas agree on in Redis, else this process's.
  const cursorKeys = config.cursorKey
    ? { ring: new CursorKeyRing(config.cursorKey), dispose: () => {} }
    : redis
      ? await sharedCursorKeys(redis, logger)
      : { ring: new CursorKeyRing(CursorKeyRing.randomKey()), dispose: () => {} };
  const cursors = new Cursors(cursorKeys.ring);
  const deadlines = new Deadlines(config.requestDeadlineMs, timers);
  const governor =
    config.ratePerSecond > 0
      ? new RateGovernor({
          ratePerSecond: config.ratePerSecond,
          burst: config.rateBurst,
          maxWaitMs: config.rateMaxWaitMs,
          pollShare: config.pollShare,
          scheduler: timers,
          // With replicas the budget is the account's, in Redis: N replicas together keep to the rate.
          sharedBudget: redis ? sharedBudgets(redis, config.ratePerSecond, config.rateBurst) : undefined,
          observer: {
            waited: (operation, ms) => metrics.rateWait.observe({ operation }, ms / 1000),
            refused: (operation) => metrics.rateRefusals.inc({ operation }),
          },
        })
      : undefined;
  const clients = createUpstreamClients({
    ...(emulator
      ? { endpoint: emulator.url, region: emulator.state.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : { endpoint: config.endpoint, region: config.region }),
    requestTimeoutMs: config.upstreamTimeoutMs,
    governor,
  });
  // Against AWS: a missing region or credentials stops start-up with its name (or, asked to start anyway, keeps /readyz at 503).
  const awsAccess = emulator ? undefined : await checkAwsAccess(clients, config, logger, scheduler);
  if (awsAccess?.refusal) {
    cursorKeys.dispose();
    clients.destroy();
    await redis?.close();
    throw new ConfigError(awsAccess.refusal);
  }
  const jobs = new JobStore(clients, {
    finalJobs: config.finalJobCacheSize,
    freshnessMs: config.freshnessMs,
    now: options.now,
    observeRead: (result) => metrics.jobReads.inc({ result }),
    finalStore: redis && config.finalJobCacheSize > 0 ? new RedisFinalJobStore(redis, config.finalJobTtlSeconds) : undefined,
    startTimeoutMs: config.startTimeoutMs,
    observe: (operation, outcome, error) => {
      metrics.upstreamRequests.inc({ operation, outcome });
      // Refusals (a missing job, bad input) are the client's business; service trouble is the operator's.
      if (error) logger[CLIENT_REFUSALS.has(outcome) ? 'debug' : 'warn']({ operation, outcome, err: error }, 'upstream call failed');
    },
  });
  const idempotency = options.idempotencyStore ?? (redis ? new RedisIdempotencyStore(redis) : new MemoryIdempotencyStore({ maxKeys: config.idempotencyMaxKeys }));
  const starter = new JobStarter(jobs, idempotency, {
    clockSkewMs: config.startClockSkewMs,
    startTimeoutMs: config.startTimeoutMs,
  });
  // With replicas, job events travel on Redis and one replica polls each job.
  const jobEvents = redis ? new ClusterJobEvents(redis) : undefined;
  const watcher = new JobWatcher(jobs, {
    events: jobEvents,
    coordinator: redis ? new RedisWatchCoordinator(redis, randomUUID(), Math.ceil(config.pollIntervalMs * 1.5)) : undefined,
    intervalMs: config.pollIntervalMs,
    backoffCapMs: config.pollBackoffCapMs,
    failureLimitMs: config.pollFailureLimitMs,
    subscriberQueue: config.subscriberQueue,
    scheduler,
    observer: {
      subscriptions: (delta) => metrics.activeSubscriptions.inc(delta),
      watchedJobs: (delta) => metrics.watchedJobs.inc(delta),
      poll: (outcome) => metrics.polls.inc({ outcome }),
      skipped: () => metrics.skippedEvents.inc(),
      stale: (stale) => metrics.staleJobs.inc(stale ? 1 : -1),
    },
  });
  const lists = new ListWatcher(jobs, {
    intervalMs: config.pollIntervalMs,
    subscriberQueue: config.subscriberQueue,
    scheduler,
    onPoll: (outcome) => metrics.listPolls.inc({ outcome }),
  });
  const listMaxAgeSeconds = Math.floor(config.freshnessMs / 1000);
  const home = emulator
    ? { region: emulator.state.region, accountId: emulator.state.accountId }
    : { region: awsAccess?.region ?? '', accountId: config.accountId };
  // Once answers depend on who asks, no shared cache may hand one principal's answer to another.
  const cacheScope = authenticator.required ? 'PRIVATE' : 'PUBLIC';
  const context = (deadline: RequestDeadline, { principal, client }: Caller, subscriber?: GatewayContext['subscriber']): GatewayContext => {
    const access = new Access(principal, policy, audit);
    const scoped = jobs.forRequest(deadline, access, client);
    return {
      deadline,
      access,
      home,
      jobs: scoped,
      loaders: createLoaders(scoped),
      cursors,
      starter: starter.forRequest(scoped, principal.id),
      watcher,
      lists,
      finalMaxAgeSeconds: config.finalMaxAgeSeconds,
      listMaxAgeSeconds,
      cacheScope,
      client,
      subscriber,
    };
  };
  /** The starts of a mutation refused as a whole (on any transport), each audited as a refused start of its caller. */
  const refusedStarts = ({ principal }: Caller, ...[workflows, reason, limit]: Parameters<RefusedStarts>) => {
    const access = new Access(principal, policy, audit);
    for (const workflow of workflows) access.refusedStart(workflow, reason, limit ? { limit } : {});
  };
  const trustProxy = trustedProxies(config.trustProxy);
  const origins = new OriginGuard({ allowedOrigins: config.allowedOrigins, allowedHosts: config.allowedHosts });

  const schema = await buildGatewaySchema();
  const posture: SchemaPosture = { introspection: config.introspection, routerSecret: config.routerSecret, inlineTracing: config.inlineTracing };
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
    { streamsPerClient: config.streamsPerClient, subscriptionsPerSocket: config.wsSubscriptionsPerSocket, jobsPerClient: config.watchedJobsPerClient },
    refused,
  );
  const maxConnections = config.maxConnections ?? defaultMaxConnections();
  const http = createHttpLayer({
    context,
    authenticator,
    origins,
    deadlines,
    logger,
    backend: config.backend,
    readiness: async (): Promise<Record<string, boolean>> => ({ ...(redis ? { redis: await redis.check() } : {}), ...(awsAccess ? { aws: awsAccess.ready() } : {}) }),
    trustProxy,
    bodyLimit: config.bodyLimitBytes,
    timeouts: { headersMs: config.httpHeadersTimeoutMs, requestMs: config.httpRequestTimeoutMs, keepAliveMs: config.httpKeepAliveTimeoutMs },
    maxConnections,
    trusted,
    dashboard: config.dashboard,
    landingPage: config.nodeEnv === 'production',
    onAuthFailure: (reason) => metrics.authFailures.inc({ reason, transport: 'http' }),
  });
  const httpServer = http.app.server;
  const connectionShare = shareConnections(httpServer, {
    perAddress: config.maxConnectionsPerAddress ?? Math.ceil(maxConnections / CONNECTION_SHARE_DIVISOR),
    // A trusted proxy's connections carry many clients: they are held to their stream budgets by forwarded address or principal instead.
    exempt: trustProxy && ((address) => trustProxy(address, 0)),
    logger,
    refused: () => refused('connectionsPerAddress'),
  });
  const webSockets = serveWebSockets({
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
    limits,
    addressOf: (request) => (trustProxy ? proxyAddr(request, trustProxy) : (request.socket.remoteAddress ?? 'unknown')),
    maxPayloadBytes: config.bodyLimitBytes,
    messagesPerSecond: config.wsMessagesPerSecond,
  });
  const apollo = new ApolloServer<GatewayContext>({
    schema,
    validationRules,
    logger,
    formatError: clientErrorFormatter(logger, { hideSuggestions: !config.introspection }),
    includeStacktraceInErrorResponses: false,
    // Introspection is refused by the validation rules, on HTTP and websockets alike.
    introspection: true,
    // Signals are main.ts's: Apollo's own handler would stop the server and re-raise the signal before our cleanup ran.
    stopOnTerminationSignals: false,
    plugins: [
      // Past the drain deadline, waits still open are cut (see close) and answered; the connections close once they are.
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownDrainMs + ANSWER_GRACE_MS }),
      limitsPlugin<GatewayContext>(cost, posture, variablesLimits, (ctx, ...refused) => refusedStarts({ principal: ctx.access.principal, client: ctx.client }, ...refused)),
      retryAfterPlugin<GatewayContext>(),
      config.inlineTracing ? ApolloServerPluginInlineTrace() : ApolloServerPluginInlineTraceDisabled(),
      // In production the HTTP layer serves our own page; Apollo's would load its script from Apollo's CDN.
      ...(config.nodeEnv === 'production' ? [ApolloServerPluginLandingPageDisabled()] : []),
      ...(config.responseCacheMb > 0
        ? [
            responseCache<GatewayContext>({
              megabytes: config.responseCacheMb,
              now: options.now,
              sessionId: authenticator.required ? (ctx) => grantsKey(ctx.access.principal) : undefined,
            }),
          ]
        : []),
      // Websockets close (1001) while HTTP requests drain: Apollo runs the drain hooks together.
      { serverWillStart: async () => ({ drainServer: async () => void (await webSockets.dispose()) }) },
    ],
  });
  /** Stops what runs beside the servers: pollers, SDK clients, the shared store, the embedded emulator. */
  async function stopParts(): Promise<void> {
    awsAccess?.stop();
    connectionShare.dispose();
    cursorKeys.dispose();
    watcher.close();
    lists.close();
    clients.destroy();
    jobEvents?.close();
    await redis?.close();
    await emulator?.close();
  }
  await apollo.start();
  http.serveGraphQL(apollo, createSseHandler({ schema, gate, posture, context, limits, streamsPerClient: config.streamsPerClient, refusedStarts, deadlines, logger }));
  const metricsListener = createMetricsListener(metrics, logger);
  try {
    await listening(() => http.app.listen({ port: config.port, host: config.host }), { port: 'PORT', host: 'HOST' }, config.host, config.port);
    await listening(() => metricsListener.listen({ port: config.metricsPort, host: config.metricsHost }), { port: 'ER_METRICS_PORT', host: 'ER_METRICS_HOST' }, config.metricsHost, config.metricsPort);
  } catch (err) {
    // A port could not be had (the service port may be up already): close everything started, so the caller's error is the only thing left.
    await apollo.stop();
    await stopParts();
    throw err;
  }

  return {
    url: urlOf(httpServer.address() as AddressInfo),
    metricsUrl: urlOf(metricsListener.server.address() as AddressInfo),
    logger,
    metrics,
    emulator,
    watcher,
    async close() {
      const cut = setTimeout(() => {
        logger.info({ drainMs: config.shutdownDrainMs }, 'drain deadline reached: answering requests still waiting for the service');
        deadlines.abortAll('shutdown');
      }, config.shutdownDrainMs);
      try {
        await apollo.stop();
      } finally {
        clearTimeout(cut);
      }
      await metricsListener.close();
      await stopParts();
    },
  };
}

/** Without ER_MAX_CONNECTIONS_PER_ADDRESS, one address may hold this fraction of the connection cap: ten addresses at least to fill it. */
const CONNECTION_SHARE_DIVISOR = 10;

/** Files the process keeps beside its connections: its own, the SDK's sockets to the service, the emulator's. */
const RESERVED_DESCRIPTORS = 128;

/**
 * 10000 connections, or fewer when the process's file descriptor limit is
 * lower (read from /proc on Linux): past the limit, accept() fails and
 * everything stops, /healthz included.
 */
function defaultMaxConnections(): number {
  let limit = Infinity;
  try {
    const soft = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (soft) limit = Number(soft) - RESERVED_DESCRIPTORS;
  } catch {
    // Not Linux: the operator sets ER_MAX_CONNECTIONS.
  }
  return Math.max(1, Math.min(10_000, limit));
}

function urlOf({ address, port }: AddressInfo): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** The proxies whose X-Forwarded-For is believed: the nearest `hops`, or those at the listed addresses. */
function trustedProxies(setting: number | string[] | undefined): ((address: string, hop: number) => boolean) | undefined {
  if (setting === undefined) return undefined;
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return proxyAddr.compile(setting);
}
