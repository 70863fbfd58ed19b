/** A stream's writes not yet flushed, and what waits for there to be none. */
export interface Writes {
  pending: number;
  idle?: () => void;
}

/** At shutdown, the longest a stream's close waits for its writes in progress. */
const HANDOVER_WAIT_MS = 1000;

/**
 * Runs `close` once none of `writes` is in progress, a turn of the event loop
 * later, or after `maxWaitMs` whatever is in progress; resolves then. Why:
 * a final event being written is followed by its subscription's `complete` a
 * few promise turns later, and a close between the two leaves the client
 * without the `complete`, so it subscribes again elsewhere and gets the final
 * state twice.
 */
export function closeWhenIdle(writes: Writes | undefined, close: () => void, maxWaitMs = HANDOVER_WAIT_MS): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      close();
      resolve();
    };
    const deadline = setTimeout(finish, maxWaitMs);
    const whenIdle = () => setImmediate(() => (writes?.pending ? undefined : finish()));
    if (writes) writes.idle = whenIdle;
    whenIdle();
  });
}
