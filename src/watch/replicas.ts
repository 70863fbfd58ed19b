import type { Context } from '@opentelemetry/api';
import type { GraphQLError } from 'graphql';
import { gatewayError } from '../upstream/errors';
import { snapshotOf, type JobEvent, type JobRecord, type Snapshot } from './job-snapshot';
import type { Scheduler } from './scheduler';

/**
 * Who polls a job when several replicas watch it. Contract: `acquire` takes
 * or renews this replica's lease on a watch id and says whether it holds it;
 * the lease lapses `leaseMs` after the last renewal; `release` gives it up.
 * `latest` is the last snapshot the holder stored; `store` never throws.
 * `acquire` and `latest` reject when the coordinator cannot be reached.
 */
export interface WatchCoordinator {
  readonly leaseMs: number;
  /** `trace`: the trace context the command is made for (the first subscriber's, on a watch's first lead). */
  acquire(id: string, trace?: Context): Promise<boolean>;
  release(id: string): Promise<void>;
  latest(id: string, trace?: Context): Promise<JobRecord | undefined>;
  store(id: string, job: JobRecord): void;
}

/** What the lease loop reads and sets of a watch. */
export interface LeasedWatch {
  readonly id: string;
  readonly latest?: Snapshot;
  readonly ended: boolean;
  /** A poll's read is in flight. */
  readonly reading?: boolean;
  /** Whether this replica holds the job's lease and polls it. */
  holder?: boolean;
  cancelPoll?: () => void;
  cancelLead?: () => void;
  /** What follows the holder's events on the bus. */
  follow?: (event: Event) => void;
}

/** What the watcher does for the lease loop. */
export interface LeaseHooks {
  /** A snapshot the holder saw (another replica), to take as the watch's latest. */
  adopt(snapshot: Snapshot): void;
  /** Starts polling: this replica holds the lease now. */
  poll(): void;
  /** Ends the watch with `error` for its subscribers (published to the other replicas too). */
  fail(error: GraphQLError): void;
  /** The holder ended the watch with `error`: it ends here too. */
  ended(error: GraphQLError): void;
}

export interface LeaseLoop {
  coordinator: WatchCoordinator;
  events: EventTarget;
  scheduler: Scheduler;
  /** The poll interval: the lease is renewed every half of it. */
  intervalMs: number;
  /** The first subscriber's trace context: the first lead (lease and snapshot) is in its trace. */
  trace?: Context;
}

/**
 * With replicas: the watch follows the holder's events (every event, the
 * holder's own included, arrives through the shared bus), and a lease loop
 * every half interval takes the lease when it is free and renews it while
 * held. The holder polls; the others only listen, and take over within two
 * intervals of the holder's last renewal. Without the coordinator (Redis
 * unreachable) the watch ends with UPSTREAM_UNAVAILABLE.
 */
export function followHolder(
  watch: LeasedWatch,
  { coordinator, events, scheduler, intervalMs, trace }: LeaseLoop,
  hooks: LeaseHooks,
): void {
  watch.follow = (event: Event) => {
    const detail = (event as CustomEvent<JobEvent>).detail;
    if ('error' in detail) return hooks.ended(detail.error);
    // The holder's own snapshots come back through the bus, perhaps after a newer poll: it keeps its own.
    if (!watch.holder) hooks.adopt(detail);
  };
  events.addEventListener(watch.id, watch.follow);
  const lead = async (): Promise<void> => {
    watch.cancelLead = undefined;
    if (watch.ended) return;
    let holds: boolean;
    // Until the first state is there, the lead is the first subscriber's wait; after it, background work.
    const first = watch.latest === undefined ? trace : undefined;
    try {
      holds = await coordinator.acquire(watch.id, first);
      if (!holds && watch.latest === undefined) {
        const job = await coordinator.latest(watch.id, first);
        if (job && !watch.ended && watch.latest === undefined) hooks.adopt(snapshotOf(job));
      }
    } catch {
      return hooks.fail(
        gatewayError(
          'UPSTREAM_UNAVAILABLE',
          "Live updates need the gateway's shared store (Redis), which cannot be reached; subscribe again later.",
        ),
      );
    }
    if (watch.ended) return;
    if (holds && !watch.holder) {
      watch.holder = true;
      // A poll still in flight from an earlier hold goes on as the loop: starting another would poll twice.
      if (!watch.reading) hooks.poll();
    } else if (!holds && watch.holder) {
      watch.holder = false;
      watch.cancelPoll?.();
      watch.cancelPoll = undefined;
    }
    watch.cancelLead = scheduler.after(intervalMs / 2, lead);
  };
  void lead();
}
