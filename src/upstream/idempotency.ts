import type { Context } from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { JobKey } from './records';

/** How long a key holds the result of its start. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * What a key holds:
 * - `pending`: a start with this key is under way; its call to the service
 *   is cut by `landBy`, so after `landBy` (plus the clock-skew allowance) a
 *   key still pending has lost its owner (its process died, or could not
 *   write the outcome);
 * - `unknown`: a start was sent and its answer was lost, so the job may
 *   exist; with `landBy`, the call was cut before the service answered, so
 *   the start may still reach the service until then (plus the allowance);
 * - `done`: the job was started; `result` is what the service answered.
 * Times are epoch ms on the store's clock.
 */
export type IdempotencyRecord<R extends JobKey = JobKey> =
  | { state: 'pending'; fingerprint: string; reservedAt: number; landBy: number; owner?: string }
  /** `lostAt`: when the store recorded the lost answer, on its clock. */
  | { state: 'unknown'; fingerprint: string; reservedAt: number; lostAt?: number; landBy?: number }
  | { state: 'done'; fingerprint: string; reservedAt: number; result: R };

/** A key whose start's answer was lost. */
export type UnknownRecord = Extract<IdempotencyRecord, { state: 'unknown' }>;

export type Reservation<R extends JobKey = JobKey> =
  /** The caller now holds the key (pending) since `reservedAt`; `previous` is the lost start it must look for first. */
  | { claimed: true; reservedAt: number; previous?: UnknownRecord }
  /** Someone else holds it, or it is done, or its lost start may still land: the record as it stands. */
  | { claimed: false; record: IdempotencyRecord<R> };

/** How a reservation is held: the longest its start's call may last, and the clock-skew allowance after it. */
export interface ReserveTerms {
  /** The start's call to the service is cut this long after the reservation at the latest. */
  lifetimeMs: number;
  /** How far the service's clock (and other replicas') may differ from the store's. */
  skewMs: number;
  /** The trace context of the start that reserves, when it is traced. */
  trace?: Context;
}

/**
 * The lost start a new reservation of `record` must look for first, when it
 * may take the key over: an `unknown` key of the same input, or a `pending`
 * one whose owner is gone (its start's call would have been cut by `landBy`,
 * and the allowance has passed too). Undefined when the key is not to be
 * taken. The Redis store's script says the same in Lua.
 */
export function takeOver(record: IdempotencyRecord, fingerprint: string, now: number, skewMs: number): UnknownRecord | undefined {
  if (record.fingerprint !== fingerprint) return undefined;
  if (record.state === 'unknown') return record;
  if (record.state === 'pending') {
    // A key written before pending keys carried `landBy` counts from its reservation.
    const landBy = record.landBy ?? record.reservedAt;
    if (landBy + skewMs <= now) return { state: 'unknown', fingerprint, reservedAt: record.reservedAt, lostAt: landBy, landBy };
  }
  return undefined;
}

/**
 * Where idempotency keys live. Contract: `reserve` is atomic — of any number
 * of concurrent calls for one key, at most one is told `claimed`. A key lives
 * IDEMPOTENCY_TTL_MS from its reservation, then counts as never used. The
 * in-memory store serves one process; a shared one (Redis) serves replicas.
 */
export interface IdempotencyStore {
  /** Epoch ms on the store's clock, the one its records' times are on. */
  now(): number;
  /**
   * Claims `key` when it is free, or (see `takeOver`) when it is `unknown`
   * with the same fingerprint or `pending` with its owner gone; else returns
   * its record.
   */
  reserve(key: string, fingerprint: string, terms: ReserveTerms): Promise<Reservation>;
  /** Records the outcome of the caller's start: `done` with its result, or `unknown` (stamped `lostAt` on the store's clock unless given). */
  settle(key: string, record: IdempotencyRecord): Promise<void>;
  /** Frees the key: the start definitely did not happen, so a retry may start. */
  release(key: string): Promise<void>;
  /** Resolves once `key` is no longer pending (at once when it is not), or after `timeoutMs` at the latest. */
  settled(key: string, timeoutMs: number): Promise<void>;
}

export interface MemoryIdempotencyStoreOptions {
  /** Keys kept at most; the least recently used go first. @default 10000 */
  maxKeys?: number;
  /** Epoch milliseconds now. @default Date.now */
  clock?: () => number;
}

/**
 * Idempotency keys in this process's memory. Done keys are bounded (the least
 * recently used go first); keys whose start is under way or whose answer was
 * lost are never evicted, since forgetting them could start a second job.
 * They are few: starts in flight, and lost answers, which expire with the TTL.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly done: LRUCache<string, IdempotencyRecord>;
  private readonly open = new Map<string, IdempotencyRecord>();
  private readonly clock: () => number;
  private readonly waiters = new Map<string, (() => void)[]>();
  /** Whose pending keys this process's are: named in each, for whoever finds one left behind. */
  private readonly owner = randomUUID();

  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    this.done = new LRUCache({ max: options.maxKeys ?? 10_000 });
    this.clock = options.clock ?? Date.now;
  }

  now(): number {
    return this.clock();
  }

  async reserve(key: string, fingerprint: string, terms: ReserveTerms): Promise<Reservation> {
    const record = this.live(key);
    const now = this.clock();
    const pending = (reservedAt: number): IdempotencyRecord => ({
      state: 'pending',
      fingerprint,
      reservedAt,
      landBy: now + terms.lifetimeMs,
      owner: this.owner,
    });
    const previous = record && takeOver(record, fingerprint, now, terms.skewMs);
    if (previous) {
      this.put(key, pending(record.reservedAt));
      return { claimed: true, reservedAt: record.reservedAt, previous };
    }
    if (record) return { claimed: false, record };
    this.put(key, pending(now));
    return { claimed: true, reservedAt: now };
  }

  async settle(key: string, record: IdempotencyRecord): Promise<void> {
    this.put(key, record.state === 'unknown' ? { lostAt: this.clock(), ...record } : record);
    this.wake(key);
  }

  async release(key: string): Promise<void> {
    this.forget(key);
    this.wake(key);
  }

  settled(key: string, timeoutMs: number): Promise<void> {
    if (this.live(key)?.state !== 'pending') return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(
        () => {
          const rest = (this.waiters.get(key) ?? []).filter((waiter) => waiter !== wake);
          if (rest.length > 0) this.waiters.set(key, rest);
          else this.waiters.delete(key);
          resolve();
        },
        Math.max(0, timeoutMs),
      );
      timer.unref();
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), wake]);
    });
  }

  private put(key: string, record: IdempotencyRecord): void {
    this.forget(key);
    if (record.state === 'done') this.done.set(key, record);
    else this.open.set(key, record);
  }

  private forget(key: string): void {
    this.done.delete(key);
    this.open.delete(key);
  }

  private live(key: string): IdempotencyRecord | undefined {
    const record = this.open.get(key) ?? this.done.get(key);
    if (record && this.clock() - record.reservedAt >= IDEMPOTENCY_TTL_MS) {
      this.forget(key);
      return undefined;
    }
    return record;
  }

  private wake(key: string): void {
    const waiting = this.waiters.get(key) ?? [];
    this.waiters.delete(key);
    for (const resolve of waiting) resolve();
  }
}
