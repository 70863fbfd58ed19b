import { GraphQLError } from 'graphql';
import { withinDeadline } from './deadline';
import { asRefusal, badInput, gatewayError, unanswered } from './errors';
import type { IdempotencyRecord, IdempotencyStore, UnknownRecord } from './idempotency';
import type { JobStore } from './job-store';
import { KINDS, type JobKind, type StartedOfKind } from './kinds';
import type { JobKey, JobSummaryRecord, StartJobRequest } from './records';
import { sendStart } from './starts';

/** The jobs a lost start's lookup reads: one List of the newest this many (the window sits on the first page). */
export const LOST_START_LOOKUP_JOBS = 25;

/** Rounds of waiting on a concurrent holder of the same key before giving up. */
const MAX_ROUNDS = 5;

/** A retry waiting on another request's start under its key answers this long before its own deadline. */
const ANSWER_MARGIN_MS = 100;

function isUnknownOutcome(err: unknown): boolean {
  return err instanceof GraphQLError && err.extensions.code === 'UPSTREAM_UNAVAILABLE';
}

function outcomeUnknown(withKey: boolean): GraphQLError {
  return gatewayError(
    'UPSTREAM_UNAVAILABLE',
    withKey
      ? 'The service did not confirm the start, so the job may have started. Retry with the same idempotencyKey: the gateway will find that job instead of starting another.'
      : "The service did not confirm the start, so the job may have started. Check the workflow's jobs before starting again, or send an idempotencyKey to make retries safe.",
  );
}

/** What a lost start's window holds: the lost job, if it can only be that one, or every job that might be it. */
type LostStart<R> = { found: R } | { candidates: JobSummaryRecord[] };

/**
 * A retry while the key's start may still reach the service: the gateway
 * cannot tell yet whether it launched a job, and starts none meanwhile.
 */
function mayStillLand(retryAfterMs: number): GraphQLError {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return gatewayError(
    'START_OUTCOME_UNKNOWN',
    `A start with this idempotencyKey was sent and may still reach the service, so the gateway cannot tell yet whether it launched a job, and starts no other. Retry with the same idempotencyKey after ${retryAfterSeconds} s.`,
    { candidates: [], retryAfterSeconds },
  );
}

function outcomeUndecided(candidates: JobSummaryRecord[]): GraphQLError {
  return gatewayError(
    'START_OUTCOME_UNKNOWN',
    `The answer to this start was lost, and the gateway cannot tell which job, if any, it launched: ${candidates.length} job(s) started around then (see candidates). Check them; to start another job, send a new idempotencyKey.`,
    { candidates: candidates.map((job) => ({ jobId: job.jobId, status: job.status, startTime: job.startTime.toISOString() })) },
  );
}

export interface JobStarterOptions {
  /**
   * How far the service's clock may differ from the idempotency store's.
   * A lost start's job must have started within [reserved − skew, lost + skew].
   * @default 10000
   */
  clockSkewMs?: number;
  /**
   * The longest a start's call to the service lasts (the JobStore cuts it
   * then): a start may reach the service until this long after its key was
   * reserved, plus the skew allowance. @default 15000
   */
  startTimeoutMs?: number;
}

/**
 * Starts jobs so that a retried click starts one job. With an idempotency
 * key, a start runs at most once per key and input: a repeat returns the
 * first result; concurrent repeats wait for the first.
 *
 * When the first start's answer was lost, a repeat looks for the job it may
 * have launched before it starts anything, and adopts only a job that can
 * only be that one: of the workflow's jobs that started between the key's
 * reservation and the loss (each widened by the clock-skew allowance), the
 * one that ran with the same input. If the window holds jobs but not
 * exactly one with the same input, the answer is START_OUTCOME_UNKNOWN with
 * those jobs as candidates, and the key keeps saying so: the gateway never
 * guesses. If no job started in that window, the start never happened and
 * runs now — but only once it can no longer land: while the lost call may
 * still reach the service (it was cut without an answer less than the skew
 * allowance ago), the answer is START_OUTCOME_UNKNOWN with `retryAfterSeconds`.
 *
 * A start's outcome is recorded when its call ends, which may be after the
 * request that sent it was answered at its deadline. A retry that finds the
 * key pending waits for that outcome within its own deadline; a key left
 * pending by an owner that died is taken over once its start can no longer
 * land, and looked for as a lost start.
 */
