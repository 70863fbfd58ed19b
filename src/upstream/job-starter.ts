import { GraphQLError } from 'graphql';
import { badInput, gatewayError } from './errors';
import type { IdempotencyStore, UnknownRecord } from './idempotency';
import type { JobStore } from './job-store';
import type { JobKey, JobSummaryRecord, StartIdMappingJobRequest, StartedIdMappingJobRecord, StartedJobRecord } from './records';

/** The jobs a lost start's lookup reads: one List of the newest this many (the window sits on the first page). */
export const LOST_START_LOOKUP_JOBS = 25;

/** Rounds of waiting on a concurrent holder of the same key before giving up. */
const MAX_ROUNDS = 5;

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
 * one that ran with the same input. If no job started in that window, the
 * start never happened and runs now; if the window holds jobs but not
 * exactly one with the same input, the answer is START_OUTCOME_UNKNOWN with
 * those jobs as candidates, and the key keeps saying so: the gateway never
 * guesses.
 */
export class JobStarter {
  private readonly clockSkewMs: number;

  constructor(
    private readonly jobs: JobStore,
    private readonly keys: IdempotencyStore,
    options: JobStarterOptions = {},
    /** Whose keys these are: a key means something only to the principal that sent it. */
    private readonly keyScope = '',
  ) {
    this.clockSkewMs = options.clockSkewMs ?? 10_000;
  }

  /**
   * This starter for one request: its reads and starts go through `jobs`, the
   * request's view of the store; its idempotency keys are `keyScope`'s (the
   * principal's), so another principal's key of the same text is another key.
   */
  forRequest(jobs: JobStore, keyScope: string): JobStarter {
    return new JobStarter(jobs, this.keys, { clockSkewMs: this.clockSkewMs }, keyScope);
  }

  startIdMappingJob(workflowName: string, request: StartIdMappingJobRequest, idempotencyKey?: string): Promise<StartedIdMappingJobRecord> {
    const fingerprint = JSON.stringify([
      'startIdMappingJob',
      workflowName,
      request.jobType ?? null,
      (request.outputSourceConfig ?? []).map((o) => [o.roleArn, o.outputS3Path, o.kmsArn ?? null]),
    ]);
    return this.once(
      idempotencyKey,
      fingerprint,
      () => this.jobs.startIdMappingJob(workflowName, request),
      (lost) =>
        this.findLostStart(
          lost,
          (page) => this.jobs.listIdMappingJobs(workflowName, page),
          async (summary) => {
            const job = await this.jobs.getIdMappingJob(summary);
            const sameType = request.jobType === undefined || job.jobType === request.jobType;
            const samePath =
              request.outputSourceConfig === undefined || job.outputSourceConfig?.[0]?.outputS3Path === request.outputSourceConfig[0]?.outputS3Path;
            return sameType && samePath
              ? { workflowName, jobId: job.jobId, jobType: job.jobType, outputSourceConfig: job.outputSourceConfig, acceptedAt: job.startTime }
              : undefined;
          },
        ),
    );
  }

  startMatchingJob(workflowName: string, idempotencyKey?: string): Promise<StartedJobRecord> {
    return this.once(
      idempotencyKey,
      JSON.stringify(['startMatchingJob', workflowName]),
      () => this.jobs.startMatchingJob(workflowName),
      (lost) =>
        this.findLostStart(
          lost,
          (page) => this.jobs.listMatchingJobs(workflowName, page),
          // A matching start takes no input beyond its workflow.
          async (job) => ({ workflowName, jobId: job.jobId, acceptedAt: job.startTime }),
        ),
    );
  }

  private async once<R extends JobKey>(
    clientKey: string | undefined,
    fingerprint: string,
    start: () => Promise<R>,
    findLostStart: (lost: UnknownRecord) => Promise<LostStart<R>>,
  ): Promise<R> {
    if (clientKey === undefined) {
      try {
        return await start();
      } catch (err) {
        throw isUnknownOutcome(err) ? outcomeUnknown(false) : err;
      }
    }
    const key = `${this.keyScope}\u0000${clientKey}`;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const reservation = await this.keys.reserve(key, fingerprint);
      if (!reservation.claimed) {
        const { record } = reservation;
        if (record.fingerprint !== fingerprint) {
          throw badInput('idempotencyKey', 'This idempotencyKey was used for a different start in the last 24 hours; send a new key for a new start.');
        }
        if (record.state === 'done') return record.result as R;
        await this.keys.settled(key);
        continue;
      }
      const { reservedAt, previous } = reservation;
      const found = previous && (await this.adoptLostStart(key, previous, findLostStart));
      try {
        const result = found || (await start());
        await this.keys.settle(key, { state: 'done', fingerprint, reservedAt, result });
        return result;
      } catch (err) {
        if (isUnknownOutcome(err)) {
          await this.keys.settle(key, { state: 'unknown', fingerprint, reservedAt });
          throw outcomeUnknown(true);
        }
        // The service refused, so nothing started: free the key for a later try.
        await this.keys.release(key);
        throw err;
      }
    }
    throw gatewayError('UPSTREAM_UNAVAILABLE', 'Another request with this idempotencyKey is still starting the job; retry shortly.');
  }

  /**
   * The job a lost start launched, or undefined when it launched none (so the
   * caller may start now). Whatever stops the lookup, and an undecided one,
   * leaves the key `unknown`: the lost start may still have happened, so no
   * failure here may free the key for a fresh start.
   */
  private async adoptLostStart<R>(key: string, lost: UnknownRecord, findLostStart: (lost: UnknownRecord) => Promise<LostStart<R>>): Promise<R | undefined> {
    let lookup: LostStart<R>;
    try {
      lookup = await findLostStart(lost);
    } catch (err) {
      await this.keys.settle(key, lost);
      throw isUnknownOutcome(err) ? outcomeUnknown(true) : err;
    }
    if ('found' in lookup) return lookup.found;
    if (lookup.candidates.length === 0) return undefined;
    await this.keys.settle(key, lost);
    throw outcomeUndecided(lookup.candidates);
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
