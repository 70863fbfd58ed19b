import { untracedRedis, type RedisSpan } from '../observe/redis-spans';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { describeTopology, parseRedisUrl, type RedisTopology } from './redis-url';

/** A connection to one server (standalone, or the primary Sentinel names) or to a whole cluster. */
export type RedisClient = Redis | Cluster;

/** The Redis connection replicas share, and whether it is up. */
export interface SharedRedis {
  /** Commands fail at once while Redis is unreachable (no offline queue): callers fall back or refuse, they never hang. */
  readonly client: RedisClient;
  /** How Redis is run: one server, a primary Sentinel follows, or a cluster. */
  readonly kind: RedisTopology['kind'];
  /** Runs a command made for a traced operation or poll in a client span of its own (see observe/redis-spans.ts); with tracing off, just the command. */
  readonly span: RedisSpan;
  /** The key prefix every shared part writes under, e.g. `er-gateway:`. */
  readonly prefix: string;
  /** How long a command may wait for its answer, in ms; also how long a close waits for Redis to see the connection go. */
  readonly commandTimeoutMs: number;
  /**
   * Whether Redis answers now: connected, and its last ping answered within
   * the command timeout. Shared parts skip Redis while it is false.
   */
  ready(): boolean;
  /** Pings Redis now (within the command timeout) and says whether it answered: `/readyz` asks it. */
  check(): Promise<boolean>;
  /** Stops probing and closes the connection; resolves once it is closed (see closeConnection). */
  close(): Promise<void>;
  /**
   * A second connection to the same Redis, for subscriber mode: it queues
   * commands while reconnecting and resubscribes by itself after a reconnect
   * or failover. The caller closes it (closeConnection).
   */
  subscriber(): RedisClient;
}

export interface SharedRedisOptions {
  /** `ER_REDIS_URL`: `redis://`, `rediss://`, `redis+sentinel://` or `redis+cluster://` (see parseRedisUrl). */
  url: string;
  prefix: string;
  logger: Logger;
  /** How long start-up waits for a first connection before going on without it. @default 2000 */
  connectWaitMs?: number;
  /** How long any command may wait for Redis's answer before it fails (ioredis's `commandTimeout`). @default 1000 */
  commandTimeoutMs?: number;
  /** How often Redis is pinged while connected, to notice one that hangs without closing its connection. @default 1000 */
  probeIntervalMs?: number;
}

/**
 * Connects to Redis for the shared mode: one server, the primary Sentinel
 * names (asking the sentinels again after a failover, and told of one at
 * once by their `+switch-master`), or a cluster (following slot moves and
 * promotions by MOVED answers and a slot refresh). Reconnects on its own, backing off
 * to 2 s; an outage (no primary answering) is logged once when it begins and once when it ends, not
 * per command. Start-up waits briefly for the first connection and goes on
 * without it: the gateway serves from the service meanwhile, and `/readyz`
 * says it is not ready.
 *
 * A Redis that hangs (stopped, or cut off without a reset) keeps its
 * connection open, so being connected is not enough: every command fails
 * after the command timeout, and a ping every `probeIntervalMs` marks Redis
 * not answering until one is answered again, so shared parts stop waiting on
 * it (one log line when it stops answering, one when it answers again).
 */
export async function connectRedis(options: SharedRedisOptions): Promise<SharedRedis> {
  const { logger } = options;
  const commandTimeoutMs = options.commandTimeoutMs ?? 1000;
  const topology = parseRedisUrl(options.url);
  const client = createClient(topology, options.prefix, commandTimeoutMs);
  let down = false;
  let closing = false;
  /** The last probe (a ping; on a cluster, CLUSTER INFO saying every slot is served) failed within the timeout while connected. */
  let hung = false;
  const lost = (err?: Error) => {
    if (down || closing) return;
    down = true;
    logger.warn(
      { err: err && { message: err.message, code: (err as { code?: string }).code }, redis: describeTopology(topology) },
      'redis unreachable: shared features fall back until it is back',
    );
  };
  // A connection that fails to open says so with an error; one that was open and closed, only with a close.
  client.on('error', lost);
  client.on('close', () => lost());
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info('redis reachable again');
  });
  let probing: Promise<boolean> | undefined;
  const check = (): Promise<boolean> => {
    if (client.status !== 'ready') return Promise.resolve(false);
    probing ??= answers(client).then((answered) => {
      probing = undefined;
      if (closing || hung === !answered) return answered;
      hung = !answered;
      if (hung)
        logger.warn(
          { commandTimeoutMs, redis: describeTopology(topology) },
          'redis not answering: shared features fall back until it answers',
        );
      else logger.info('redis answering again');
      return answered;
    });
    return probing;
  };
  const probe = setInterval(() => void check(), options.probeIntervalMs ?? 1000);
  probe.unref();
  await firstOf(client, ['ready', 'error'], options.connectWaitMs ?? 2000);
  return {
    client,
    kind: topology.kind,
    span: untracedRedis,
    prefix: options.prefix,
    commandTimeoutMs,
    ready: () => client.status === 'ready' && !hung,
    check,
    close: async () => {
      closing = true;
      clearInterval(probe);
      await closeConnection(client, commandTimeoutMs);
    },
    subscriber: () => {
      const subscriber =
        client instanceof Cluster
          ? client.duplicate(undefined, { enableOfflineQueue: true })
          : client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
      subscriber.on('error', () => {}); // the shared connection logs the outage
      return subscriber;
    },
  };
}

