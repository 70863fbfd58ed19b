import { GetSchemaMappingCommand } from '@aws-sdk/client-entityresolution';
import type { Context } from '@opentelemetry/api';
import { GraphQLError } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Access } from '../auth/access';
import type { UpstreamClients } from './client';
import { failureName, mapUpstreamError, type UpstreamAction } from './errors';
import { withinDeadline, type RequestDeadline } from './deadline';
import { KINDS, capitalized, type JobKind, type JobOfKind, type JobRecord, type WorkflowOfKind } from './kinds';
import { GovernorRefusal, withTerms, type CallPriority, type CallTerms } from './rate-governor';
import * as map from './mapping';
import type { JobKey, JobSummaryRecord, Page, PageRequest, SchemaMappingRecord, WorkflowSummaryRecord } from './records';
import { isFinal } from './records';

export type { JobKind, JobOfKind } from './kinds';

/** Told of every upstream call once it has ended: `outcome` is `ok` or the error's name; `trace`, the operation's trace context when it is traced. */
export type UpstreamObserver = (operation: string, outcome: string, error?: unknown, trace?: Context) => void;

export interface JobStoreOptions {
  observe?: UpstreamObserver;
  /** Told how each job read was served: from the cache, by sharing a call in flight, or by a new call. */
  observeRead?: (result: 'hit' | 'shared' | 'miss') => void;
  /** Finished jobs kept, least recently used out first; 0 keeps none. @default 10000 */
  finalJobs?: number;
  /** How long a running job's snapshot serves reads without a new call; 0 turns it off. @default 1000 */
  freshnessMs?: number;
  /** For the freshness window. @default performance.now */
  now?: () => number;
  /** Finished jobs shared beyond this process (Redis, with replicas): asked after the in-process cache, before the service. */
  finalStore?: FinalJobStore;
  /** How long a start's call may last in all, its wait for the rate budget and its retries when throttled included: then it is cut. @default 15000 */
  startTimeoutMs?: number;
}

/**
 * Finished jobs kept where every replica, and the next process, finds them.
 * Contract: `get` resolves with the job stored under `id`, or undefined when
 * there is none or the store cannot be reached (the service is asked
 * instead); `put` never throws and never waits.
 */
export interface FinalJobStore {
  /** `trace`: the operation's (or poll's) trace context the read is made for. */
  get(id: string, trace?: Context): Promise<JobRecord | undefined>;
  put(id: string, job: JobRecord): void;
}

/** A job read and how it was served: from the cache, by a call in flight, or by a new call. */
export interface JobRead<R extends JobRecord = JobRecord> {
  job: R;
  served: 'hit' | 'shared' | 'miss';
}

/** Who reads a job: a query (fresh snapshots serve it) or the poller (it needs the service's answer). */
export type ReadPurpose = 'query' | 'poll';

/**
 * The one door to the service: every upstream call of the gateway goes
 * through here, is counted, and fails only with a mapped GraphQL error.
 * Resolvers reach it through per-request loaders; the watcher polls through it.
 *
 * Job reads are frugal across requests: a finished job (SUCCEEDED, FAILED)
 * never changes, so it is kept and never read again; a running job's latest
 * snapshot (a query's or the poller's) serves queries for `freshnessMs`; and
 * concurrent reads of one job share one call.
 */
export class JobStore {
  private readonly client: UpstreamClients['reads'];
  private readonly observe: UpstreamObserver;
  private readonly jobs: LRUCache<string, JobRecord>;
  private readonly freshnessMs: number;
  private readonly keepFinal: boolean;
  /** Calls in flight that others may join: job reads and pages of job lists. */
  private readonly inFlight = new Map<string, Promise<unknown>>();
  /** The deadline this store's calls wait no longer than: none on the store itself, the request's on a view from `forRequest`. */
  readonly deadline?: RequestDeadline;
  /** Whose request this view serves: every read, list and start asks it first. None on the store itself (the watcher's polls). */
  readonly access?: Access;
  /** Who the calls are for (a client of the gateway), so that the rate governor gives each its turn. */
  readonly clientId?: string;
  /** The trace context of the operation (or poll) the calls serve, when it is traced: each call's span is its child. */
  readonly trace?: Context;

  constructor(
    private readonly clients: Pick<UpstreamClients, 'reads' | 'starts'>,
    private readonly options: JobStoreOptions = {},
  ) {
    this.client = clients.reads;
    this.observe = options.observe ?? (() => {});
    this.freshnessMs = options.freshnessMs ?? 1000;
    const finalJobs = options.finalJobs ?? 10_000;
    this.keepFinal = finalJobs > 0;
    const now = options.now;
    this.jobs = new LRUCache<string, JobRecord>({ max: Math.max(1, finalJobs), ...(now ? { perf: { now }, ttlResolution: 0 } : {}) });
  }

