import { TraceFlags, trace as traces, type Context, type SpanContext } from '@opentelemetry/api';
import { GraphQLError } from 'graphql';
import { setMaxListeners } from 'node:events';
import type { Access } from '../auth/access';
import { gatewayError } from '../upstream/errors';
import type { JobKind, JobOfKind, JobRead, JobStore } from '../upstream/job-store';
import { isFinal, type JobKey } from '../upstream/records';
import { snapshotOf, type JobEvent, type JobRecord, type Snapshot } from './job-snapshot';
import { JobStream, type JobStreamObserver } from './job-stream';
import { followHolder, type WatchCoordinator } from './replicas';
import { realScheduler, type Scheduler } from './scheduler';
import { FINAL_REFUSALS, FirstRead, leaving, startingState } from './subscription';

export type { JobEvent, WatchCoordinator };

/**
 * Where job events travel from pollers to subscribers: an EventTarget whose
 * event types are watch ids and whose events are CustomEvents carrying a
 * JobEvent. In memory by default; a shared bus (Redis) with replicas.
 */
export type JobEvents = EventTarget;

/** What the watcher reports for /metrics. */
export interface WatcherObserver {
  subscriptions(delta: number): void;
  watchedJobs(delta: number): void;
  /** A poll that reached the service: `ok`, or the error code it ended with. */
  poll(outcome: string): void;
  /** An event a subscriber skipped because it had fallen behind. */
  skipped(): void;
  /** A watched job went stale (its polls fail) or recovered. */
  stale(stale: boolean): void;
  /** A state delivered to one subscriber. */
  delivered?(): void;
  /** A poll that succeeded, `ageMs` after the one before. */
  polled?(ageMs: number): void;
}

/** Runs each poll as a trace of its own, linked to the subscriptions it serves (observe/tracing.ts's Tracing). */
export interface PollTracing {
  poll<T>(
    name: string,
    attributes: Record<string, string>,
    links: readonly SpanContext[],
    work: (context: Context) => Promise<T>,
  ): Promise<T>;
  /** What a traced subscription got, written to its trace when it ends (observe/subscription-record.ts). */
  subscription(parent: Context, attributes: Record<string, string>): SubscriptionEvents;
}

/** Counts one traced subscriber's events until it leaves. */
export interface SubscriptionEvents {
  deliver(status: string): void;
  skip(): void;
  end(): void;
}

export interface JobWatcherOptions {
  /** Time between polls of one job. @default 5000 */
  intervalMs?: number;
  /** Share of the interval by which each wait varies at random, so pollers do not march in step. @default 0.1 */
  jitter?: number;
  /** The longest wait between polls while the service fails. @default 60000 */
  backoffCapMs?: number;
  /** How long polls may fail in a row before subscribers are told UPSTREAM_UNAVAILABLE. @default 120000 */
  failureLimitMs?: number;
  /** Events kept for a subscriber that is behind; past it, it skips to the latest state. @default 8 */
  subscriberQueue?: number;
  scheduler?: Scheduler;
  events?: JobEvents;
  observer?: WatcherObserver;
  /** @default Math.random */
  random?: () => number;
  /** With replicas: which replica polls each job, and the latest snapshot any of them saw. Unset: this process polls every job it watches. */
  coordinator?: WatchCoordinator;
  /** With tracing on: polls are traces, linked to the subscriptions they serve. */
  tracing?: PollTracing;
}

/** Limits one subscriber's holdings (per socket, per client): `claim` throws LIMIT_EXCEEDED past them, else returns the release. */
export interface WatchQuota {
  claim(watchId: string): () => void;
}

/** Who subscribes and for how long: the policy, the end of its interest (its socket closed or it unsubscribed), its quota. */
export interface WatchTerms {
  access?: Access;
  /** Aborted when the subscriber leaves, even while the job's first read is pending: everything it held is released at once. */
  signal?: AbortSignal;
  quota?: WatchQuota;
  /** Who subscribes: a job's first read is this client's turn at the rate governor. */
  client?: string;
  /** The subscribe's trace context, when it is traced: the job's first read is its child, and its polls link to it. */
  trace?: Context;
}

/** Every subscriber of a job listens on its topic: thousands of listeners are the point, not a leak. */
function unboundedEventTarget(): EventTarget {
  const target = new EventTarget();
  setMaxListeners(0, target);
  return target;
}

/** Failed polls in a row after which subscribers are told the state they hold is stale. */
const STALE_AFTER_FAILURES = 2;

