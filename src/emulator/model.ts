/**
 * The emulator's own records, in the service's wire vocabulary (`KMSArn`,
 * epoch milliseconds inside, epoch seconds on the wire). Nothing here is
 * shared with the gateway: the emulator could be its own package.
 */

export type WorkflowKind = 'idMapping' | 'matching';
export type JobStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
export type IdMappingJobType = 'BATCH' | 'INCREMENTAL' | 'DELETE_ONLY';
export type ResolutionType = 'RULE_MATCHING' | 'ML_MATCHING' | 'PROVIDER';

export interface OutputSource {
  roleArn: string;
  outputS3Path: string;
  KMSArn?: string;
}

export type Metrics = Record<string, number>;

export interface Workflow {
  kind: WorkflowKind;
  workflowName: string;
  description?: string;
  createdAt: number;
  updatedAt: number;
  roleArn: string;
  inputSourceConfig: { inputSourceARN: string; schemaName?: string; type?: 'SOURCE' | 'TARGET'; applyNormalization?: boolean }[];
  outputS3Path: string;
  KMSArn?: string;
  /** Matching: the fields written to the output. */
  output?: { name: string; hashed?: boolean }[];
  /** Matching: the output also goes to an Amazon Connect Customer Profiles domain. */
  customerProfilesIntegrationConfig?: { domainArn: string; objectTypeArn: string };
  tags?: Record<string, string>;
  /** The technique's settings, in the service's own shape. */
  ruleBasedProperties?: Record<string, unknown>;
  ruleConditionProperties?: { rules: { ruleName: string; condition: string }[] };
  providerProperties?: {
    providerServiceArn: string;
    intermediateSourceConfiguration?: { intermediateS3Path: string };
    providerConfiguration?: unknown;
  };
  /** ID mapping workflows: the technique; matching workflows: the resolution type. */
  idMappingType?: 'PROVIDER' | 'RULE_BASED';
  resolutionType?: ResolutionType;
  incrementalRunType?: 'IMMEDIATE' | 'ON_DEMAND';
}

/** A schema mapping: the columns of an input table and what each holds. */
export interface SchemaMapping {
  schemaName: string;
  description?: string;
  mappedInputFields: { fieldName: string; type: string; groupName?: string; matchKey?: string; subType?: string; hashed?: boolean }[];
  createdAt: number;
  updatedAt: number;
  tags?: Record<string, string>;
}

/** A provider's service a provider-based workflow runs through (AWS Data Exchange listings). */
export interface ProviderService {
  providerName: string;
  providerServiceName: string;
  providerServiceDisplayName: string;
  providerServiceType: 'ASSIGNMENT' | 'ID_MAPPING';
  marketplaceConfiguration: { dataSetId: string; revisionId: string; assetId: string; listingId: string };
  anonymizedOutput: boolean;
  providerEntityOutputDefinition: unknown;
  providerConfigurationDefinition?: unknown;
}

/** A job fixed in one state, as seeded. */
export interface FixedRun {
  status: JobStatus;
  endTime?: number;
  metrics?: Metrics;
  errorMessage?: string;
}

/** A job started through the API: its state follows from the clock. */
export interface TimedRun {
  durationMs: number;
  /** Metrics the job reports when it has succeeded; they grow toward these while it runs. */
  finalMetrics: Metrics;
}

export interface Job {
  kind: WorkflowKind;
  workflowName: string;
  jobId: string;
  startTime: number;
  jobType?: IdMappingJobType;
  outputSourceConfig?: OutputSource[];
  run: FixedRun | TimedRun;
}

/** What a job looks like at one instant. */
export interface JobView {
  jobId: string;
  status: JobStatus;
  startTime: number;
  endTime?: number;
  metrics?: Metrics;
  errorMessage?: string;
}

/** The share of a timed job's duration spent QUEUED before it runs. */
const QUEUED_SHARE = 0.1;

/** The state of a job at `now` (epoch ms). */
export function viewJob(job: Job, now: number): JobView {
  const base = { jobId: job.jobId, startTime: job.startTime };
  if (!('durationMs' in job.run)) return { ...base, ...job.run };
  const { durationMs, finalMetrics } = job.run;
  const elapsed = now - job.startTime;
  const queuedMs = durationMs * QUEUED_SHARE;
  if (elapsed < queuedMs) return { ...base, status: 'QUEUED' };
  if (elapsed >= durationMs) {
    return { ...base, status: 'SUCCEEDED', endTime: job.startTime + durationMs, metrics: finalMetrics };
  }
  const share = (elapsed - queuedMs) / (durationMs - queuedMs);
  const metrics: Metrics = {};
  for (const [name, total] of Object.entries(finalMetrics)) {
    // Input is known when the job starts; every other count grows as it runs.
    metrics[name] = name === 'inputRecords' ? total : Math.floor(total * share);
  }
  return { ...base, status: 'RUNNING', metrics };
}

export function isActive(view: JobView): boolean {
  return view.status === 'QUEUED' || view.status === 'RUNNING';
}
