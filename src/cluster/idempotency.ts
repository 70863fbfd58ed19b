import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { gatewayError } from '../upstream/errors';
import {
  IDEMPOTENCY_TTL_MS,
  takeOver,
  type IdempotencyRecord,
  type IdempotencyStore,
  type Reservation,
  type ReserveTerms,
} from '../upstream/idempotency';
import { redisScript, type RedisClient, type SharedRedis } from './redis';

/**
 * Claims a key in one step, as `takeOver` says: free → pending (with the
 * TTL); unknown with the same fingerprint, or pending with the same
 * fingerprint whose `landBy` plus the allowance has passed → pending again
 * for this caller (the TTL kept); anything else is left as it is. Returns
 * [claimed, the record as it stood]. ARGV: fingerprint, now, lifetime ms,
 * skew ms, owner, TTL ms.
 */
const RESERVE = `
local fingerprint = ARGV[1]
local now = tonumber(ARGV[2])
local function pending(reservedAt)
  return '{"state":"pending","fingerprint":' .. cjson.encode(fingerprint) .. ',"reservedAt":' .. string.format('%.0f', reservedAt)
    .. ',"landBy":' .. string.format('%.0f', now + tonumber(ARGV[3])) .. ',"owner":' .. cjson.encode(ARGV[5]) .. '}'
end
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], pending(now), 'PX', ARGV[6])
  return {1, ''}
end
local record = cjson.decode(current)
if record.fingerprint == fingerprint then
  local gone = record.state == 'pending' and (tonumber(record.landBy) or tonumber(record.reservedAt)) + tonumber(ARGV[4]) <= now
  if record.state == 'unknown' or gone then
    redis.call('SET', KEYS[1], pending(tonumber(record.reservedAt)), 'KEEPTTL')
    return {1, current}
  end
end
return {0, current}
`;

type ReserveCommand = (
  key: string,
  fingerprint: string,
  now: number,
  lifetimeMs: number,
  skewMs: number,
  owner: string,
  ttlMs: number,
) => Promise<[number, string]>;

/**
 * Idempotency keys in Redis (`<prefix>idem:<key>`), shared by every replica:
 * `reserve` is one Lua script, so of any number of concurrent reservations on
 * any replicas at most one is claimed. Records live 24 hours from their
 * reservation. With Redis unreachable or not answering within its command
 * timeout, `reserve` refuses with UPSTREAM_UNAVAILABLE (`reason: store`)
 * before anything is sent (a start without its key could run twice); a
 * `settle` that cannot be written leaves the key pending, and a retry takes
 * it over once its owner's start can no longer land (see `takeOver`).
 * Under Sentinel a claim and a settled record are on a replica before the
 * start is sent and before it is answered (`replicated`), so a failover
 * keeps them, as long as a replica acknowledges within the wait: when none
 * does (down, or far behind), starts go on rather than stop, and a failover
 * in that window can lose the claim (a retry then meets only the service's
 * one-running-job rule). Times are the replicas' clocks (`clock`); the clock-skew allowance covers
 * their differences.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  private readonly client: RedisClient;
  private readonly reserveScript: ReserveCommand;

  /** This replica, named in the keys it holds pending. */
  private readonly owner = randomUUID();

  constructor(
    private readonly redis: SharedRedis,
    private readonly clock: () => number = Date.now,
  ) {
    this.client = redis.client;
    this.reserveScript = redisScript<ReserveCommand>(redis, 'erReserve', RESERVE);
  }

  now(): number {
    return this.clock();
  }

  async reserve(key: string, fingerprint: string, terms: ReserveTerms): Promise<Reservation> {
    // A Redis known not to answer is refused at once rather than after the command timeout.
    if (!this.redis.ready()) throw unreachable();
    const now = this.clock();
    let answer: [number, string];
    try {
      answer = await this.redis.span(
        terms.trace,
        'EVALSHA',
        () => this.reserveScript(this.redisKey(key), fingerprint, now, terms.lifetimeMs, terms.skewMs, this.owner, IDEMPOTENCY_TTL_MS),
        'erReserve',
      );
    } catch {
      throw unreachable();
    }
    // A claim the primary took but that died with it would let a retry on the promoted replica start the job again: it must be on a replica before the start is sent.
    if (answer[0] === 1 && !(await this.replicated())) {
      // Nothing was sent: a retry must find the key free, not wait out a claim that no start stands behind.
      await this.release(key);
      throw unreachable();
    }
    const [claimed, current] = answer;
    if (current === '') return { claimed: true, reservedAt: now };
    const record = JSON.parse(current) as IdempotencyRecord;
    if (!claimed) return { claimed: false, record };
    return { claimed: true, reservedAt: record.reservedAt, previous: takeOver(record, fingerprint, now, terms.skewMs) };
  }

  async settle(key: string, record: IdempotencyRecord): Promise<void> {
    const stamped = record.state === 'unknown' ? { lostAt: this.clock(), ...record } : record;
    const ttlMs = Math.max(1, record.reservedAt + IDEMPOTENCY_TTL_MS - this.clock());
    await this.client.set(this.redisKey(key), JSON.stringify(stamped), 'PX', ttlMs).catch(() => {});
    await this.replicated();
  }

  /**
   * With Sentinel, waits (WAIT, up to a quarter of the command timeout, so
   * that the answer comes well within it) until a
   * replica has this connection's writes, so the replica a failover promotes
   * holds them. False only when the primary stopped answering; a replica that
   * does not acknowledge in time (down or far behind) does not hold starts up,
   * which leaves the window the class comment names. A cluster is not asked: WAIT goes to one
   * node, and ioredis routes a command without keys to any (see the
   * operators' page on replicas).
   */
  private async replicated(): Promise<boolean> {
    if (this.redis.kind !== 'sentinel') return true;
    return this.client.call('WAIT', 1, Math.max(1, Math.floor(this.redis.commandTimeoutMs / 4))).then(
      () => true,
      () => false,
    );
  }

  async release(key: string): Promise<void> {
    await this.client.del(this.redisKey(key)).catch(() => {});
  }

  async settled(key: string, timeoutMs: number): Promise<void> {
    const until = performance.now() + timeoutMs;
    for (let wait = 25; performance.now() < until; wait = Math.min(500, wait * 2)) {
      const record = await this.get(key).catch(() => undefined);
      if (record?.state !== 'pending') return;
      await sleep(Math.max(0, Math.min(wait, until - performance.now())));
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
  return gatewayError(
    'UPSTREAM_UNAVAILABLE',
    'The gateway cannot reach its shared store (Redis), so the start was not sent; retry shortly.',
    { reason: 'store' },
  );
}
