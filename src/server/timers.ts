import type { Scheduler } from '../watch/scheduler';

/** The longest delay Node's timers take, in ms: past it, setTimeout fires after 1 ms (with a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs `task` once `scheduler`'s clock reaches `at` (epoch ms), however far
 * off that is, or soon (never synchronously) when it has passed; the returned
 * function cancels it. For times a client or the service names (a token's
 * `exp`): a wait longer than Node's timers take is armed in steps of at most
 * MAX_TIMER_MS, each re-armed from the clock, so a token valid for 60 days
 * does not close its socket at once.
 */
export function runAt(scheduler: Scheduler, at: number, task: () => unknown): () => void {
  let cancel = (): void => undefined;
  const arm = (): void => {
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, at - scheduler.now()));
    // A step ends early, by design or by a clock that moved: look again rather than run.
    cancel = scheduler.after(wait, () => (scheduler.now() < at ? arm() : task()));
  };
  arm();
  return () => cancel();
}