export class JobStarter {
  private readonly clockSkewMs: number;
  private readonly startTimeoutMs: number;

  constructor(
    private readonly jobs: JobStore,
    private readonly keys: IdempotencyStore,
    options: JobStarterOptions = {},
    /** Whose keys these are: a key means something only to the principal that sent it. */
    private readonly keyScope = '',
  ) {
    this.clockSkewMs = options.clockSkewMs ?? 10_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 15_000;
  }

  /**
   * This starter for one request: its reads and starts go through `jobs`, the
   * request's view of the store; its idempotency keys are `keyScope`'s (the
   * principal's), so another principal's key of the same text is another key.
   */
  forRequest(jobs: JobStore, keyScope: string): JobStarter {
    return new JobStarter(jobs, this.keys, { clockSkewMs: this.clockSkewMs, startTimeoutMs: this.startTimeoutMs }, keyScope);
  }

  /**
   * Starts a job of `kind`. The idempotency fingerprint is the mutation, the
   * workflow and what the kind's start takes of `request`; a lost start's
   * job is found by the kind's rule (see the kinds table).
   */
  startJob<K extends JobKind>(kind: K, workflowName: string, request: StartJobRequest, idempotencyKey?: string): Promise<StartedOfKind[K]> {
    const { names, fingerprintInput, lostStart } = KINDS[kind];
    const fingerprint = JSON.stringify([names.startMutation, workflowName, ...fingerprintInput(request)]);
    const rule = lostStart as (typeof KINDS)[JobKind]['lostStart'];
    return this.once(
      idempotencyKey,
      fingerprint,
      () => sendStart(this.jobs, kind, workflowName, request),
      (lost) =>
        this.findLostStart(
          lost,
          (page) => this.jobs.listJobs(kind, workflowName, page),
          async (summary) =>
            rule.reads === 'job'
              ? (rule.adopt(workflowName, (await this.jobs.getJob(kind, summary)) as never, request) as StartedOfKind[K] | undefined)
              : (rule.adopt(workflowName, summary) as StartedOfKind[K]),
        ),
    );
  }

  private async once<R extends JobKey>(
    clientKey: string | undefined,
    fingerprint: string,
    start: () => Promise<R>,
    findLostStart: (lost: UnknownRecord) => Promise<LostStart<R>>,
  ): Promise<R> {
    if (clientKey === undefined) return this.answer(start(), false);
    const key = `${this.keyScope}\u0000${clientKey}`;
    for (let round = 0; ; round++) {
      const reservation = await this.keys.reserve(key, fingerprint, {
        lifetimeMs: this.startTimeoutMs,
        skewMs: this.clockSkewMs,
        trace: this.jobs.trace,
      });
      if (!reservation.claimed) {
        const { record } = reservation;
        if (record.fingerprint !== fingerprint) {
          throw asRefusal(
            badInput(
              'idempotencyKey',
              'This idempotencyKey was used for a different start in the last 24 hours; send a new key for a new start.',
            ),
            'idempotency_key_reused',
          );
        }
        if (record.state === 'done') return record.result as R;
        // A start under way (an unknown key of the same input is always claimed): wait for its outcome within this request's deadline.
        const waitMs = Math.min(this.remainingMs() - ANSWER_MARGIN_MS, this.landsUntil(record) - this.keys.now());
        if (waitMs <= 0 || round >= MAX_ROUNDS) throw asRefusal(mayStillLand(1000), 'idempotency_key_busy');
        await this.keys.settled(key, waitMs);
        continue;
      }
      const { reservedAt, previous } = reservation;
      let found: R | undefined;
      try {
        found = previous && (await this.adoptLostStart(key, previous, findLostStart));
      } catch (err) {
        throw isUnknownOutcome(err) ? outcomeUnknown(true) : err;
      }
      if (found) {
        await this.keys.settle(key, { state: 'done', fingerprint, reservedAt, result: found });
        return found;
      }
      return this.answer(this.recorded(key, fingerprint, reservedAt, start()), true);
    }
  }