interface Watch {
  id: string;
  subscribers: number;
  latest?: Snapshot;
  /** The first snapshot, shared by everyone who subscribes before it arrives. */
  first: FirstRead<Snapshot>;
  delayMs: number;
  failingSince?: number;
  /** Failed polls in a row. */
  failures: number;
  cancelPoll?: () => void;
  ended: boolean;
  /** When the latest snapshot was read (scheduler time): a poll still waiting two intervals after it marks the job stale. */
  freshAt?: number;
  /** With a coordinator: whether this replica holds the job's lease and polls it; the lease loop; what follows the holder's events. */
  holder?: boolean;
  /** A poll's read is in flight. */
  reading?: boolean;
  cancelLead?: () => void;
  follow?: (event: Event) => void;
  /** With tracing: the span contexts of the subscriptions that are traced, which its polls link to. */
  traced?: Set<SpanContext>;
  /** The subscribers' streams, in the order they came: each of the job's events goes to each. */
  streams: Set<JobStream>;
  /** The watch's one listener on the event bus while it has streams, which hands each event to every stream (see `fanOut`). */
  listener: (event: Event) => void;
}

/**
 * Polls each watched job once per interval, however many subscribe to it.
 *
 * Contract: `subscribe` resolves with a stream whose first item is the job's
 * current state (the latest snapshot when the job is already watched, so a
 * new subscriber costs no upstream call), then one item per visible change,
 * never a repeat; it ends after a final state, or after an error item.
 * A subscriber that falls behind skips to the latest state: it never holds
 * more than `subscriberQueue` undelivered events, and nothing it does (or
 * fails to do) can make publishing throw. After two failed polls in a row,
 * or when a poll is still waiting (for its turn at the rate budget, or for
 * the service) two intervals after the latest snapshot was read,
 * subscribers get the last known state with `stale: true`, and the fresh
 * state once a poll succeeds again.
 * It rejects with NOT_FOUND or BAD_USER_INPUT when the job cannot be watched,
 * with the read's error when the first read fails (THROTTLED included: the
 * client retries, no poller stays behind for it), with FORBIDDEN, before
 * anything is read, when `access` does not allow it, and with LIMIT_EXCEEDED
 * when the quota is spent. A job's poll loop starts with its first
 * subscriber and stops with its last one, or at a final state; stopping a
 * stream (`return()`) or aborting `signal` releases it at once, even before
 * the first read has answered.
 */
export class JobWatcher {
  private readonly watches = new Map<string, Watch>();
  private readonly intervalMs: number;
  private readonly jitter: number;
  private readonly backoffCapMs: number;
  private readonly failureLimitMs: number;
  private readonly subscriberQueue: number;
  private readonly scheduler: Scheduler;
  private readonly events: JobEvents;
  private readonly observer?: WatcherObserver;
  private readonly random: () => number;
  private readonly coordinator?: WatchCoordinator;
  private readonly tracing?: PollTracing;

  constructor(
    private readonly jobs: JobStore,
    options: JobWatcherOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 5000;
    this.jitter = options.jitter ?? 0.1;
    this.backoffCapMs = options.backoffCapMs ?? 60_000;
    this.failureLimitMs = options.failureLimitMs ?? 120_000;
    this.subscriberQueue = Math.max(1, options.subscriberQueue ?? 8);
    this.scheduler = options.scheduler ?? realScheduler;
    this.events = options.events ?? unboundedEventTarget();
    this.observer = options.observer;
    this.random = options.random ?? Math.random;
    this.coordinator = options.coordinator;
    this.tracing = options.tracing;
  }

  /** How old the oldest state among watched jobs is, in ms (since its last successful poll); 0 when none is watched. */
  oldestStateMs(): number {
    const now = this.scheduler.now();
    let oldest = 0;
    for (const watch of this.watches.values()) if (watch.freshAt !== undefined) oldest = Math.max(oldest, now - watch.freshAt);
    return oldest;
  }

  /** How many jobs are being polled. */
  get watchedJobs(): number {
    return this.watches.size;
  }