  /**
   * A view of this store for one request: every call it makes waits no longer
   * than `deadline` (and the rate governor holds it to it), and is made only
   * when `access` allows it; a workflow list shows only the workflows it may
   * read. Caches, calls in flight and counters are this store's. Costs one
   * small object.
   */
  forRequest(deadline: RequestDeadline, access: Access, clientId: string, trace?: Context): JobStore {
    // Assigned, not defined by descriptor: views then share one shape, and making one stays cheap.
    const view = Object.create(this) as { deadline?: RequestDeadline; access?: Access; clientId?: string; trace?: Context };
    view.deadline = deadline;
    view.access = access;
    view.clientId = clientId;
    view.trace = trace;
    return view as JobStore;
  }

  /** A view whose calls are children of `trace` (a poll's), with this view's deadline, policy and client. */
  forTrace(trace: Context): JobStore {
    const view = Object.create(this) as { trace?: Context };
    view.trace = trace;
    return view as JobStore;
  }

  /** A view whose calls are `client`'s turns at the rate governor, with no deadline or policy of a request (a subscription's first read). */
  forClient(clientId: string): JobStore {
    const view = Object.create(this) as { clientId?: string };
    view.clientId = clientId;
    return view as JobStore;
  }

  getJob<K extends JobKind>(kind: K, key: JobKey, purpose: ReadPurpose = 'query'): Promise<JobOfKind[K]> {
    return this.readJob(kind, key, purpose).then((read) => read.job);
  }

  /**
   * Reads a job of either kind and says how it was served: `hit` from the
   * cache, `shared` by joining a call in flight, `miss` by a new call.
   */
  readJob<K extends JobKind>(kind: K, key: JobKey, purpose: ReadPurpose): Promise<JobRead<JobOfKind[K]>> {
    const refused = this.access?.refusal('read', key.workflowName);
    if (refused) return Promise.reject(refused);
    const { names, label, commands, records } = KINDS[kind];
    const operation = names.getJob;
    const subject = `${capitalized(label)} job ${key.jobId} of workflow ${key.workflowName}`;
    const id = `${operation}:${key.workflowName}:${key.jobId}`;
    const kept = this.jobs.get(id) as JobOfKind[K] | undefined;
    // A finished job serves everyone; a fresh running snapshot serves queries, not the poller.
    if (kept && (isFinal(kept.status) || purpose === 'query')) {
      this.options.observeRead?.('hit');
      return Promise.resolve({ job: kept, served: 'hit' });
    }
    const finalStore = this.options.finalStore;
    const read = () =>
      this.callService(
        operation,
        subject,
        commands.getJob({ workflowName: key.workflowName, jobId: key.jobId }),
        'read',
        purpose === 'poll' ? 'poll' : 'interactive',
        true,
      ).then((out) => {
        const job = records.job(key, out as never) as JobOfKind[K];
        if (isFinal(job.status) ? this.keepFinal : this.freshnessMs > 0) {
          this.jobs.set(id, job, { ttl: isFinal(job.status) ? 0 : this.freshnessMs });
        } else {
          this.jobs.delete(id);
        }
        if (isFinal(job.status)) finalStore?.put(id, job);
        return { job, stored: false };
      });
    const { result, joined } = this.joinOrStart(id, subject, () =>
      finalStore
        ? finalStore.get(id, this.trace).then((stored) => {
            if (!stored) return read();
            if (this.keepFinal) this.jobs.set(id, stored, { ttl: 0 });
            return { job: stored as JobOfKind[K], stored: true };
          })
        : read(),
    );
    return result.then(
      ({ job, stored }) => {
        // A job another replica (or an earlier process) finished and stored is a hit: no call was made for it.
        const served = stored ? 'hit' : joined ? 'shared' : 'miss';
        this.options.observeRead?.(served);
        return { job, served };
      },
      (err: unknown) => {
        this.options.observeRead?.(joined ? 'shared' : 'miss');
        throw err;
      },
    );
  }

  /** A page of a workflow's jobs; a live list's poll reads at `poll` priority, yielding to queries. Concurrent requests for the same page share one call. */
  listJobs(
    kind: JobKind,
    workflowName: string,
    page: PageRequest,
    priority: CallPriority = 'interactive',
  ): Promise<Page<JobSummaryRecord>> {
    const refused = this.access?.refusal('read', workflowName);
    if (refused) return Promise.reject(refused);
    const { names, label, commands } = KINDS[kind];
    const subject = `The jobs of ${label} workflow ${workflowName}`;
    const id = `${names.listJobs}:${workflowName}:${page.maxResults}:${page.nextToken ?? ''}`;
    return this.joinOrStart(id, subject, () =>
      this.callService<{ jobs?: Parameters<typeof map.jobSummary>[1][]; nextToken?: string }>(
        names.listJobs,
        subject,
        commands.listJobs({ workflowName, ...page }),
        'read',
        priority,
        true,
      ).then((out) => ({
        items: (out.jobs ?? []).map((job) => map.jobSummary(workflowName, job)),
        nextToken: out.nextToken,
      })),
    ).result;
  }

