import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** The Redis connection replicas share, and whether it is up. */
export interface SharedRedis {
  /** Commands fail at once while Redis is unreachable (no offline queue): callers fall back or refuse, they never hang. */
  readonly client: Redis;
  /** The key prefix every shared part writes under, e.g. `er-gateway:`. */
  readonly prefix: string;
  /** Whether Redis answers now: `/readyz` reports it. */
  ready(): boolean;
  close(): Promise<void>;
}

export interface SharedRedisOptions {
  url: string;
  prefix: string;
  logger: Logger;
  /** How long start-up waits for a first connection before going on without it. @default 2000 */
  connectWaitMs?: number;
}

/**
 * Connects to Redis for the shared mode. Reconnects on its own, backing off
 * to 2 s; an outage is logged once when it begins and once when it ends, not
 * per command. Start-up waits briefly for the first connection and goes on
 * without it: the gateway serves from the service meanwhile, and `/readyz`
 * says it is not ready.
 */
export async function connectRedis(options: SharedRedisOptions): Promise<SharedRedis> {
  const { logger } = options;
  const client = new Redis(options.url, {
    keyPrefix: options.prefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000),
  });
  let down = false;
  let closing = false;
  const lost = (err?: Error) => {
    if (down || closing) return;
    down = true;
    logger.warn({ err: err && { message: err.message, code: (err as { code?: string }).code } }, 'redis unreachable: shared features fall back until it is back');
  };
  // A connection that fails to open says so with an error; one that was open and closed, only with a close.
  client.on('error', lost);
  client.on('close', () => lost());
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info('redis reachable again');
  });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, options.connectWaitMs ?? 2000);
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      client.off('error', done);
      resolve();
    };
    client.once('ready', done);
    client.once('error', done);
  });
  return {
    client,
    prefix: options.prefix,
    ready: () => client.status === 'ready',
    close: async () => {
      closing = true;
      client.disconnect();
    },
  };
}

/**
 * A Lua script of one key as a command of the shared connection (ioredis's
 * `defineCommand`: EVALSHA, the key prefixed), defined once per connection.
 */
export function redisScript<F extends (key: string, ...args: never[]) => Promise<unknown>>(redis: SharedRedis, name: string, lua: string): F {
  const client = redis.client as unknown as Record<string, F | undefined> & Redis;
  if (!client[name]) client.defineCommand(name, { numberOfKeys: 1, lua });
  return client[name]!.bind(client) as F;
}
