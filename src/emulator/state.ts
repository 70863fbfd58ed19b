import { randomBytes } from 'node:crypto';
import { isActive, viewJob, type IdMappingJobType, type Job, type JobView, type OutputSource, type Workflow, type WorkflowKind } from './model';
import { SEEDED_WORKFLOWS, seedJobs, startedJobMetrics } from './seed';

/** An error the emulator answers with, named as the service names it. */
export class ServiceError extends Error {
  constructor(
    readonly type:
      | 'ValidationException'
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
const MAX_TOKEN_LENGTH = 1024;
const JOB_ID = /^[a-f0-9]{32}$/;
const WORKFLOW_NAME = /^[a-zA-Z_0-9\-=+/]*$/;
const WORKFLOW_ARN = /^arn:(aws|aws-us-gov|aws-cn):entityresolution:[a-z]{2}-[a-z]{1,10}-[0-9]:[0-9]{12}:(idmappingworkflow|matchingworkflow)\/([a-zA-Z_0-9-]{1,255})$/;
const ARN_TYPE: Record<WorkflowKind, string> = { idMapping: 'idmappingworkflow', matching: 'matchingworkflow' };

export interface EmulatorStateOptions {
  /** Epoch milliseconds now; tests pass a clock they move by hand. @default Date.now */
  clock?: () => number;
  /** How long a started job takes from QUEUED to SUCCEEDED. @default 20 */
  jobSeconds?: number;
  region?: string;
  accountId?: string;
}

/**
 * Workflows and jobs as the service keeps them. A started job's state is a
 * function of the clock, so reading it at any instant gives the same answer
 * the service would give then, with no timers to clean up.
 */
export class EmulatorState {
  readonly clock: () => number;
  readonly jobSeconds: number;
  readonly region: string;
  readonly accountId: string;
  private readonly workflows = new Map<string, Workflow>();
  /** Jobs of each workflow, newest first: the order List answers in. */
  private readonly jobs = new Map<string, Job[]>();

  constructor(options: EmulatorStateOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.jobSeconds = options.jobSeconds ?? 20;
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
    for (const wf of SEEDED_WORKFLOWS) this.workflows.set(key(wf.kind, wf.workflowName), wf);
    for (const job of seedJobs()) this.jobsOf(job.kind, job.workflowName).unshift(job);
    for (const list of this.jobs.values()) list.sort((a, b) => b.startTime - a.startTime);
  }

  workflowArn(wf: Workflow): string {
    return `arn:aws:entityresolution:${this.region}:${this.accountId}:${ARN_TYPE[wf.kind]}/${wf.workflowName}`;
  }

  listWorkflows(kind: WorkflowKind, maxResults: string | undefined, nextToken: string | undefined): Page<Workflow> {
    const all = [...this.workflows.values()].filter((wf) => wf.kind === kind).sort((a, b) => a.workflowName.localeCompare(b.workflowName));
    return paginate(all, `${kind}:workflows`, maxResults, nextToken);
  }

  getWorkflow(kind: WorkflowKind, workflowName: string): Workflow {
    const name = this.resolveName(kind, workflowName);
    const wf = this.workflows.get(key(kind, name));
    if (!wf) throw new ServiceError('ResourceNotFoundException', `The workflow ${name} does not exist.`);
    return wf;
  }

  listJobs(kind: WorkflowKind, workflowName: string, maxResults: string | undefined, nextToken: string | undefined): Page<JobView> {
    const wf = this.getWorkflow(kind, workflowName);
    const now = this.clock();
    const page = paginate(this.jobsOf(kind, wf.workflowName), `${kind}:${wf.workflowName}`, maxResults, nextToken);
    return { ...page, items: page.items.map((job) => viewJob(job, now)) };
  }

  getJob(kind: WorkflowKind, workflowName: string, jobId: string): { job: Job; view: JobView } {
    if (!JOB_ID.test(jobId)) throw new ServiceError('ValidationException', `jobId ${jobId} does not match ^[a-f0-9]{32}$.`);
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
      throw new ServiceError('ConflictException', `A job (${active.jobId}) is already running on workflow ${wf.workflowName}; only one job can run at a time.`);
    }
    const jobType = kind === 'idMapping' ? (request.jobType ?? (wf.incrementalRunType ? 'INCREMENTAL' : 'BATCH')) : undefined;
    const outputSourceConfig = request.outputSourceConfig ?? [
      { roleArn: wf.roleArn, outputS3Path: wf.outputS3Path, ...(wf.KMSArn ? { KMSArn: wf.KMSArn } : {}) },
    ];
    const job: Job = {
      kind,
      workflowName: wf.workflowName,
      jobId: randomBytes(16).toString('hex'),
      startTime: now,
      jobType,
      outputSourceConfig,
      run: { durationMs: this.jobSeconds * 1000, finalMetrics: startedJobMetrics(kind, jobType ?? 'BATCH') },
    };
    jobs.unshift(job);
    return job;
  }

  /** Ends a job as FAILED now with `errorMessage`, keeping the metrics it had reached (for demos and tests of failure). */
  failJob(kind: WorkflowKind, workflowName: string, jobId: string, errorMessage: string): void {
    const { job, view } = this.getJob(kind, workflowName, jobId);
    job.run = { status: 'FAILED', endTime: this.clock(), metrics: view.metrics, errorMessage };
  }

  /** The workflow's name, whether it was given by name or by ARN. */
  private resolveName(kind: WorkflowKind, workflowName: string): string {
    const arn = WORKFLOW_ARN.exec(workflowName);
    if (arn) {
      if (arn[2] !== ARN_TYPE[kind]) throw new ServiceError('ValidationException', `${workflowName} is not an ${ARN_TYPE[kind]} ARN.`);
      return arn[3];
    }
    if (!WORKFLOW_NAME.test(workflowName) || workflowName.length === 0 || workflowName.length > 255) {
      throw new ServiceError('ValidationException', `workflowName ${workflowName} does not match ^[a-zA-Z_0-9-=+/]*$.`);
    }
    return workflowName;
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
 * One page of `all`. Tokens are opaque to clients and bound to the list they
 * came from: a token from another list, or one that was tampered with, is a
 * ValidationException as the service answers.
 */
function paginate<T>(all: T[], listId: string, maxResults: string | undefined, nextToken: string | undefined): Page<T> {
  const size = maxResults === undefined ? MAX_PAGE_SIZE : Number(maxResults);
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new ServiceError('ValidationException', `maxResults must be between 1 and ${MAX_PAGE_SIZE}.`);
  }
  const offset = nextToken === undefined ? 0 : decodeToken(nextToken, listId);
  const items = all.slice(offset, offset + size);
  const next = offset + size;
  return next < all.length ? { items, nextToken: encodeToken(listId, next) } : { items };
}

function encodeToken(listId: string, offset: number): string {
  return Buffer.from(JSON.stringify({ l: listId, o: offset })).toString('base64url');
}

function decodeToken(token: string, listId: string): number {
  const invalid = new ServiceError('ValidationException', 'The nextToken is not valid.');
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw invalid;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'l' in parsed && 'o' in parsed) {
      const { l, o } = parsed;
      if (l === listId && typeof o === 'number' && Number.isInteger(o) && o >= 0) return o;
    }
  } catch {
    // Falls through to the service's answer for any token it did not issue.
  }
  throw invalid;
}