  /**
   * Joins the call in flight under `id`, or starts it with `start`. Each
   * caller waits until its own deadline; the call itself is not cut by the
   * first caller's, and finishes for the others and for the cache.
   */
  private joinOrStart<T>(id: string, subject: string, start: () => Promise<T>): { result: Promise<T>; joined: boolean } {
    let pending = this.inFlight.get(id) as Promise<T> | undefined;
    const joined = pending !== undefined;
    if (!pending) {
      pending = start().finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return { result: withinDeadline(pending, this.deadline, subject), joined };
  }

  async getWorkflow<K extends JobKind>(kind: K, workflowName: string): Promise<WorkflowOfKind[K]> {
    this.require('read', workflowName);
    const { names, label, commands, records } = KINDS[kind];
    const out = await this.callService(
      names.getWorkflow,
      `${capitalized(label)} workflow ${workflowName}`,
      commands.getWorkflow({ workflowName }),
    );
    return records.workflow(out as never) as WorkflowOfKind[K];
  }

  /**
   * A schema mapping, by name. Reached only from the input sources of a
   * workflow this view's principal may read (the policy grants workflows),
   * so it asks the policy nothing more.
   */
  async getSchemaMapping(schemaName: string): Promise<SchemaMappingRecord> {
    const out = await this.callService('GetSchemaMapping', `Schema mapping ${schemaName}`, new GetSchemaMappingCommand({ schemaName }));
    return map.schemaMapping(out as never);
  }

  async listWorkflows(kind: JobKind, page: PageRequest): Promise<Page<WorkflowSummaryRecord>> {
    const { names, label, commands } = KINDS[kind];
    const out = await this.callService<{ workflowSummaries?: Parameters<typeof map.workflowSummary>[0][]; nextToken?: string }>(
      names.listWorkflows,
      `The list of ${label} workflows`,
      commands.listWorkflows(page),
    );
    return this.readable((out.workflowSummaries ?? []).map(map.workflowSummary), out.nextToken);
  }

  /** A page of workflows as this view's principal may see it: the others are left out, and each item keeps its place in the service's page. */
  private readable(workflows: WorkflowSummaryRecord[], nextToken: string | undefined): Page<WorkflowSummaryRecord> {
    const access = this.access;
    if (!access) return { items: workflows, nextToken };
    const at = workflows.flatMap((wf, i) => (access.can('read', wf.workflowName) ? [i] : []));
    return { items: at.map((i) => workflows[i]), at, nextToken };
  }

  /** Throws the access's refusal, if any. */
  private require(action: 'read', workflowName: string): void {
    const refused = this.access?.refusal(action, workflowName);
    if (refused) throw refused;
  }

  /**
   * One upstream call under the current request's deadline: the caller waits
   * no longer than it allows. The SDK gets the deadline's abort signal too,
   * except for calls others share (they finish for the cache) and for starts,
   * whose calls last until `startTimeoutMs` (the rate governor still refuses
   * a start whose turn would come after the deadline). `command` is one of
   * the kinds table's (or the schema mapping's Get); a start goes through the
   * client that retries only when throttled. Its answer is the command's
   * output, for the caller's mapper. Starts come from upstream/starts.ts.
   */
  async callService<T = unknown>(
    operation: string,
    subject: string,
    command: object,
    action: UpstreamAction = 'read',
    priority: CallPriority = 'interactive',
    shared = false,
  ): Promise<T> {
    const deadline = this.deadline;
    const starting = action === 'start';
    const abortSignal = starting ? AbortSignal.timeout(this.options.startTimeoutMs ?? 15_000) : shared ? undefined : deadline?.signal;
    const terms: CallTerms = {
      priority,
      remainingMs: deadline && (() => deadline.remainingMs),
      client: this.clientId,
      signal: abortSignal,
      trace: this.trace,
    };
    try {
      const client = starting ? this.clients.starts : this.client;
      const out = await withinDeadline(
        client.send(withTerms(command, terms) as never, { abortSignal }) as Promise<T>,
        shared || starting ? undefined : deadline,
        subject,
      );
      this.observe(operation, 'ok', undefined, this.trace);
      return out;
    } catch (err) {
      // The governor's refusal is not a call: nothing reached the service.
      if (err instanceof GovernorRefusal) throw err;
      if (err instanceof GraphQLError && err.extensions.reason !== undefined) {
        this.observe(operation, String(err.extensions.reason), undefined, this.trace);
        throw err;
      }
      this.observe(operation, failureName(err), err, this.trace);
      throw mapUpstreamError(err, subject, action, operation);
    }
  }
}
