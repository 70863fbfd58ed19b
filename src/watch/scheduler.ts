/**
 * Time as the watcher sees it: when it is, and running work later. Tests
 * pass one they drive by hand, so polling is exact and needs no sleeps.
 */
export interface Scheduler {
  /** Epoch milliseconds now. */
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
