import DataLoader from 'dataloader';
import type { JobStore } from '../upstream/job-store';
import type { IdMappingJobRecord, IdMappingWorkflowRecord, JobKey, MatchingJobRecord, MatchingWorkflowRecord } from '../upstream/records';

/**
 * The loaders of one GraphQL request. Contract: within a request, each
 * distinct key is fetched at most once, however many fields, aliases or list
 * items name it; keys asked for in the same tick go to the JobStore together.
 * A key that fails yields its own Error, so it fails only the fields that
 * asked for it. Build a new set per request (and per subscription event):
 * they cache for their whole life.
 */
export interface Loaders {
  idMappingJob: DataLoader<JobKey, IdMappingJobRecord, string>;
  matchingJob: DataLoader<JobKey, MatchingJobRecord, string>;
  idMappingWorkflow: DataLoader<string, IdMappingWorkflowRecord>;
  matchingWorkflow: DataLoader<string, MatchingWorkflowRecord>;
}

const jobCacheKey = ({ workflowName, jobId }: JobKey) => `${workflowName}\u0000${jobId}`;

/** One call per key, settled: the batch has the keys' length and order, an Error in place of a failed value. */
function eachKey<K, V>(load: (key: K) => Promise<V>) {
  return (keys: readonly K[]): Promise<(V | Error)[]> =>
    Promise.all(keys.map((key) => load(key).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))));
}

/** Each loader is built when a request first uses it: most requests use one, many none. */
export function createLoaders(store: JobStore): Loaders {
  let idMappingJob: Loaders['idMappingJob'] | undefined;
  let matchingJob: Loaders['matchingJob'] | undefined;
  let idMappingWorkflow: Loaders['idMappingWorkflow'] | undefined;
  let matchingWorkflow: Loaders['matchingWorkflow'] | undefined;
  return {
    get idMappingJob() {
      return (idMappingJob ??= new DataLoader(eachKey((key: JobKey) => store.getIdMappingJob(key)), { cacheKeyFn: jobCacheKey }));
    },
    get matchingJob() {
      return (matchingJob ??= new DataLoader(eachKey((key: JobKey) => store.getMatchingJob(key)), { cacheKeyFn: jobCacheKey }));
    },
    get idMappingWorkflow() {
      return (idMappingWorkflow ??= new DataLoader(eachKey((name: string) => store.getIdMappingWorkflow(name))));
    },
    get matchingWorkflow() {
      return (matchingWorkflow ??= new DataLoader(eachKey((name: string) => store.getMatchingWorkflow(name))));
    },
  };
}
