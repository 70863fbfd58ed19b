import * as sdk from '@aws-sdk/client-entityresolution';
import * as map from './mapping';
import type { JobKey, JobSummaryRecord, PageRequest, StartJobRequest } from './records';
import type * as records from './records';

/**
 * The two kinds of job, ID mapping and matching, as the whole gateway names
 * them (the emulator keeps its own words). They differ in a few names and
 * fields; the table below says each difference once, and every layer reads
 * it instead of writing the pair out again.
 */
export type JobKind = 'idMapping' | 'matching';

/** What each kind's reads and starts answer. */
interface KindRecords {
  idMapping: { job: records.IdMappingJobRecord; workflow: records.IdMappingWorkflowRecord; started: records.StartedIdMappingJobRecord };
  matching: { job: records.MatchingJobRecord; workflow: records.MatchingWorkflowRecord; started: records.StartedJobRecord };
}

export type JobOfKind = { [K in JobKind]: KindRecords[K]['job'] };
export type WorkflowOfKind = { [K in JobKind]: KindRecords[K]['workflow'] };
export type StartedOfKind = { [K in JobKind]: KindRecords[K]['started'] };
/** A job of either kind, in full. */
export type JobRecord = JobOfKind[JobKind];

/** The names a kind goes by, derived from its one stem (`IdMapping`, `Matching`): SDK operations, GraphQL types and fields, global ids. */
function namesOf<S extends string>(stem: S) {
  const field = `${stem[0].toLowerCase()}${stem.slice(1)}` as Uncapitalize<S>;
  return {
    /** SDK operations, as metrics and errors name them. */
    getJob: `Get${stem}Job`,
    listJobs: `List${stem}Jobs`,
    getWorkflow: `Get${stem}Workflow`,
    listWorkflows: `List${stem}Workflows`,
    startJob: `Start${stem}Job`,
    /** GraphQL object types, which are also the global-id type names. */
    jobType: `${stem}Job`,
    workflowType: `${stem}Workflow`,
    /** GraphQL root fields. */
    jobQuery: `${field}Job`,
    jobsQuery: `${field}Jobs`,
    workflowQuery: `${field}Workflow`,
    workflowsQuery: `${field}Workflows`,
    startMutation: `start${stem}Job`,
    startPayloadType: `Start${stem}JobPayload`,
    /** A job's live progress, and a workflow's live list of newest jobs. */
    jobSubscription: `${field}JobUpdated`,
    liveList: `${field}JobsChanged`,
  } as const;
}

/** The SDK's command class of `operation`: every operation of the service has one, named after it. */
function command<I>(operation: string): (input: I) => object {
  const Command = (sdk as unknown as Record<string, new (input: I) => object>)[`${operation}Command`];
  if (!Command) throw new Error(`The SDK has no ${operation}Command.`);
  return (input) => new Command(input);
}

/** A kind's SDK commands, found by the names of its operations. */
function commandsOf(names: ReturnType<typeof namesOf<string>>) {
  return {
    getJob: command<JobKey>(names.getJob),
    listJobs: command<PageRequest & { workflowName: string }>(names.listJobs),
    getWorkflow: command<{ workflowName: string }>(names.getWorkflow),
    listWorkflows: command<PageRequest>(names.listWorkflows),
    startJob: command<object>(names.startJob),
  };
}

/**
 * How a retried start finds the job a lost start launched among the jobs of
 * its window: by the list's summary alone when the start takes no input
 * (any job of the window is the same start), or by reading each job and
 * comparing its input with the request's.
 */
type LostStartRule<K extends JobKind> =
  | { reads: 'summary'; adopt(workflowName: string, job: JobSummaryRecord): StartedOfKind[K] }
  | { reads: 'job'; adopt(workflowName: string, job: JobOfKind[K], request: StartJobRequest): StartedOfKind[K] | undefined };

