import type { ExecutionArgs } from 'graphql';
import { ENDED, type StreamReader, type TakeableStream } from '../watch/job-stream';
import type { SharedPayload } from './shared-executions';

/**
 * One subscription's writer on its transport, for payloads shared by many
 * subscribers: it writes `json` (the payload's bytes, the same Buffer for
 * every subscriber) as the subscription's next message, and calls
 * `delivery.written()` once the write is done (flushed to the OS or failed).
 * It may never call back when its connection is going: the subscription is
 * returned then.
 */
export interface PayloadWriter {
  write(json: Buffer, delivery: { written(): void }): void;
}

/** Where a delivery finds each item's shared result (SharedExecutions): by the item, the share key and the subscription's arguments. */
export interface SharedResults {
  resultOf(item: unknown, key: string, args: ExecutionArgs): SharedResult;
}

/** Told when a shared result it waits for is ready. */
interface ResultWaiter {
  resume(result: SharedResult): void;
}

/** One event's answer for one share key, executed once: its payload, JSON and bytes, for each subscriber that takes the event. */
export class SharedResult {
  payload?: SharedPayload;
  json?: string;
  failure?: unknown;
  private buffer?: Buffer;
  private waiters?: ResultWaiter[];
  private promise?: Promise<SharedPayload>;

  get ready(): boolean {
    return this.payload !== undefined || this.failure !== undefined;
  }

  /** The JSON's bytes, encoded once, with the first subscriber that writes them. */
  get bytes(): Buffer {
    return (this.buffer ??= Buffer.from(this.json!));
  }

  settle(payload: SharedPayload, json: string): void {
    this.payload = payload;
    this.json = json;
    this.wakeWaiters();
  }

  fail(failure: unknown): void {
    this.failure = failure ?? new Error('The execution failed.');
    this.wakeWaiters();
  }

  /** `waiter` is resumed once the result is ready. */
  await(waiter: ResultWaiter): void {
    (this.waiters ??= []).push(waiter);
  }

  /** The payload as a promise, for readers that await each event. */
  settled(): Promise<SharedPayload> {
    return (this.promise ??= this.ready
      ? this.payload
        ? Promise.resolve(this.payload)
        : Promise.reject(this.failure as Error)
      : new Promise<SharedPayload>((resolve, reject) =>
          this.await({ resume: (result) => (result.payload ? resolve(result.payload) : reject(result.failure as Error)) }),
        ));
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = undefined;
    // One waiter's failure must not keep the payload from the others: each resume catches its own (see DirectDelivery).
    for (const waiter of waiters ?? []) waiter.resume(this);
  }
}

export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/**
 * A shared subscription delivered without a promise per event: it takes each
 * item of the subscriber's source stream as it arrives, finds the item's
 * shared result, and has `writer` write its bytes; one write at a time, the
 * next item taken once the previous write is done, so a subscriber whose
 * writes back up holds at most its source stream's bounded queue.
 *
 * To graphql-ws it is the subscription's stream: it yields nothing (every
 * event has gone out through the writer), its one `next()` settles when the
 * source ends (done: graphql-ws sends `complete`, after the last event's
 * write) or an execution fails (graphql-ws sends `error`), and `return()`
 * (the client's `complete`, the socket's close) returns the source at once.
 */
export class DirectDelivery implements AsyncIterableIterator<never>, StreamReader, ResultWaiter {
  private writing = false;
  private stopped = false;
  private outcome?: { resolve(result: IteratorResult<never>): void; reject(error: unknown): void };

  constructor(
    private readonly source: TakeableStream<unknown>,
    private readonly results: SharedResults,
    private readonly key: string,
    private readonly args: ExecutionArgs,
    private readonly writer: PayloadWriter,
  ) {}

  next(): Promise<IteratorResult<never>> {
    if (this.stopped) return Promise.resolve({ done: true, value: undefined });
    return new Promise<IteratorResult<never>>((resolve, reject) => {
      this.outcome = { resolve, reject };
      this.wake();
    });
  }

  return(): Promise<IteratorResult<never>> {
    this.stop();
    return Promise.resolve({ done: true, value: undefined });
  }

  throw(error: unknown): Promise<IteratorResult<never>> {
    this.stop();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Takes and writes what waits, until a write is in flight, a result is pending, or nothing waits. */
  wake(): void {
    while (!this.writing && !this.stopped && this.outcome) {
      const item = this.source.take();
      if (item === undefined) return this.source.waitFor(this);
      if (item === ENDED) return this.stop();
      const result = this.results.resultOf(item, this.key, this.args);
      this.writing = true;
      if (result.ready) this.write(result);
      else result.await(this);
    }
  }

  resume(result: SharedResult): void {
    if (this.stopped) return;
    this.write(result);
  }

  written(): void {
    this.writing = false;
    this.wake();
  }

  private write(result: SharedResult): void {
    if (result.failure !== undefined) return this.stop(result.failure);
    this.writer.write(result.bytes, this);
  }

  /** Ends the delivery: the source is returned, and graphql-ws's wait settles (done, or the failure). */
  private stop(failure?: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    void this.source.return?.();
    const outcome = this.outcome;
    this.outcome = undefined;
    if (failure === undefined) outcome?.resolve({ done: true, value: undefined });
    else outcome?.reject(failure);
  }
}