  subscribe<K extends JobKind>(kind: K, key: JobKey, terms?: WatchTerms): Promise<AsyncIterableIterator<JobOfKind[K] | GraphQLError>>;
  async subscribe(kind: JobKind, key: JobKey, terms: WatchTerms = {}): Promise<AsyncIterableIterator<JobRecord | GraphQLError>> {
    const { access, signal, quota, client, trace } = terms;
    const refused = access?.refusal('subscribe', key.workflowName);
    if (refused) throw refused;
    signal?.throwIfAborted();
    const id = `${kind}:${key.workflowName}:${key.jobId}`;
    const release = quota?.claim(id);
    const watch = this.watches.get(id) ?? this.begin(kind, key, id, client, trace);
    watch.subscribers++;
    // Polls link to subscriptions whose trace is kept (sampled): a link to a span nobody recorded leads nowhere.
    const spanContext = this.tracing && trace ? traces.getSpanContext(trace) : undefined;
    const linked = spanContext && spanContext.traceFlags & TraceFlags.SAMPLED ? spanContext : undefined;
    if (linked) (watch.traced ??= new Set()).add(linked);
    const record =
      linked && trace
        ? this.tracing?.subscription(trace, { 'er.job.kind': kind, 'er.workflow.name': key.workflowName, 'er.job.id': key.jobId })
        : undefined;
    this.observer?.subscriptions(1);
    // A traced subscription's stream also tells its record; every other stream shares the watcher's observer.
    const observer: JobStreamObserver | undefined = record
      ? {
          skipped: () => {
            record.skip();
            this.observer?.skipped();
          },
          delivered: (job) => {
            record.deliver(job.status);
            this.observer?.delivered?.();
          },
        }
      : this.observer;
    const stream = new JobStream(this.subscriberQueue, observer);
    // Listen before reading the current state, so no change falls between the two.
    // The watch listens on the bus while a stream does, as each stream did on its own (after the watch's own listener).
    if (watch.streams.size === 0) this.events.addEventListener(id, watch.listener);
    watch.streams.add(stream);
    // What the subscriber holds for as long as it stays, named through `watch` (a string per subscriber would stay too).
    const leave = leaving(signal, () => {
      release?.();
      watch.streams.delete(stream);
      if (watch.streams.size === 0) this.events.removeEventListener(watch.id, watch.listener);
      stream.close();
      if (linked) watch.traced?.delete(linked);
      record?.end();
      watch.subscribers--;
      this.observer?.subscriptions(-1);
      if (watch.subscribers === 0) this.end(watch);
    });
    stream.onLeave = leave;
    stream.start(await startingState(watch.latest, watch.first, signal, leave));
    return stream;
  }

  /** Stops every poll loop (at shutdown, after the subscriptions are closed). */
  close(): void {
    for (const watch of [...this.watches.values()]) this.end(watch);
  }

  private begin(kind: JobKind, key: JobKey, id: string, client: string | undefined, trace: Context | undefined): Watch {
    const streams = new Set<JobStream>();
    const watch: Watch = {
      id,
      subscribers: 0,
      first: new FirstRead(),
      delayMs: this.intervalMs,
      failures: 0,
      ended: false,
      streams,
      listener: (event) => fanOut(streams, event),
    };
    this.watches.set(id, watch);
    this.observer?.watchedJobs(1);
    // The first read answers a waiting client: a fresh snapshot serves it, at a query's priority.
    // Later reads are polls: they ask the service, and yield to queries.
    const forClient = client === undefined ? this.jobs : this.jobs.forClient(client);
    // The first read is the first subscriber's: with tracing, its call is in that subscription's trace.
    const firstReader = trace && this.tracing ? forClient.forTrace(trace) : forClient;
    const fetch = () => (watch.latest === undefined ? firstReader.readJob(kind, key, 'query') : this.pollRead(watch, kind, key));
    if (!this.coordinator) void this.poll(watch, fetch);
    else {
      followHolder(
        watch,
        { coordinator: this.coordinator, events: this.events, scheduler: this.scheduler, intervalMs: this.intervalMs, trace },
        {
          adopt: (snapshot) => this.adopt(watch, snapshot),
          poll: () => void this.poll(watch, fetch),
          fail: (error) => this.fail(watch, error),
          ended: (error) => {
            if (watch.latest === undefined) watch.first.reject(error);
            this.end(watch);
          },
        },
      );
    }
    return watch;
  }

  /**
   * A poll's read: with tracing, a trace of its own (`poll <kind> job`), linked to the traced subscriptions it
   * serves; a poll that serves none is no trace (untraced subscribers would fill the exporter's queue with polls).
   */
  private pollRead(watch: Watch, kind: JobKind, key: JobKey): Promise<JobRead> {
    const tracing = this.tracing;
    const links = [...(watch.traced ?? [])];
    if (!tracing || links.length === 0) return this.jobs.readJob(kind, key, 'poll');
    return tracing.poll(`poll ${kind} job`, { 'er.workflow.name': key.workflowName, 'er.job.id': key.jobId }, links, (context) =>
      this.jobs.forTrace(context).readJob(kind, key, 'poll'),
    );
  }

  /** A snapshot the holder saw (another replica), taken as this watch's latest: the first one answers the subscribers waiting for it. */
  private adopt(watch: Watch, snapshot: Snapshot): void {
    const previous = watch.latest;
    watch.latest = snapshot;
    watch.freshAt = this.scheduler.now();
    if (!previous) watch.first.resolve(snapshot);
    if (isFinal(snapshot.job.status)) this.end(watch);
  }