/** One kind, said once. */
export interface KindSpec<K extends JobKind> {
  names: ReturnType<typeof namesOf<string>>;
  /** As prose names the kind in messages and descriptions: `ID-mapping job …`, `matching workflow …`. */
  label: string;
  /** The ARN resource type of its workflows. */
  arnType: 'idmappingworkflow' | 'matchingworkflow';
  /** The SDK commands of its reads and its start, by the operations' names. */
  commands: ReturnType<typeof commandsOf>;
  /** What its Start command is sent: the workflow, and what the kind's start takes of `request`. */
  startCommandInput(workflowName: string, request: StartJobRequest): object;
  /** The service's answers as our records (each takes its command's output). */
  records: {
    job(key: JobKey, out: never): JobOfKind[K];
    workflow(out: never): WorkflowOfKind[K];
    started(workflowName: string, out: never): StartedOfKind[K];
  };
  /** What a start's idempotency fingerprint holds of its request, beyond the mutation and the workflow. */
  fingerprintInput(request: StartJobRequest): unknown[];
  lostStart: LostStartRule<K>;
  /** The record fields a List's summary carries; any other field of a listed item costs a Get. */
  summaryFields: { job: readonly string[]; workflow: readonly string[] };
}

const JOB_SUMMARY_FIELDS = ['workflowName', 'jobId', 'status', 'startTime', 'endTime', 'observedAt', 'stale'] as const;
const WORKFLOW_SUMMARY_FIELDS = ['workflowName', 'workflowArn', 'createdAt', 'updatedAt'] as const;

const outputSources = (request: StartJobRequest) =>
  request.outputSourceConfig?.map(({ roleArn, outputS3Path, kmsArn }) => ({ roleArn, outputS3Path, KMSArn: kmsArn }));

const ID_MAPPING = namesOf('IdMapping');
const MATCHING = namesOf('Matching');

/** The kinds table. */
export const KINDS: { [K in JobKind]: KindSpec<K> } = {
  idMapping: {
    names: ID_MAPPING,
    label: 'ID-mapping',
    arnType: 'idmappingworkflow',
    commands: commandsOf(ID_MAPPING),
    startCommandInput: (workflowName, request) => ({ workflowName, outputSourceConfig: outputSources(request), jobType: request.jobType }),
    records: { job: map.idMappingJob, workflow: map.idMappingWorkflow, started: map.startedIdMappingJob },
    fingerprintInput: (request) => [
      request.jobType ?? null,
      (request.outputSourceConfig ?? []).map((o) => [o.roleArn, o.outputS3Path, o.kmsArn ?? null]),
    ],
    lostStart: {
      reads: 'job',
      adopt(workflowName, job, request) {
        const sameType = request.jobType === undefined || job.jobType === request.jobType;
        const samePath =
          request.outputSourceConfig === undefined ||
          job.outputSourceConfig?.[0]?.outputS3Path === request.outputSourceConfig[0]?.outputS3Path;
        return sameType && samePath
          ? { workflowName, jobId: job.jobId, jobType: job.jobType, outputSourceConfig: job.outputSourceConfig, acceptedAt: job.startTime }
          : undefined;
      },
    },
    summaryFields: { job: JOB_SUMMARY_FIELDS, workflow: WORKFLOW_SUMMARY_FIELDS },
  },
  matching: {
    names: MATCHING,
    label: 'matching',
    arnType: 'matchingworkflow',
    commands: commandsOf(MATCHING),
    startCommandInput: (workflowName) => ({ workflowName }),
    records: { job: map.matchingJob, workflow: map.matchingWorkflow, started: map.startedJob },
    // A matching start takes no input beyond its workflow.
    fingerprintInput: () => [],
    lostStart: { reads: 'summary', adopt: (workflowName, job) => ({ workflowName, jobId: job.jobId, acceptedAt: job.startTime }) },
    // A matching workflow's summary says how it resolves.
    summaryFields: { job: JOB_SUMMARY_FIELDS, workflow: [...WORKFLOW_SUMMARY_FIELDS, 'resolutionType'] },
  },
};

/** Every kind, in the schema's order. */
export const JOB_KINDS = Object.keys(KINDS) as JobKind[];

/** `label` as the first word of a sentence. */
export function capitalized(label: string): string {
  return `${label[0].toUpperCase()}${label.slice(1)}`;
}
