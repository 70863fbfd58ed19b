import { untilAborted } from './stream';

/**
 * What JobWatcher and ListWatcher do alike for their subscribers: the first
 * read a watch's early subscribers share, the one way a subscriber leaves,
 * and the refusals that end a watch at once.
 */

/** Refusals that polling again cannot change: the subscriptions end with them at once. */
export const FINAL_REFUSALS: ReadonlySet<string> = new Set(['NOT_FOUND', 'BAD_USER_INPUT', 'FORBIDDEN']);

/** A watch's first state, shared by everyone who subscribes before it arrives; settled once, by its first read. */
export class FirstRead<T> {
  readonly promise: Promise<T>;
  readonly resolve!: (value: T) => void;
  readonly reject!: (error: Error) => void;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => Object.assign(this, { resolve, reject }));
    // Nobody may be waiting when the first read fails: the rejection is handled where it is awaited.
    this.promise.catch(() => {});
  }
}

/**
 * The subscriber's leave: `release` runs once, whichever comes first of the
 * stream's end, its return, an abort of `signal` (the socket closed, the
 * operation completed) or a first read that failed.
 */
export function leaving(signal: AbortSignal | undefined, release: () => void): () => void {
  let left = false;
  const leave = () => {
    if (left) return;
    left = true;
    signal?.removeEventListener('abort', leave);
    release();
  };
  signal?.addEventListener('abort', leave, { once: true });
  return leave;
}

/** The state a new subscriber starts from: the watch's latest, else its first read (given up when `signal` aborts). On failure the subscriber has left. */
export async function startingState<T>(
  latest: T | undefined,
  first: FirstRead<T>,
  signal: AbortSignal | undefined,
  leave: () => void,
): Promise<T> {
  try {
    return latest ?? (await untilAborted(first.promise, signal));
  } catch (err) {
    leave();
    throw err;
  }
}
