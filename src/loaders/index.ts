import DataLoader from 'dataloader';
import type { JobStore } from '../upstream/job-store';
import type {
  IdMappingJobRecord,
  IdMappingWorkflowRecord,
  JobKey,
  JobSummaryRecord,
  MatchingJobRecord,
  MatchingWorkflowRecord,
  Page,
  PageRequest,
  SchemaMappingRecord,
  WorkflowSummaryRecord,
} from '../upstream/records';

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
  /** Schema mappings by name: the workflows of one answer often share one. */
  schemaMapping: DataLoader<string, SchemaMappingRecord>;
  /** Pages of lists, each read once per request however many fields name it (aliases of one list cost one call). */
  listIdMappingJobs(workflowName: string, page: PageRequest): Promise<Page<JobSummaryRecord>>;
  listMatchingJobs(workflowName: string, page: PageRequest): Promise<Page<JobSummaryRecord>>;
  listIdMappingWorkflows(page: PageRequest): Promise<Page<WorkflowSummaryRecord>>;
  listMatchingWorkflows(page: PageRequest): Promise<Page<WorkflowSummaryRecord>>;
}

const jobCacheKey = ({ workflowName, jobId }: JobKey) => `${workflowName}\u0000${jobId}`;

/** One call per key, settled: the batch has the keys' length and order, an Error in place of a failed value. */
function eachKey<K, V>(load: (key: K) => Promise<V>) {
  return (keys: readonly K[]): Promise<(V | Error)[]> =>
    Promise.all(keys.map((key) => load(key).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))));
}

/** Each loader is built when a request first uses it: most requests use one, many none (a class, so a request's set costs one small object). */
class RequestLoaders implements Loaders {
  private idMappingJobLoader?: Loaders['idMappingJob'];
  private matchingJobLoader?: Loaders['matchingJob'];
  private idMappingWorkflowLoader?: Loaders['idMappingWorkflow'];
  private matchingWorkflowLoader?: Loaders['matchingWorkflow'];
  private schemaMappingLoader?: Loaders['schemaMapping'];
  private pages?: Map<string, Promise<unknown>>;

  constructor(private readonly store: JobStore) {}

  listIdMappingJobs(workflowName: string, page: PageRequest): Promise<Page<JobSummaryRecord>> {
    return this.page(`ListIdMappingJobs\u0000${workflowName}`, page, () => this.store.listIdMappingJobs(workflowName, page));
  }

  listMatchingJobs(workflowName: string, page: PageRequest): Promise<Page<JobSummaryRecord>> {
    return this.page(`ListMatchingJobs\u0000${workflowName}`, page, () => this.store.listMatchingJobs(workflowName, page));
  }

  listIdMappingWorkflows(page: PageRequest): Promise<Page<WorkflowSummaryRecord>> {
    return this.page('ListIdMappingWorkflows', page, () => this.store.listIdMappingWorkflows(page));
  }

  listMatchingWorkflows(page: PageRequest): Promise<Page<WorkflowSummaryRecord>> {
    return this.page('ListMatchingWorkflows', page, () => this.store.listMatchingWorkflows(page));
  }

  private page<T>(list: string, { maxResults, nextToken }: PageRequest, read: () => Promise<T>): Promise<T> {
    const key = `${list}\u0000${maxResults ?? ''}\u0000${nextToken ?? ''}`;
    this.pages ??= new Map();
    let pending = this.pages.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = read();
      this.pages.set(key, pending);
    }
    return pending;
  }

  get idMappingJob(): Loaders['idMappingJob'] {
    return (this.idMappingJobLoader ??= new DataLoader(eachKey((key: JobKey) => this.store.getIdMappingJob(key)), { cacheKeyFn: jobCacheKey }));
  }

  get matchingJob(): Loaders['matchingJob'] {
    return (this.matchingJobLoader ??= new DataLoader(eachKey((key: JobKey) => this.store.getMatchingJob(key)), { cacheKeyFn: jobCacheKey }));
  }

  get idMappingWorkflow(): Loaders['idMappingWorkflow'] {
    return (this.idMappingWorkflowLoader ??= new DataLoader(eachKey((name: string) => this.store.getIdMappingWorkflow(name))));
  }

  get matchingWorkflow(): Loaders['matchingWorkflow'] {
    return (this.matchingWorkflowLoader ??= new DataLoader(eachKey((name: string) => this.store.getMatchingWorkflow(name))));
  }

  get schemaMapping(): Loaders['schemaMapping'] {
    return (this.schemaMappingLoader ??= new DataLoader(eachKey((name: string) => this.store.getSchemaMapping(name))));
  }
}

export function createLoaders(store: JobStore): Loaders {
  return new RequestLoaders(store);
}