/** Whether Redis takes commands now: a ping answered, and for a cluster every slot served (`cluster_state:ok`). */
function answers(client: RedisClient): Promise<boolean> {
  const asked =
    client instanceof Cluster ? client.cluster('INFO').then((info) => /^cluster_state:ok\b/m.test(info)) : client.ping().then(() => true);
  return asked.catch(() => false);
}

/**
 * The shared connection for `topology`: no offline queue and no retries of
 * a command (callers fall back or refuse at once), every command bounded by
 * the timeout, reconnects backing off to 2 s.
 */
function createClient(topology: RedisTopology, keyPrefix: string, commandTimeoutMs: number): RedisClient {
  const node: RedisOptions = {
    connectTimeout: 2000,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 0,
    // A primary demoted under a managed endpoint (its DNS name moved to the promoted replica) refuses writes with READONLY: connecting again reaches the new one.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  const retryStrategy = (attempt: number) => Math.min(100 * 2 ** attempt, 2000);
  if (topology.kind === 'standalone') return new Redis(topology.url, { ...node, keyPrefix, enableOfflineQueue: false, retryStrategy });
  const { username, password, tls } = topology;
  const credentials = { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
  if (topology.kind === 'sentinel') {
    return new Redis({
      ...node,
      ...credentials,
      keyPrefix,
      enableOfflineQueue: false,
      retryStrategy,
      sentinels: topology.sentinels,
      name: topology.name,
      db: topology.db,
      sentinelUsername: topology.sentinelUsername,
      sentinelPassword: topology.sentinelPassword,
      // Subscribed to the sentinels' +switch-master: a failover is followed when it is announced, not at the next failed command.
      failoverDetector: true,
      ...(tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    });
  }
  const options: ClusterOptions = {
    keyPrefix,
    enableOfflineQueue: false,
    clusterRetryStrategy: retryStrategy,
    slotsRefreshTimeout: Math.max(1000, commandTimeoutMs),
    redisOptions: { ...node, ...credentials, ...(tls ? { tls: {} } : {}) },
    // Managed clusters with TLS answer with names their certificates carry: they are kept, not resolved to addresses.
    ...(tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
  };
  return new Cluster(topology.nodes, options);
}

/** Resolves at the first of `events` on `client`, or after `ms`. */
function firstOf(client: RedisClient, events: string[], ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const event of events) client.off(event, done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const event of events) client.once(event, done);
  });
}

/**
 * Closes `client` for good and resolves once its connection is closed: Redis
 * has answered the close with its own, so it no longer counts the client. A
 * Redis that does not answer (a hung one) gets `waitMs` at each step, then
 * the socket is cut. A client between connections (Redis gone) has nothing
 * open to wait for.
 */
export async function closeConnection(client: RedisClient, waitMs: number): Promise<void> {
  // Cut in the middle of its handshake, ioredis fails its ready check, closes the socket again and leaves a timer of its own running (2 s): the handshake ends first.
  if (client.status === 'connecting' || client.status === 'connect') await firstOf(client, ['ready', 'close', 'end'], waitMs);
  if (client.status === 'end' || client.status === 'close' || client.status === 'reconnecting') {
    client.disconnect();
    return;
  }
  const ended = firstOf(client, ['end'], waitMs);
  client.disconnect();
  await ended;
  // Still open past the wait: a Redis that never answered the close.
  if ((client.status as string) !== 'end' && client instanceof Redis) client.stream?.destroy();
}

/**
 * A Lua script of one key as a command of the shared connection (ioredis's
 * `defineCommand`: EVALSHA, the key prefixed), defined once per connection.
 * One key only: a script's keys are then in one slot by construction, so it
 * runs on a Redis Cluster as on one server, wherever the slot lives.
 */
export function redisScript<F extends (key: string, ...args: never[]) => Promise<unknown>>(
  redis: SharedRedis,
  name: string,
  lua: string,
): F {
  const client = redis.client as unknown as Record<string, F | undefined> & RedisClient;
  if (!client[name]) client.defineCommand(name, { numberOfKeys: 1, lua });
  return client[name]!.bind(client) as F;
}
