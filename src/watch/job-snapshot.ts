import type { GraphQLError } from 'graphql';
import type { IdMappingJobRecord, MatchingJobRecord } from '../upstream/records';

export type JobRecord = IdMappingJobRecord | MatchingJobRecord;

/**
 * A job as one poll saw it, with `seen`: what a client can see of it, computed
 * once by the poller so that subscribers compare strings instead of jobs.
 */
export interface Snapshot {
  job: JobRecord;
  seen: string;
}

/** What the watcher publishes for a job: a changed snapshot, or the error that ends its watch. */
export type JobEvent = Snapshot | { error: GraphQLError };

/** What a client can see change; a poll that changes none of it publishes nothing. */
export function visible(job: JobRecord): string {
  return JSON.stringify([job.status, job.endTime?.getTime() ?? null, job.metrics ?? null, job.errorDetails ?? null, job.stale]);
}

/** `job` as a snapshot. */
export function snapshotOf(job: JobRecord): Snapshot {
  return { job, seen: visible(job) };
}
