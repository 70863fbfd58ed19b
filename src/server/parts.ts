import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { sharedCursorKeys } from '../cluster/cursor-key';
import { ClusterJobEvents } from '../cluster/job-events';
import { RedisWatchCoordinator } from '../cluster/leases';
import { sharedBudgets } from '../cluster/rate-budget';
import { connectRedis, type SharedRedis } from '../cluster/redis';
import { startEmulator, type Emulator, type EmulatorOptions } from '../emulator/http';
import { CursorKeyRing } from '../resolvers/cursors';
import { createUpstreamClients, type UpstreamClients } from '../upstream/client';
import type { JobStore } from '../upstream/job-store';
import { RateGovernor } from '../upstream/rate-governor';
import { JobWatcher } from '../watch/job-watcher';
import { ListWatcher } from '../watch/list-watcher';
import type { Scheduler } from '../watch/scheduler';
import type { Config } from './config';
import type { GatewayMetrics } from '../observe/metrics';
import { redisSpans } from '../observe/redis-spans';
import type { Tracing } from '../observe/tracing';
import { observeUpstreamCalls } from '../observe/upstream-calls';
import type { Disposable } from './stack';

/**
 * The parts of the gateway that run beside its transports, each started by
 * a function that hands back the part and its dispose, for the gateway's
 * stack (see app.ts). Nothing here decides the order: the stack does.
 */

/** With ER_BACKEND=emulator: the emulator the gateway talks to, on a loopback port of its own. */
export async function startEmbeddedEmulator(
  config: Config,
  options: Omit<EmulatorOptions, 'port' | 'host' | 'jobSeconds'> = {},
): Promise<{ emulator: Emulator } & Disposable> {
  const emulator = await startEmulator({
    concurrency: config.emulatorConcurrency,
    concurrencyError: config.emulatorConcurrencyError,
    ...options,
    jobSeconds: config.emulatorJobSeconds,
  });
  return { emulator, dispose: () => emulator.close() };
}

/** With ER_REDIS_URL: the connection replicas share. */
export async function startSharedRedis(
  config: Config & { redisUrl: string },
  logger: Logger,
  tracing: Tracing | undefined,
): Promise<{ redis: SharedRedis } & Disposable> {
  const connected = await connectRedis({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    logger,
    commandTimeoutMs: config.redisCommandTimeoutMs,
  });
  // Commands made for a traced operation or poll get spans of their own.
  const redis = tracing ? { ...connected, span: redisSpans(tracing, connected.client) } : connected;
  return { redis, dispose: () => redis.close() };
}

/** One cursor key per deployment: the setting's, else the one replicas agree on in Redis, else this process's. */
export async function startCursorKeys(
  config: Config,
  redis: SharedRedis | undefined,
  logger: Logger,
): Promise<{ ring: CursorKeyRing } & Disposable> {
  if (config.cursorKey) return { ring: new CursorKeyRing(config.cursorKey), dispose: () => {} };
  if (redis) return sharedCursorKeys(redis, logger);
  return { ring: new CursorKeyRing(CursorKeyRing.randomKey()), dispose: () => {} };
}

/**
 * The SDK clients, against the embedded emulator or AWS, paced by the rate governor when ER_RATE_PER_SECOND is set (on `timers`: its
 * waits and its clock); every call timed on /metrics, and with `tracing` a span.
 */
export function startUpstreamClients(
  config: Config,
  emulator: Emulator | undefined,
  redis: SharedRedis | undefined,
  metrics: GatewayMetrics,
  timers: Scheduler,
  tracing: Tracing | undefined,
): { clients: UpstreamClients } & Disposable {
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
  for (const client of [clients.reads, clients.starts]) {
    observeUpstreamCalls(client, { metrics, tracing, governed: governor !== undefined });
  }
  return { clients, dispose: () => clients.destroy() };
}

/** With replicas: job events on Redis pub/sub, on a connection of their own. */
export function startClusterJobEvents(redis: SharedRedis): { events: ClusterJobEvents } & Disposable {
  const events = new ClusterJobEvents(redis);
  return { events, dispose: () => events.close() };
}

/** The JobWatcher: one poll loop per watched job (with replicas, on the replica that holds its lease). */
export function startJobWatcher(
  config: Config,
  jobs: JobStore,
  shared: { redis: SharedRedis; events: ClusterJobEvents } | undefined,
  scheduler: Scheduler,
  metrics: GatewayMetrics,
  tracing: Tracing | undefined,
): { watcher: JobWatcher } & Disposable {
  const watcher = new JobWatcher(jobs, {
    events: shared?.events,
    coordinator: shared ? new RedisWatchCoordinator(shared.redis, randomUUID(), Math.ceil(config.pollIntervalMs * 1.5)) : undefined,
    intervalMs: config.pollIntervalMs,
    backoffCapMs: config.pollBackoffCapMs,
    failureLimitMs: config.pollFailureLimitMs,
    subscriberQueue: config.subscriberQueue,
    scheduler,
    tracing,
    observer: {
      delivered: () => metrics.subscriptionEvents.inc(),
      polled: (ageMs) => metrics.pollAge.observe(ageMs / 1000),
      subscriptions: (delta) => metrics.activeSubscriptions.inc(delta),
      watchedJobs: (delta) => metrics.watchedJobs.inc(delta),
      poll: (outcome) => metrics.polls.inc({ outcome }),
      skipped: () => metrics.skippedEvents.inc(),
      stale: (stale) => metrics.staleJobs.inc(stale ? 1 : -1),
    },
  });
  metrics.reportPollAge(() => watcher.oldestStateMs() / 1000);
  return { watcher, dispose: () => watcher.close() };
}

/** The ListWatcher: one List poll per live list, in this process. */
export function startListWatcher(
  config: Config,
  jobs: JobStore,
  scheduler: Scheduler,
  metrics: GatewayMetrics,
): { lists: ListWatcher } & Disposable {
  const lists = new ListWatcher(jobs, {
    intervalMs: config.pollIntervalMs,
    subscriberQueue: config.subscriberQueue,
    scheduler,
    onPoll: (outcome) => metrics.listPolls.inc({ outcome }),
  });
  return { lists, dispose: () => lists.close() };
}
