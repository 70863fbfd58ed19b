import { randomBytes } from 'node:crypto';
import {
  isActive,
  viewJob,
  type IdMappingJobType,
  type Job,
  type JobView,
  type OutputSource,
  type ProviderService,
  type SchemaMapping,
  type Workflow,
  type WorkflowKind,
} from './model';
import { SEEDED_PROVIDER_SERVICES, SEEDED_SCHEMA_MAPPINGS, SEEDED_WORKFLOWS, seedJobs, startedJobMetrics } from './seed';

/** An error the emulator answers with, named as the service names it. */
export class ServiceError extends Error {
  constructor(
    readonly type:
      | 'ValidationException'
      | 'SerializationException'
      | 'ConflictException'
      | 'ExceedsLimitException'
      | 'AccessDeniedException'
      | 'ResourceNotFoundException'
      | 'ThrottlingException'
      | 'InternalServerException',
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

/** The service pages lists at most this many items at a time. */
export const MAX_PAGE_SIZE = 25;
/** Groups: region, account, name. Only the ID-mapping job operations take an ARN (the model's EntityNameOrIdMappingWorkflowArn). */
const ID_MAPPING_WORKFLOW_ARN =
  /^arn:(?:aws|aws-us-gov|aws-cn):entityresolution:([a-z]{2}-[a-z]{1,10}-[0-9]):([0-9]{12}):idmappingworkflow\/([a-zA-Z_0-9-]{1,255})$/;
const ARN_TYPE: Record<WorkflowKind, string> = { idMapping: 'idmappingworkflow', matching: 'matchingworkflow' };

export interface EmulatorStateOptions {
  /** Epoch milliseconds now; tests pass a clock they move by hand. @default Date.now */
  clock?: () => number;
  /** How long a started job takes from QUEUED to SUCCEEDED. @default 20 */
  jobSeconds?: number;
  region?: string;
  accountId?: string;
  /**
   * Which running job blocks a start: one of its workflow (`workflow`, so
   * demos on several workflows work), or, as the service's quotas say, one of
   * its kind anywhere in the region (`region`). @default 'region'
   */
  concurrency?: Concurrency;
  /** What a start blocked by a job of another workflow is refused with in `region` mode; the service does not document which. @default 'ExceedsLimitException' */
  concurrencyError?: 'ExceedsLimitException' | 'ConflictException';
  /** Workflows beside the demo data's, with no jobs (e.g. `namedWorkflows` of seed.ts): an account with many workflows. @default none */
  workflows?: Workflow[];
}

export type Concurrency = 'workflow' | 'region';

/** The service quotas on running jobs: one of each kind per region, not adjustable. */
const CONCURRENCY_QUOTA: Record<WorkflowKind, string> = { idMapping: 'Concurrent ID mapping jobs', matching: 'Concurrent matching jobs' };

/**
 * Workflows and jobs as the service keeps them. A started job's state is a
 * function of the clock, so reading it at any instant gives the same answer
 * the service would give then, with no timers to clean up.
 */
export class EmulatorState {
  readonly clock: () => number;
  readonly jobSeconds: number;
  readonly concurrency: Concurrency;
  private readonly concurrencyError: 'ExceedsLimitException' | 'ConflictException';
  readonly region: string;
  readonly accountId: string;
  private readonly workflows = new Map<string, Workflow>();
  /** Jobs of each workflow, newest first: the order List answers in. */
  private readonly jobs = new Map<string, Job[]>();
  private readonly schemaMappings = new Map<string, SchemaMapping>(SEEDED_SCHEMA_MAPPINGS.map((mapping) => [mapping.schemaName, mapping]));
  private readonly providerServices: ProviderService[] = SEEDED_PROVIDER_SERVICES;

  constructor(options: EmulatorStateOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.jobSeconds = options.jobSeconds ?? 20;
    this.concurrency = options.concurrency ?? 'region';
    this.concurrencyError = options.concurrencyError ?? 'ExceedsLimitException';
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
    for (const wf of [...SEEDED_WORKFLOWS, ...(options.workflows ?? [])]) this.workflows.set(key(wf.kind, wf.workflowName), wf);
    for (const job of seedJobs()) this.jobsOf(job.kind, job.workflowName).unshift(job);
    for (const list of this.jobs.values()) list.sort((a, b) => b.startTime - a.startTime);
  }

  workflowArn(wf: Workflow): string {
    return `arn:aws:entityresolution:${this.region}:${this.accountId}:${ARN_TYPE[wf.kind]}/${wf.workflowName}`;
  }

  schemaArn(mapping: SchemaMapping): string {
    return `arn:aws:entityresolution:${this.region}:${this.accountId}:schemamapping/${mapping.schemaName}`;
  }

  listSchemaMappings(maxResults: number | undefined, nextToken: string | undefined): Page<SchemaMapping> {
    const all = [...this.schemaMappings.values()].sort((a, b) => a.schemaName.localeCompare(b.schemaName));
    return paginate(all, (mapping) => mapping.schemaName, 'schemas', maxResults, nextToken);
  }

  getSchemaMapping(schemaName: string): SchemaMapping {
    const mapping = this.schemaMappings.get(schemaName);
    if (!mapping) throw new ServiceError('ResourceNotFoundException', `The schema mapping ${schemaName} does not exist.`);
    return mapping;
  }

  /** Whether a workflow's input names the schema mapping. */
  schemaInUse(schemaName: string): boolean {
    return [...this.workflows.values()].some((wf) => wf.inputSourceConfig.some((source) => source.schemaName === schemaName));
  }

  /** The tags of the resource an ARN (the model's VeniceGlobalArn) names, in this account and region. */
  tagsOf(resourceArn: string): Record<string, string> {
    const [, region, accountId, type, name] = /^arn:[^:]+:entityresolution:([^:]+):([0-9]{12}):([a-z]+)\/(.+)$/.exec(resourceArn) ?? [];
    const missing = new ServiceError('ResourceNotFoundException', `The resource ${resourceArn} does not exist.`);
    if (region !== this.region || accountId !== this.accountId) throw missing;
    if (type === 'schemamapping') return this.getSchemaMapping(name).tags ?? {};
    const kind = (Object.keys(ARN_TYPE) as WorkflowKind[]).find((candidate) => ARN_TYPE[candidate] === type);
    const wf = kind && this.workflows.get(key(kind, name));
    if (!wf) throw missing;
    return wf.tags ?? {};
  }

  providerServiceArn(service: ProviderService): string {
    return `arn:aws:entityresolution:${this.region}::providerservice/${service.providerName}/${service.providerServiceName}`;
  }

  listProviderServices(
    providerName: string | undefined,
    maxResults: number | undefined,
    nextToken: string | undefined,
  ): Page<ProviderService> {
    const all = this.providerServices.filter((service) => providerName === undefined || service.providerName === providerName);
    return paginate(all, (service) => this.providerServiceArn(service), `providers:${providerName ?? ''}`, maxResults, nextToken);
  }

  /** A provider's service, named (as the model has it) by the provider and the service's ARN. */
  getProviderService(providerName: string, providerServiceArn: string): ProviderService {
    const service = this.providerServices.find(
      (candidate) => candidate.providerName === providerName && this.providerServiceArn(candidate) === providerServiceArn,
    );
    if (!service)
      throw new ServiceError('ResourceNotFoundException', `The provider service ${providerServiceArn} of ${providerName} does not exist.`);
    return service;
  }

  listWorkflows(kind: WorkflowKind, maxResults: number | undefined, nextToken: string | undefined): Page<Workflow> {
    const all = [...this.workflows.values()].filter((wf) => wf.kind === kind).sort((a, b) => a.workflowName.localeCompare(b.workflowName));
    return paginate(all, (wf) => wf.workflowName, `${kind}:workflows`, maxResults, nextToken);
  }

  getWorkflow(kind: WorkflowKind, workflowName: string): Workflow {
    const name = this.resolveName(kind, workflowName);
    const wf = this.workflows.get(key(kind, name));
    if (!wf) throw new ServiceError('ResourceNotFoundException', `The workflow ${name} does not exist.`);
    return wf;
  }

  listJobs(kind: WorkflowKind, workflowName: string, maxResults: number | undefined, nextToken: string | undefined): Page<JobView> {
    const wf = this.getWorkflow(kind, workflowName);
    const now = this.clock();
    const page = paginate(this.jobsOf(kind, wf.workflowName), (job) => job.jobId, `${kind}:${wf.workflowName}`, maxResults, nextToken);
    return { ...page, items: page.items.map((job) => viewJob(job, now)) };
  }

  getJob(kind: WorkflowKind, workflowName: string, jobId: string): { job: Job; view: JobView } {
    const wf = this.getWorkflow(kind, workflowName);
    const job = this.jobsOf(kind, wf.workflowName).find((j) => j.jobId === jobId);
    if (!job) throw new ServiceError('ResourceNotFoundException', `The job ${jobId} does not exist in workflow ${wf.workflowName}.`);
    return { job, view: viewJob(job, this.clock()) };
  }

  startJob(kind: WorkflowKind, workflowName: string, request: { outputSourceConfig?: OutputSource[]; jobType?: IdMappingJobType }): Job {
    const wf = this.getWorkflow(kind, workflowName);
    const jobs = this.jobsOf(kind, wf.workflowName);
    const now = this.clock();
    const active = jobs.find((j) => isActive(viewJob(j, now)));
    if (active) {
      throw new ServiceError(
        'ConflictException',
        `A job (${active.jobId}) is already running on workflow ${wf.workflowName}; only one job can run at a time.`,
      );
    }
    if (this.concurrency === 'region') {
      const elsewhere = [...this.jobs.values()].flat().find((j) => j.kind === kind && isActive(viewJob(j, now)));
      if (elsewhere) {
        const quota = CONCURRENCY_QUOTA[kind];
        const message = `A job (${elsewhere.jobId}) of workflow ${elsewhere.workflowName} is already running in ${this.region}; the quota ${quota} is 1.`;
        throw this.concurrencyError === 'ExceedsLimitException'
          ? new ServiceError('ExceedsLimitException', message, { quotaName: quota, quotaValue: 1 })
          : new ServiceError('ConflictException', message);
      }
    }
    return this.addJob(kind, wf, now, request, (jobType) => ({
      durationMs: this.jobSeconds * 1000,
      finalMetrics: startedJobMetrics(kind, jobType ?? 'BATCH'),
    }));
  }

  /**
   * Puts a job on a workflow that stays RUNNING, as if started now, until
   * failJob ends it: for demos and tests that need one. It is placed as it
   * is, whatever the running-job rules would say of a start.
   */
  holdRunning(
    kind: WorkflowKind,
    workflowName: string,
    metrics: Record<string, number> = { inputRecords: 240_000, totalRecordsProcessed: 96_000, recordsNotProcessed: 12 },
  ): Job {
    return this.addJob(kind, this.getWorkflow(kind, workflowName), this.clock(), {}, () => ({ status: 'RUNNING', metrics }));
  }

  /**
   * A new job of `wf` started at `startTime`, first in its list (the newest):
   * with the job type and output the request names, else the workflow's own.
   */
  private addJob(
    kind: WorkflowKind,
    wf: Workflow,
    startTime: number,
    request: { outputSourceConfig?: OutputSource[]; jobType?: IdMappingJobType },
    run: (jobType: IdMappingJobType | undefined) => Job['run'],
  ): Job {
    const jobType = kind === 'idMapping' ? (request.jobType ?? (wf.incrementalRunType ? 'INCREMENTAL' : 'BATCH')) : undefined;
    const job: Job = {
      kind,
      workflowName: wf.workflowName,
      jobId: randomBytes(16).toString('hex'),
      startTime,
      jobType,
      outputSourceConfig: request.outputSourceConfig ?? [
        { roleArn: wf.roleArn, outputS3Path: wf.outputS3Path, ...(wf.KMSArn ? { KMSArn: wf.KMSArn } : {}) },
      ],
      run: run(jobType),
    };
    this.jobsOf(kind, wf.workflowName).unshift(job);
    return job;
  }

  /** Ends a job as FAILED now with `errorMessage`, keeping the metrics it had reached (for demos and tests of failure). */
  failJob(kind: WorkflowKind, workflowName: string, jobId: string, errorMessage: string): void {
    const { job, view } = this.getJob(kind, workflowName, jobId);
    job.run = { status: 'FAILED', endTime: this.clock(), metrics: view.metrics, errorMessage };
  }

  /**
   * The workflow's name, given its name or (ID-mapping workflows) its ARN,
   * whose form the request's check has passed. An ARN of another account or
   * region names no workflow here.
   */
  private resolveName(kind: WorkflowKind, workflowName: string): string {
    const arn = kind === 'idMapping' ? ID_MAPPING_WORKFLOW_ARN.exec(workflowName) : null;
    if (!arn) return workflowName;
    const [, region, accountId, name] = arn;
    if (region !== this.region || accountId !== this.accountId) {
      throw new ServiceError(
        'ResourceNotFoundException',
        `The workflow ${workflowName} does not exist in account ${this.accountId}, region ${this.region}.`,
      );
    }
    return name;
  }

  private jobsOf(kind: WorkflowKind, workflowName: string): Job[] {
    let list = this.jobs.get(key(kind, workflowName));
    if (!list) this.jobs.set(key(kind, workflowName), (list = []));
    return list;
  }
}

function key(kind: WorkflowKind, workflowName: string): string {
  return `${kind}:${workflowName}`;
}

/**
 * One page of `all`. A token names the list it came from and the last item
 * its page held, so the next page starts right after that item: jobs started
 * between two fetches (they come first) neither repeat an item nor skip one.
 * A token from another list, or one the emulator did not issue, is a
 * ValidationException as the service answers.
 */
function paginate<T>(
  all: T[],
  keyOf: (item: T) => string,
  listId: string,
  maxResults: number | undefined,
  nextToken: string | undefined,
): Page<T> {
  // The model lets the workflow lists' maxResults go below 1; the emulator then pages as without it.
  const size = maxResults === undefined || maxResults < 1 ? MAX_PAGE_SIZE : maxResults;
  let start = 0;
  if (nextToken !== undefined) {
    const after = decodeToken(nextToken, listId);
    const index = all.findIndex((item) => keyOf(item) === after);
    if (index < 0) throw new ServiceError('ValidationException', 'The nextToken is not valid.');
    start = index + 1;
  }
  const items = all.slice(start, start + size);
  return start + size < all.length ? { items, nextToken: encodeToken(listId, keyOf(items.at(-1)!)) } : { items };
}

function encodeToken(listId: string, after: string): string {
  return Buffer.from(JSON.stringify({ l: listId, a: after })).toString('base64url');
}

function decodeToken(token: string, listId: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      'l' in parsed &&
      'a' in parsed &&
      parsed.l === listId &&
      typeof parsed.a === 'string'
    )
      return parsed.a;
  } catch {
    // Falls through to the service's answer for any token it did not issue.
  }
  throw new ServiceError('ValidationException', 'The nextToken is not valid.');
}
