import type { Logger } from 'pino';
import { CURSOR_KEY_BYTES, CursorKeyRing } from '../resolvers/cursors';
import type { SharedRedis } from './redis';

/** Where the deployment's cursor key lives, under the prefix. */
const KEY = 'cursor-key';

/**
 * The deployment's cursor key, agreed through Redis (`<prefix>cursor-key`):
 * the first replica to start writes a random one (SET NX), every replica
 * then reads the one there, so all seal and open alike. It has no expiry,
 * so cursors outlive restarts. Resolved undefined when Redis cannot be
 * reached or holds no key of 32 bytes.
 */
async function agree(redis: SharedRedis, candidate: Buffer): Promise<Buffer | undefined> {
  if (!redis.ready()) return undefined;
  try {
    await redis.client.set(KEY, candidate.toString('base64'), 'NX');
    const stored = await redis.client.get(KEY);
    const key = stored === null ? undefined : Buffer.from(stored, 'base64');
    return key?.length === CURSOR_KEY_BYTES ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A key ring on the deployment's shared key. Redis unreachable at start:
 * the ring seals with a key of this process's (other replicas refuse those
 * cursors) and adopts the shared one as soon as Redis answers, still
 * opening the cursors it sealed before. Returns the ring and the means to
 * stop waiting for Redis.
 */
export async function sharedCursorKeys(redis: SharedRedis, logger: Logger): Promise<{ ring: CursorKeyRing; dispose(): void }> {
  const own = CursorKeyRing.randomKey();
  const shared = await agree(redis, own);
  const ring = new CursorKeyRing(shared ?? own);
  if (shared) return { ring, dispose: () => {} };
  logger.warn(
    'cursors: redis unreachable at start, so cursors are sealed with a key of this replica until it is back (ER_CURSOR_KEY sets one for all)',
  );
  const onReady = () => {
    void agree(redis, own).then((key) => {
      if (!key) return;
      ring.adopt(key);
      redis.client.off('ready', onReady);
      logger.info("cursors: the deployment's shared key is in use");
    });
  };
  redis.client.on('ready', onReady);
  return { ring, dispose: () => void redis.client.off('ready', onReady) };
}
