import { GraphQLError } from 'graphql';
import { isFinal } from '../upstream/records';
import type { JobEvent, JobRecord, Snapshot } from './job-snapshot';

/** One item of a subscriber's job stream: a state of the job, or the error that ends the stream. */
export type JobItem = JobRecord | GraphQLError;

/** A reader that takes a stream's items with `take` rather than a promise each: woken (once) when an item waits. */
export interface StreamReader {
  wake(): void;
}

/** What `take` answers once the stream has ended and every item was taken. */
export const ENDED = Symbol('ended');

/** What a stream tells /metrics: an event dropped for its subscriber, a state delivered to it (the watcher's observer). */
export interface JobStreamObserver {
  skipped(): void;
  delivered?(job: JobRecord): void;
}

/**
 * One subscriber's stream of a job: its first item is the state it starts
 * from, then one item per visible change, never a repeat; it ends after a
 * final state or after an error item. Contract: `handleEvent` (the stream
 * listens on the watcher's event bus itself) never blocks and never throws;
 * it keeps at most `capacity` events the reader has not taken, dropping the
 * oldest (job events are whole states, so a subscriber that fell behind
 * skips to the latest). `return()` and `close()` end it at once and release
 * what the subscriber held (`onLeave`).
 *
 * Two ways to read it. As an async iterator (graphql-js, SSE), one promise
 * per item. Or without a promise per item, as the websocket path of shared
 * executions does for thousands of subscribers: `take()` answers the next
 * item now, `undefined` when none waits yet (after `waitFor(reader)`, the
 * reader is woken once one does), or ENDED.
 */
export class JobStream implements AsyncIterableIterator<JobItem> {
  /** Events not yet taken, oldest first; allocated with the first that waits (most subscribers take each event at once). */
  private queue?: JobEvent[];
  /** The state the subscriber starts from, until taken; undefined before `start`. */
  private first?: JobRecord;
  private started = false;
  /** What the subscriber has seen of the job: the `seen` of the last state taken. */
  private last?: string;
  /** Nothing more will come: the last item was taken, or the stream was closed. */
  private finished = false;
  private pull?: (result: IteratorResult<JobItem>) => void;
  private reader?: StreamReader;

  /** Releases what the subscriber holds (idempotent): set by the watcher once it holds something. */
  onLeave?: () => void;

  constructor(
    private readonly capacity: number,
    private readonly observer?: JobStreamObserver,
  ) {}

  /** The state the subscriber starts from: the events that arrived before it and repeat it are skipped. */
  start({ job, seen }: Snapshot): void {
    this.first = job;
    this.last = seen;
    this.started = true;
    this.notify();
  }

  /** An event published on the watcher's bus (a CustomEvent carrying a JobEvent): the stream is its own listener. */
  handleEvent(event: Event): void {
    if (this.finished) return;
    const queue = (this.queue ??= []);
    queue.push((event as CustomEvent<JobEvent>).detail);
    if (queue.length > this.capacity) {
      queue.shift();
      this.observer?.skipped();
    }
    if (this.started) this.notify();
  }

  /** The next item, `undefined` when none waits yet, or ENDED. */
  take(): JobItem | undefined | typeof ENDED {
    if (this.finished) return ENDED;
    if (!this.started) return undefined;
    const first = this.first;
    if (first) {
      this.first = undefined;
      return this.taken(first);
    }
    const queue = this.queue;
    while (queue && queue.length > 0) {
      const event = queue.shift()!;
      if ('error' in event) {
        this.finish();
        return event.error;
      }
      if (event.seen === this.last) continue;
      this.last = event.seen;
      return this.taken(event.job);
    }
    return undefined;
  }

  /** `reader` is woken once, when an item waits or the stream ends. */
  waitFor(reader: StreamReader): void {
    this.reader = reader;
  }

  next(): Promise<IteratorResult<JobItem>> {
    const item = this.take();
    if (item === ENDED) return Promise.resolve({ done: true, value: undefined });
    if (item !== undefined) return Promise.resolve({ done: false, value: item });
    return new Promise((resolve) => (this.pull = resolve));
  }

  return(): Promise<IteratorResult<JobItem>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  throw(error: unknown): Promise<IteratorResult<JobItem>> {
    this.close();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends the stream at once: what waits is dropped, the subscriber leaves, and a waiting reader learns that it ended. */
  close(): void {
    if (this.finished) return;
    this.finish();
    this.notify();
  }

  private taken(job: JobRecord): JobRecord {
    this.observer?.delivered?.(job);
    // Nothing follows a final state: the subscriber leaves now, and the reader's next take ends the stream.
    if (isFinal(job.status)) this.finish();
    return job;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.first = undefined;
    this.queue = undefined;
    this.onLeave?.();
  }

  /** Hands the next item to a waiting reader. */
  private notify(): void {
    const pull = this.pull;
    if (pull) {
      // Cleared before taking: a take that ends the stream notifies again, and must not answer this reader twice.
      this.pull = undefined;
      const item = this.take();
      if (item === undefined) this.pull = pull;
      else pull(item === ENDED ? { done: true, value: undefined } : { done: false, value: item });
      return;
    }
    const reader = this.reader;
    if (reader) {
      this.reader = undefined;
      reader.wake();
    }
  }
}

/** A stream that can be read without a promise per item, as JobStream can. */
export interface TakeableStream<T> extends AsyncIterableIterator<T> {
  take(): T | undefined | typeof ENDED;
  waitFor(reader: StreamReader): void;
}

export function isTakeable(stream: AsyncIterable<unknown>): stream is TakeableStream<unknown> {
  const candidate = stream as Partial<TakeableStream<unknown>>;
  return typeof candidate.take === 'function' && typeof candidate.waitFor === 'function';
}
