/**
 * The events one subscriber has not taken yet, never more than `capacity`.
 *
 * Contract: `offer` never blocks and never throws, whatever the reader does;
 * past `capacity` the oldest waiting event is dropped and the newest kept.
 * That loses nothing a subscriber needs, because job events are whole states,
 * not deltas: one that fell behind skips to the latest state. `take` resolves
 * with the next event in order, or `undefined` once the mailbox is closed.
 */
export class Mailbox<T> {
  private readonly queue: T[] = [];
  private reader?: (event: T | undefined) => void;
  private closed = false;

  /**
   * @param capacity events kept for a reader that is behind (at least 1)
   * @param onSkip told of each event dropped because the reader was behind
   */
  constructor(
    private readonly capacity: number,
    private readonly onSkip: () => void = () => {},
  ) {}

  offer(event: T): void {
    if (this.closed) return;
    const reader = this.reader;
    if (reader) {
      this.reader = undefined;
      reader(event);
      return;
    }
    this.queue.push(event);
    if (this.queue.length > this.capacity) {
      this.queue.shift();
      this.onSkip();
    }
  }

  take(): Promise<T | undefined> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.reader = resolve));
  }

  /** Drops what is waiting and ends the reader's wait. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    const reader = this.reader;
    this.reader = undefined;
    reader?.(undefined);
  }
}
