import { GraphQLError } from 'graphql';
import { badInput, gatewayError } from './errors';
import type { IdempotencyStore } from './idempotency';
import type { JobStore } from './job-store';
import type { JobKey, JobSummaryRecord, StartIdMappingJobRequest, StartedIdMappingJobRecord, StartedJobRecord } from './records';

/**
 * How far a job's start time (the service's clock) may lie before the moment
 * the gateway reserved the key (its own clock) and still be the job that start
 * launched.
 */
const CLOCK_SKEW_MS = 60_000;
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

/**
 * Starts jobs so that a retried click starts one job. With an idempotency
 * key, a start runs at most once per key and input: a repeat returns the
 * first result; concurrent repeats wait for the first; when the first start's
 * answer was lost, a repeat looks for the job it launched before it starts
 * anything. The service's own rule of one running job at a time backs this
 * up: a start that did happen shows in the workflow's job list.
 */
export class JobStarter {
  constructor(
    private readonly jobs: JobStore,
    private readonly keys: IdempotencyStore,
  ) {}

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
      async (since) => {
        const candidate = await this.firstJobSince(since, (page) => this.jobs.listIdMappingJobs(workflowName, page));
        if (!candidate) return undefined;
        const job = await this.jobs.getIdMappingJob(candidate);
        const sameType = request.jobType === undefined || job.jobType === request.jobType;
        const samePath = request.outputSourceConfig === undefined || job.outputSourceConfig?.[0]?.outputS3Path === request.outputSourceConfig[0]?.outputS3Path;
        return sameType && samePath
          ? { workflowName, jobId: job.jobId, jobType: job.jobType, outputSourceConfig: job.outputSourceConfig, acceptedAt: job.startTime }
          : undefined;
      },
    );
  }

  startMatchingJob(workflowName: string, idempotencyKey?: string): Promise<StartedJobRecord> {
    return this.once(
      idempotencyKey,
      JSON.stringify(['startMatchingJob', workflowName]),
      () => this.jobs.startMatchingJob(workflowName),
      async (since) => {
        const candidate = await this.firstJobSince(since, (page) => this.jobs.listMatchingJobs(workflowName, page));
        return candidate && { workflowName, jobId: candidate.jobId, acceptedAt: candidate.startTime };
      },
    );
  }

  private async once<R extends JobKey>(
    key: string | undefined,
    fingerprint: string,
    start: () => Promise<R>,
    findLostStart: (since: number) => Promise<R | undefined>,
  ): Promise<R> {
    if (key === undefined) {
      try {
        return await start();
      } catch (err) {
        throw isUnknownOutcome(err) ? outcomeUnknown(false) : err;
      }
    }
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
      try {
        const found = previous && (await findLostStart(reservedAt));
        const result = found ?? (await start());
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

  /** The oldest job on the first page of a workflow's jobs that started at or after `since`. */
  private async firstJobSince(
    since: number,
    list: (page: { maxResults: number }) => Promise<{ items: JobSummaryRecord[] }>,
  ): Promise<JobSummaryRecord | undefined> {
    const { items } = await list({ maxResults: 25 });
    return items.filter((job) => job.startTime.getTime() >= since - CLOCK_SKEW_MS).at(-1);
  }
}
