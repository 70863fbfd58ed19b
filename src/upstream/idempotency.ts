import { LRUCache } from 'lru-cache';
import type { JobKey } from './records';

/** How long a key holds the result of its start. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * What a key holds:
 * - `pending`: a start with this key is under way;
 * - `unknown`: a start was sent and its answer was lost, so the job may exist;
 * - `done`: the job was started; `result` is what the service answered.
 */
export type IdempotencyRecord<R extends JobKey = JobKey> =
  | { state: 'pending'; fingerprint: string; reservedAt: number }
  /** `lostAt`: when the store recorded the lost answer, on its clock. */
  | { state: 'unknown'; fingerprint: string; reservedAt: number; lostAt?: number }
  | { state: 'done'; fingerprint: string; reservedAt: number; result: R };

/** A key whose start's answer was lost. */
export type UnknownRecord = Extract<IdempotencyRecord, { state: 'unknown' }>;

export type Reservation<R extends JobKey = JobKey> =
  /** The caller now holds the key (pending) since `reservedAt`; `previous` is the lost start it must look for first. */
  | { claimed: true; reservedAt: number; previous?: UnknownRecord }
  /** Someone else holds it, or it is done: the record as it stands. */
  | { claimed: false; record: IdempotencyRecord<R> };

/**
 * Where idempotency keys live. Contract: `reserve` is atomic — of any number
 * of concurrent calls for one key, at most one is told `claimed`. A key lives
 * IDEMPOTENCY_TTL_MS from its reservation, then counts as never used. The
 * in-memory store serves one process; a shared one (Redis) serves replicas.
 */
export interface IdempotencyStore {
  /** Claims `key` when it is free, or when it is `unknown` with the same fingerprint; else returns its record. */
  reserve(key: string, fingerprint: string): Promise<Reservation>;
  /** Records the outcome of the caller's start: `done` with its result, or `unknown` (stamped `lostAt` on the store's clock unless given). */
  settle(key: string, record: IdempotencyRecord): Promise<void>;
  /** Frees the key: the start definitely did not happen, so a retry may start. */
  release(key: string): Promise<void>;
  /** Resolves once `key` is no longer pending (at once when it is not). */
  settled(key: string): Promise<void>;
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

  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    this.done = new LRUCache({ max: options.maxKeys ?? 10_000 });
    this.clock = options.clock ?? Date.now;
  }

  async reserve(key: string, fingerprint: string): Promise<Reservation> {
    const record = this.live(key);
    if (record?.state === 'unknown' && record.fingerprint === fingerprint) {
      this.put(key, { state: 'pending', fingerprint, reservedAt: record.reservedAt });
      return { claimed: true, reservedAt: record.reservedAt, previous: record };
    }
    if (record) return { claimed: false, record };
    const reservedAt = this.clock();
    this.put(key, { state: 'pending', fingerprint, reservedAt });
    return { claimed: true, reservedAt };
  }

  async settle(key: string, record: IdempotencyRecord): Promise<void> {
    this.put(key, record.state === 'unknown' ? { lostAt: this.clock(), ...record } : record);
    this.wake(key);
  }

  async release(key: string): Promise<void> {
    this.forget(key);
    this.wake(key);
  }

  settled(key: string): Promise<void> {
    if (this.live(key)?.state !== 'pending') return Promise.resolve();
    return new Promise((resolve) => this.waiters.set(key, [...(this.waiters.get(key) ?? []), resolve]));
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
