import { GraphQLError } from 'graphql';
import { gatewayError } from '../upstream/errors';
import type { JobStore } from '../upstream/job-store';
import type { JobKind } from '../upstream/kinds';
import type { JobSummaryRecord, Page } from '../upstream/records';
import type { WatchTerms } from './job-watcher';
import { Mailbox } from './mailbox';
import { realScheduler, type Scheduler } from './scheduler';
import { subscriberStream } from './stream';
import { FINAL_REFUSALS, FirstRead, leaving, startingState } from './subscription';

/** A workflow's newest jobs as one poll saw them, with what a client can see of them. */
interface ListSnapshot {
  jobs: JobSummaryRecord[];
  seen: string;
}

interface ListWatch {
  id: string;
  subscribers: Set<Mailbox<ListSnapshot | GraphQLError>>;
  latest?: ListSnapshot;
  first: FirstRead<ListSnapshot>;
  cancelPoll?: () => void;
  ended: boolean;
}

export interface ListWatcherOptions {
  /** Time between polls of one list. @default 5000 */
  intervalMs?: number;
  /** Events kept for a subscriber that is behind. @default 8 */
  subscriberQueue?: number;
  scheduler?: Scheduler;
  /** Told of each poll that reached the service, by outcome. */
  onPoll?: (outcome: string) => void;
}

/** What a client sees change in a list: which jobs, in which order, in which state. */
function visible(jobs: JobSummaryRecord[]): string {
  return JSON.stringify(jobs.map((job) => [job.jobId, job.status, job.endTime?.getTime() ?? null]));
}

/**
 * Live lists: a workflow's newest jobs now, then again whenever a job appears
 * or changes status, so a dashboard sees a job started elsewhere. One List
 * poll per workflow and size per interval, whatever the number of
 * subscribers, through the rate governor at a poll's priority (it yields to
 * queries); it starts with the first subscriber and stops with the last.
 * A failed poll is retried at the next interval; a definite refusal
 * (NOT_FOUND, FORBIDDEN) ends the subscriptions. In this process only: with
 * replicas each polls the lists its own subscribers watch.
 */
export class ListWatcher {
  private readonly watches = new Map<string, ListWatch>();
  private readonly intervalMs: number;
  private readonly subscriberQueue: number;
  private readonly scheduler: Scheduler;

  constructor(
    private readonly jobs: JobStore,
    private readonly options: ListWatcherOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 5000;
    this.subscriberQueue = Math.max(1, options.subscriberQueue ?? 8);
    this.scheduler = options.scheduler ?? realScheduler;
  }

  async subscribe(
    kind: JobKind,
    workflowName: string,
    first: number,
    terms: WatchTerms = {},
  ): Promise<AsyncIterableIterator<JobSummaryRecord[] | GraphQLError>> {
    const refused = terms.access?.refusal('subscribe', workflowName);
    if (refused) throw refused;
    terms.signal?.throwIfAborted();
    const id = `${kind}:${workflowName}:${first}`;
    const release = terms.quota?.claim(`list:${id}`);
    const watch = this.watches.get(id) ?? this.begin(kind, workflowName, first, id);
    const mailbox = new Mailbox<ListSnapshot | GraphQLError>(this.subscriberQueue);
    watch.subscribers.add(mailbox);
    const leave = leaving(terms.signal, () => {
      release?.();
      mailbox.close();
      watch.subscribers.delete(mailbox);
      if (watch.subscribers.size === 0) this.end(watch);
    });
    const current = await startingState(watch.latest, watch.first, terms.signal, leave);
    return subscriberStream<JobSummaryRecord[] | GraphQLError>(leave, async (push, stop) => {
      let last = current.seen;
      await push(current.jobs);
      for (let event = await mailbox.take(); event; event = await mailbox.take()) {
        if (event instanceof GraphQLError) {
          await push(event);
          return stop();
        }
        if (event.seen === last) continue;
        last = event.seen;
        await push(event.jobs);
      }
    });
  }

  /** Stops every poll loop (at shutdown). */
  close(): void {
    for (const watch of [...this.watches.values()]) this.end(watch);
  }

  private begin(kind: JobKind, workflowName: string, first: number, id: string): ListWatch {
    const watch: ListWatch = { id, subscribers: new Set(), first: new FirstRead(), ended: false };
    this.watches.set(id, watch);
    void this.poll(watch, () =>
      this.jobs.listJobs(kind, workflowName, { maxResults: first }, watch.latest === undefined ? 'interactive' : 'poll'),
    );
    return watch;
  }

  private async poll(watch: ListWatch, read: () => Promise<Page<JobSummaryRecord>>): Promise<void> {
    watch.cancelPoll = undefined;
    try {
      const { items } = await read();
      this.options.onPoll?.('ok');
      if (watch.ended) return;
      const snapshot = { jobs: items, seen: visible(items) };
      const previous = watch.latest;
      watch.latest = snapshot;
      if (!previous) watch.first.resolve(snapshot);
      else if (snapshot.seen !== previous.seen) for (const mailbox of watch.subscribers) mailbox.offer(snapshot);
    } catch (err) {
      const error = err instanceof GraphQLError ? err : gatewayError('UPSTREAM_UNAVAILABLE', 'The list of jobs could not be read.');
      this.options.onPoll?.(String(error.extensions.code));
      if (watch.ended) return;
      // A first read that failed answers its waiters at once; a later failure waits for the next poll, unless it is definite.
      if (watch.latest === undefined) {
        watch.first.reject(error);
        return this.end(watch);
      }
      if (FINAL_REFUSALS.has(String(error.extensions.code))) {
        for (const mailbox of watch.subscribers) mailbox.offer(error);
        return this.end(watch);
      }
    }
    watch.cancelPoll = this.scheduler.after(this.intervalMs, () => this.poll(watch, read));
  }

  private end(watch: ListWatch): void {
    if (watch.ended) return;
    watch.ended = true;
    watch.cancelPoll?.();
    this.watches.delete(watch.id);
  }
}
