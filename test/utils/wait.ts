import { once, type EventEmitter } from 'node:events';

/**
 * Waits until `condition` holds, looking again each time `on.emitter` emits
 * `on.event` (a message, a log line, a request answered), never after a
 * guessed time. Without an emitter it looks again at each turn of the event
 * loop: for state that changes with I/O the test cannot listen to. The
 * test's own timeout bounds the wait.
 */
export async function until(condition: () => boolean | Promise<boolean>, on?: { emitter: EventEmitter; event: string }): Promise<void> {
  for (;;) {
    // Listening before looking: an event between the look and the wait is not missed.
    const stop = new AbortController();
    const next = on
      ? once(on.emitter, on.event, { signal: stop.signal }).catch(() => undefined)
      : new Promise<void>((resolve) => setImmediate(resolve));
    if (await condition()) return stop.abort();
    await next;
  }
}
