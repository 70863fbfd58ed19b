import DataLoader from 'dataloader';
import type { JobStore } from '../upstream/job-store';
import type { JobKind, JobOfKind, WorkflowOfKind } from '../upstream/kinds';
import type { JobKey, JobSummaryRecord, Page, PageRequest, SchemaMappingRecord, WorkflowSummaryRecord } from '../upstream/records';

/**
 * The loaders of one GraphQL request. Contract: within a request, each
 * distinct key is fetched at most once, however many fields, aliases or list
 * items name it; keys asked for in the same tick go to the JobStore together.
 * A key that fails yields its own Error, so it fails only the fields that
 * asked for it. Build a new set per request (and per subscription event):
 * they cache for their whole life.
 */
export interface Loaders {
  /** Jobs of `kind` by key. */
  job<K extends JobKind>(kind: K): DataLoader<JobKey, JobOfKind[K], string>;
  /** Workflows of `kind` by name. */
  workflow<K extends JobKind>(kind: K): DataLoader<string, WorkflowOfKind[K]>;
  /** Schema mappings by name: the workflows of one answer often share one. */
  schemaMapping: DataLoader<string, SchemaMappingRecord>;
  /** Pages of lists, each read once per request however many fields name it (aliases of one list cost one call). */
  listJobs(kind: JobKind, workflowName: string, page: PageRequest): Promise<Page<JobSummaryRecord>>;
  listWorkflows(kind: JobKind, page: PageRequest): Promise<Page<WorkflowSummaryRecord>>;
}

const jobCacheKey = ({ workflowName, jobId }: JobKey) => `${workflowName}\u0000${jobId}`;

/** One call per key, settled: the batch has the keys' length and order, an Error in place of a failed value. */
function eachKey<K, V>(load: (key: K) => Promise<V>) {
  return (keys: readonly K[]): Promise<(V | Error)[]> =>
    Promise.all(keys.map((key) => load(key).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))));
}

/** Each loader is built when a request first uses it: most requests use one, many none (a class, so a request's set costs one small object). */
class RequestLoaders implements Loaders {
  private loaders?: Map<string, unknown>;

  constructor(private readonly store: JobStore) {}

  listJobs(kind: JobKind, workflowName: string, page: PageRequest): Promise<Page<JobSummaryRecord>> {
    return this.page(`${kind}:jobs\u0000${workflowName}`, page, () => this.store.listJobs(kind, workflowName, page));
  }

  listWorkflows(kind: JobKind, page: PageRequest): Promise<Page<WorkflowSummaryRecord>> {
    return this.page(`${kind}:workflows`, page, () => this.store.listWorkflows(kind, page));
  }

  private page<T>(list: string, { maxResults, nextToken }: PageRequest, read: () => Promise<T>): Promise<T> {
    return this.loader(`${list}\u0000${maxResults ?? ''}\u0000${nextToken ?? ''}`, read);
  }

  job<K extends JobKind>(kind: K): DataLoader<JobKey, JobOfKind[K], string> {
    return this.loader(
      `${kind}:job`,
      () =>
        new DataLoader(
          eachKey((key: JobKey) => this.store.getJob(kind, key)),
          { cacheKeyFn: jobCacheKey },
        ),
    );
  }

  workflow<K extends JobKind>(kind: K): DataLoader<string, WorkflowOfKind[K]> {
    return this.loader(`${kind}:workflow`, () => new DataLoader(eachKey((name: string) => this.store.getWorkflow(kind, name))));
  }

  get schemaMapping(): Loaders['schemaMapping'] {
    return this.loader('schemaMapping', () => new DataLoader(eachKey((name: string) => this.store.getSchemaMapping(name))));
  }

  /** The loader (or page) under `name`, made by `make` on first use. */
  private loader<L>(name: string, make: () => L): L {
    this.loaders ??= new Map();
    let loader = this.loaders.get(name) as L | undefined;
    if (!loader) {
      loader = make();
      this.loaders.set(name, loader);
    }
    return loader;
  }
}

export function createLoaders(store: JobStore): Loaders {
  return new RequestLoaders(store);
}