  /**
   * The start's outcome, recorded under `key` when its call ends (which may
   * be after the request's deadline): `done`; `unknown` when it may have
   * happened (with `landBy` when the call was cut before the service
   * answered); freed when the service refused it, as nothing started.
   */
  private async recorded<R extends JobKey>(key: string, fingerprint: string, reservedAt: number, started: Promise<R>): Promise<R> {
    let result: R;
    try {
      result = await started;
    } catch (err) {
      if (isUnknownOutcome(err)) {
        const lost: IdempotencyRecord = {
          state: 'unknown',
          fingerprint,
          reservedAt,
          ...(unanswered(err) ? { landBy: this.keys.now() } : {}),
        };
        await this.keys.settle(key, lost);
      } else {
        await this.keys.release(key);
      }
      throw err;
    }
    await this.keys.settle(key, { state: 'done', fingerprint, reservedAt, result });
    return result;
  }

  /** Answers the request with the start's outcome, or at its deadline with the outcome unknown: the start goes on, and is recorded when it ends. */
  private async answer<R>(outcome: Promise<R>, withKey: boolean): Promise<R> {
    outcome.catch(() => {});
    try {
      return await withinDeadline(outcome, this.jobs.deadline, 'the start');
    } catch (err) {
      throw isUnknownOutcome(err) ? outcomeUnknown(withKey) : err;
    }
  }

  /** Until when (on the store's clock) the start `record` stands for may still reach the service. */
  private landsUntil(record: Extract<IdempotencyRecord, { state: 'pending' | 'unknown' }>): number {
    return record.landBy === undefined ? -Infinity : record.landBy + this.clockSkewMs;
  }

  private remainingMs(): number {
    return this.jobs.deadline?.remainingMs ?? Infinity;
  }

  /**
   * The job a lost start launched, or undefined when it launched none and
   * can no longer land (so the caller may start now). Whatever stops the
   * lookup, and an undecided one, leaves the key `unknown`: the lost start
   * may still have happened, so no failure here may free the key for a
   * fresh start.
   */
  private async adoptLostStart<R>(
    key: string,
    lost: UnknownRecord,
    findLostStart: (lost: UnknownRecord) => Promise<LostStart<R>>,
  ): Promise<R | undefined> {
    let lookup: LostStart<R>;
    try {
      lookup = await findLostStart(lost);
    } catch (err) {
      await this.keys.settle(key, lost);
      throw err;
    }
    if ('found' in lookup) return lookup.found;
    const openMs = this.landsUntil(lost) - this.keys.now();
    if (lookup.candidates.length === 0 && openMs <= 0) return undefined;
    await this.keys.settle(key, lost);
    throw lookup.candidates.length === 0 ? asRefusal(mayStillLand(openMs), 'start_may_still_land') : outcomeUndecided(lookup.candidates);
  }

  /**
   * The jobs that started within the lost start's window: none means it never
   * happened; exactly one with the same input is the one it launched.
   */
  private async findLostStart<R>(
    lost: UnknownRecord,
    list: (page: { maxResults: number }) => Promise<{ items: JobSummaryRecord[] }>,
    /** The start's result if `job` ran with the same input, else undefined. */
    ifSameInput: (job: JobSummaryRecord) => Promise<R | undefined>,
  ): Promise<LostStart<R>> {
    const from = lost.reservedAt - this.clockSkewMs;
    const to = (lost.lostAt ?? lost.reservedAt) + this.clockSkewMs;
    // Newest first: a window a few seconds wide sits on the first page.
    const { items } = await list({ maxResults: LOST_START_LOOKUP_JOBS });
    const inWindow = items.filter((job) => job.startTime.getTime() >= from && job.startTime.getTime() <= to);
    const same = (await Promise.all(inWindow.map(ifSameInput))).filter((found) => found !== undefined);
    return same.length === 1 ? { found: same[0] } : { candidates: inWindow };
  }
}
