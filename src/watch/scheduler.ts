/**
 * Time as the gateway sees it: when it is, and running work later. Tests
 * pass one they drive by hand, so polling, waits and deadlines are exact and
 * need no sleeps.
 */
export interface Scheduler {
  /** Milliseconds now: epoch ms for `realScheduler` (token expiry compares with it), a monotonic count for `steadyScheduler`. */
  now(): number;
  /** Runs `task` after `ms`; the returned function cancels it. A task may return a promise. */
  after(ms: number, task: () => unknown): () => void;
}

/** Node's timers. They do not keep the process alive: a pending poll never blocks exit. */
export const realScheduler: Scheduler = {
  now: Date.now,
  after(ms, task) {
    const timer = setTimeout(task, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/**
 * Node's timers on the monotonic clock (`performance.now`): for spans of
 * time (a request's deadline, a wait for the rate budget, a ping's answer),
 * which a wall clock set back or forward must not stretch or cut.
 */
export const steadyScheduler: Scheduler = {
  now: () => performance.now(),
  after: realScheduler.after,
};