  private async poll(watch: Watch, fetch: () => Promise<JobRead>): Promise<void> {
    watch.cancelPoll = undefined;
    watch.reading = true;
    const late =
      watch.freshAt === undefined
        ? undefined
        : this.scheduler.after(Math.max(0, watch.freshAt + 2 * this.intervalMs - this.scheduler.now()), () => this.markStale(watch));
    try {
      const { job, served } = await fetch().finally(() => {
        watch.reading = false;
        late?.();
      });
      if (served === 'miss') this.observer?.poll('ok');
      if (watch.ended) return;
      const snapshot = snapshotOf(job);
      const previous = watch.latest;
      watch.latest = snapshot;
      if (previous?.job.stale) this.observer?.stale(false);
      const now = this.scheduler.now();
      if (watch.freshAt !== undefined && served === 'miss') this.observer?.polled?.(now - watch.freshAt);
      watch.freshAt = now;
      watch.failingSince = undefined;
      watch.failures = 0;
      watch.delayMs = this.intervalMs;
      this.coordinator?.store(watch.id, job);
      if (!previous) watch.first.resolve(snapshot);
      // With replicas the first read is published too: other replicas' subscribers learn everything from the holder.
      if (previous ? snapshot.seen !== previous.seen : this.coordinator) this.publish(watch, snapshot);
      if (isFinal(job.status)) return this.end(watch);
    } catch (err) {
      const error = err instanceof GraphQLError ? err : gatewayError('UPSTREAM_UNAVAILABLE', 'The job could not be read.');
      const code = String(error.extensions.code);
      this.observer?.poll(code);
      if (watch.ended) return;
      // A first read that failed answers its waiting clients at once: they retry, and no poller stays for a job nobody saw.
      if (FINAL_REFUSALS.has(code) || watch.latest === undefined) return this.fail(watch, error);
      watch.failingSince ??= this.scheduler.now();
      watch.failures++;
      if (watch.failures >= STALE_AFTER_FAILURES) this.markStale(watch);
      if (this.scheduler.now() - watch.failingSince >= this.failureLimitMs) {
        return this.fail(
          watch,
          gatewayError(
            'UPSTREAM_UNAVAILABLE',
            'The Entity Resolution service has been failing; live updates of this job stopped. Subscribe again later.',
          ),
        );
      }
      watch.delayMs = Math.min(this.backoffCapMs, watch.delayMs * 2);
    }
    // A replica that lost the job's lease while this poll was in flight stops here: the new holder polls.
    if (this.coordinator && !watch.holder) return;
    const wait = watch.delayMs * (1 + (this.random() * 2 - 1) * this.jitter);
    watch.cancelPoll = this.scheduler.after(wait, () => this.poll(watch, fetch));
  }

  /** Tells subscribers the state they hold may be out of date: the latest snapshot again, with `stale: true` (once). */
  private markStale(watch: Watch): void {
    const latest = watch.latest;
    if (watch.ended || !latest || latest.job.stale) return;
    const job = { ...latest.job, stale: true };
    watch.latest = snapshotOf(job);
    this.observer?.stale(true);
    this.publish(watch, watch.latest);
  }

  private fail(watch: Watch, error: GraphQLError): void {
    if (watch.latest === undefined) watch.first.reject(error);
    // Other replicas' subscribers wait for this job too: they hear of its end from the holder.
    if (watch.latest !== undefined || this.coordinator) this.publish(watch, { error });
    this.end(watch);
  }

  private publish(watch: Watch, event: JobEvent): void {
    this.events.dispatchEvent(new CustomEvent(watch.id, { detail: event }));
  }

  private end(watch: Watch): void {
    if (watch.ended) return;
    watch.ended = true;
    if (watch.latest?.job.stale) this.observer?.stale(false);
    watch.cancelPoll?.();
    watch.cancelLead?.();
    if (watch.follow) this.events.removeEventListener(watch.id, watch.follow);
    if (watch.holder) void this.coordinator?.release(watch.id);
    this.watches.delete(watch.id);
    this.observer?.watchedJobs(-1);
  }
}

/**
 * Hands `event` to each of `streams`, as an EventTarget would to listeners of their own, for a fraction of the cost:
 * Node's EventTarget spends about a microsecond per listener and event, and keeps a Listener object per listener,
 * which for thousands of subscribers of one job was a good part of each delivery. A stream that throws (none should:
 * see JobStream) keeps the event from none of the others, and its error is reported as an EventTarget's would be.
 */
function fanOut(streams: Set<JobStream>, event: Event): void {
  for (const stream of streams) {
    try {
      stream.handleEvent(event);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}
