import type { Scheduler } from '../../src/watch/scheduler';

interface Task {
  due: number;
  delay: number;
  run: () => unknown;
}

/** The watcher's time, moved by the test: each poll happens when the test says, and is awaited. */
export class ManualScheduler implements Scheduler {
  private time = 0;
  private tasks: Task[] = [];

  readonly now = (): number => this.time;

  after(ms: number, run: () => unknown): () => void {
    const task = { due: this.time + ms, delay: ms, run };
    this.tasks.push(task);
    return () => {
      this.tasks = this.tasks.filter((t) => t !== task);
    };
  }

  /** Tasks waiting to run: one per polled job. */
  get pending(): number {
    return this.tasks.length;
  }

  /** The wait the next task was scheduled with (the poll interval, or a backoff). */
  get nextDelay(): number | undefined {
    return this.next()?.delay;
  }

  /** The waits the pending tasks were scheduled with, soonest first. */
  get delays(): number[] {
    return [...this.tasks].sort((a, b) => a.due - b.due).map((task) => task.delay);
  }

  /** Moves time to the next task, runs it and waits for it to finish (one poll). */
  async runNext(): Promise<void> {
    const task = this.next();
    if (!task) throw new Error('nothing is scheduled');
    this.tasks = this.tasks.filter((t) => t !== task);
    this.time = task.due;
    await task.run();
  }

  /** Moves time on by `ms`, running (and waiting for) each task that falls due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (let task = this.next(); task && task.due <= until; task = this.next()) {
      this.tasks = this.tasks.filter((t) => t !== task);
      this.time = task.due;
      await task.run();
    }
    this.time = until;
  }

  private next(): Task | undefined {
    return [...this.tasks].sort((a, b) => a.due - b.due)[0];
  }
}
