import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { gatewayError } from '../upstream/errors';
import { IDEMPOTENCY_TTL_MS, type IdempotencyRecord, type IdempotencyStore, type Reservation, type UnknownRecord } from '../upstream/idempotency';
import { redisScript, type SharedRedis } from './redis';

/**
 * Claims a key in one step: free → pending (with the TTL), unknown with the
 * same fingerprint → pending again (the TTL kept); anything else is left as
 * it is. Returns [claimed, the record as it stood].
 */
const RESERVE = `
local current = redis.call('GET', KEYS[1])
if current then
  local record = cjson.decode(current)
  if record.state == 'unknown' and record.fingerprint == ARGV[1] then
    local again = '{"state":"pending","fingerprint":' .. cjson.encode(ARGV[1]) .. ',"reservedAt":' .. string.format('%.0f', record.reservedAt) .. '}'
    redis.call('SET', KEYS[1], again, 'KEEPTTL')
    return {1, current}
  end
  return {0, current}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {1, ''}
`;

type ReserveCommand = (key: string, fingerprint: string, fresh: string, ttlMs: number) => Promise<[number, string]>;

/** The longest a retry waits for another replica's start under the same key before it asks again. */
const SETTLED_WAIT_MS = 30_000;

/**
 * Idempotency keys in Redis (`<prefix>idem:<key>`), shared by every replica:
 * `reserve` is one Lua script, so of any number of concurrent reservations on
 * any replicas at most one is claimed. Records live 24 hours from their
 * reservation. With Redis unreachable, `reserve` refuses with
 * UPSTREAM_UNAVAILABLE before anything is sent (a start without its key could
 * run twice); a `settle` that cannot be written leaves the key pending, so a
 * retry waits and is told to retry rather than start a second job.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  private readonly client: Redis;
  private readonly reserveScript: ReserveCommand;

  constructor(
    redis: SharedRedis,
    private readonly clock: () => number = Date.now,
  ) {
    this.client = redis.client;
    this.reserveScript = redisScript<ReserveCommand>(redis, 'erReserve', RESERVE);
  }

  async reserve(key: string, fingerprint: string): Promise<Reservation> {
    const reservedAt = this.clock();
    const fresh = JSON.stringify({ state: 'pending', fingerprint, reservedAt } satisfies IdempotencyRecord);
    let answer: [number, string];
    try {
      answer = await this.reserveScript(this.redisKey(key), fingerprint, fresh, IDEMPOTENCY_TTL_MS);
    } catch {
      throw unreachable();
    }
    const [claimed, current] = answer;
    if (!claimed) return { claimed: false, record: JSON.parse(current) as IdempotencyRecord };
    if (current === '') return { claimed: true, reservedAt };
    const previous = JSON.parse(current) as UnknownRecord;
    return { claimed: true, reservedAt: previous.reservedAt, previous };
  }

  async settle(key: string, record: IdempotencyRecord): Promise<void> {
    const stamped = record.state === 'unknown' ? { lostAt: this.clock(), ...record } : record;
    const ttlMs = Math.max(1, record.reservedAt + IDEMPOTENCY_TTL_MS - this.clock());
    await this.client.set(this.redisKey(key), JSON.stringify(stamped), 'PX', ttlMs).catch(() => {});
  }

  async release(key: string): Promise<void> {
    await this.client.del(this.redisKey(key)).catch(() => {});
  }

  async settled(key: string): Promise<void> {
    const until = this.clock() + SETTLED_WAIT_MS;
    for (let wait = 25; this.clock() < until; wait = Math.min(500, wait * 2)) {
      const record = await this.get(key).catch(() => undefined);
      if (record?.state !== 'pending') return;
      await sleep(wait);
    }
  }

  private async get(key: string): Promise<IdempotencyRecord | undefined> {
    const stored = await this.client.get(this.redisKey(key));
    return stored === null ? undefined : (JSON.parse(stored) as IdempotencyRecord);
  }

  /** ioredis adds the prefix to command keys; the key itself is the principal's scope and the client's key. */
  private redisKey(key: string): string {
    return `idem:${key}`;
  }
}

function unreachable() {
  return gatewayError('UPSTREAM_UNAVAILABLE', "The gateway cannot reach its shared store (Redis), so the start was not sent; retry shortly.", { reason: 'store' });
}
