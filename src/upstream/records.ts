/**
 * What the rest of the gateway sees of the service: plain records in our own
 * vocabulary. SDK types stop at upstream/; schema classes describe these
 * records to GraphQL.
 */

export type JobStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
export type IdMappingJobType = 'BATCH' | 'INCREMENTAL' | 'DELETE_ONLY';
export type ResolutionType = 'RULE_MATCHING' | 'ML_MATCHING' | 'PROVIDER';

/** A job is named by its workflow and its ID; this is also its federation key. */
export interface JobKey {
  workflowName: string;
  jobId: string;
}

/** What List returns for each job. */
export interface JobSummaryRecord extends JobKey {
  status: JobStatus;
  startTime: Date;
  endTime?: Date;
  /** When the gateway heard this from the service. */
  observedAt: Date;
  /** A summary is what List just answered: never stale. */
  stale: false;
  /** False: metrics, errorDetails, outputSourceConfig and jobType need a Get. */
  detailed: false;
}

export interface OutputSourceRecord {
  roleArn: string;
  outputS3Path: string;
  kmsArn?: string;
}

export interface ErrorDetailsRecord {
  errorMessage?: string;
}

export interface IdMappingJobMetricsRecord {
  inputRecords?: number;
  totalRecordsProcessed?: number;
  recordsNotProcessed?: number;
  deleteRecordsProcessed?: number;
  totalMappedRecords?: number;
  totalMappedSourceRecords?: number;
  totalMappedTargetRecords?: number;
  uniqueRecordsLoaded?: number;
  newMappedRecords?: number;
  newMappedSourceRecords?: number;
  newMappedTargetRecords?: number;
  newUniqueRecordsLoaded?: number;
  mappedRecordsRemoved?: number;
  mappedSourceRecordsRemoved?: number;
  mappedTargetRecordsRemoved?: number;
}

export interface MatchingJobMetricsRecord {
  inputRecords?: number;
  totalRecordsProcessed?: number;
  recordsNotProcessed?: number;
  deleteRecordsProcessed?: number;
  matchIDs?: number;
}

interface JobDetail<Metrics> extends JobKey {
  status: JobStatus;
  startTime: Date;
  endTime?: Date;
  metrics?: Metrics;
  errorDetails?: ErrorDetailsRecord;
  outputSourceConfig?: OutputSourceRecord[];
  /** When the gateway heard this from the service. */
  observedAt: Date;
  /** True on a watched job's last known state while polls of it fail. */
  stale: boolean;
  detailed: true;
}

/** What GetIdMappingJob returns. */
export interface IdMappingJobRecord extends JobDetail<IdMappingJobMetricsRecord> {
  jobType?: IdMappingJobType;
}

/** What GetMatchingJob returns. */
export type MatchingJobRecord = JobDetail<MatchingJobMetricsRecord>;

export interface InputSourceRecord {
  inputSourceArn: string;
  schemaName?: string;
  /** ID mapping: SOURCE or TARGET. */
  type?: string;
  /** Matching: whether input is normalized. */
  applyNormalization?: boolean;
}

export interface WorkflowOutputSourceRecord {
  outputS3Path?: string;
  kmsArn?: string;
  applyNormalization?: boolean;
  output?: { name: string; hashed?: boolean }[];
  /** Matching: the Amazon Connect Customer Profiles domain and object type the output also goes to. */
  customerProfilesIntegration?: { domainArn: string; objectTypeArn: string };
}

/** What GetSchemaMapping returns: the columns of an input table and what each holds. */
export interface SchemaMappingRecord {
  schemaName: string;
  schemaArn: string;
  description?: string;
  fields: { fieldName: string; type: string; groupName?: string; matchKey?: string; subType?: string; hashed?: boolean }[];
  createdAt: Date;
  updatedAt: Date;
  tags?: { key: string; value: string }[];
  /** Whether a workflow uses it. */
  hasWorkflows: boolean;
}

export interface RuleBasedPropertiesRecord {
  rules?: { ruleName: string; matchingKeys: string[] }[];
  attributeMatchingModel?: string;
  recordMatchingModel?: string;
  ruleDefinitionType?: string;
  matchPurpose?: string;
}

export interface ProviderPropertiesRecord {
  providerServiceArn: string;
  intermediateS3Path?: string;
  providerConfiguration?: unknown;
}

/** What List returns for each workflow. */
export interface WorkflowSummaryRecord {
  workflowName: string;
  workflowArn: string;
  createdAt: Date;
  updatedAt: Date;
  /** Matching workflows only. */
  resolutionType?: ResolutionType;
  detailed: false;
}

interface WorkflowDetail {
  workflowName: string;
  workflowArn: string;
  description?: string;
  createdAt: Date;
  updatedAt: Date;
  roleArn?: string;
  inputSourceConfig: InputSourceRecord[];
  outputSourceConfig?: WorkflowOutputSourceRecord[];
  incrementalRunType?: string;
  ruleBasedProperties?: RuleBasedPropertiesRecord;
  providerProperties?: ProviderPropertiesRecord;
  tags?: { key: string; value: string }[];
  detailed: true;
}

export interface IdMappingWorkflowRecord extends WorkflowDetail {
  idMappingType?: string;
}

export interface MatchingWorkflowRecord extends WorkflowDetail {
  resolutionType?: ResolutionType;
  /** Rule-condition matching: each rule as a condition expression. */
  ruleConditions?: { ruleName: string; condition: string }[];
}

/** What a Start answers: the new job's key, and when the service accepted it. */
export interface StartedJobRecord extends JobKey {
  acceptedAt: Date;
}

/** What StartIdMappingJob answers, with what the job will run with. */
export interface StartedIdMappingJobRecord extends StartedJobRecord {
  jobType?: IdMappingJobType;
  outputSourceConfig?: OutputSourceRecord[];
}

/** What a start asks for beyond its workflow: ID mapping takes an output and a job type; matching takes neither. */
export interface StartJobRequest {
  outputSourceConfig?: OutputSourceRecord[];
  jobType?: IdMappingJobType;
}

/** One page of a List: the items and the token for the next page, if any. */
export interface Page<T> {
  items: T[];
  /** Where each item sat in the service's page, when some were left out (those the principal may not read). @default each item's own index */
  at?: number[];
  nextToken?: string;
}

export interface PageRequest {
  maxResults: number;
  nextToken?: string;
}

/** SUCCEEDED and FAILED are final: such a job never changes again. */
export function isFinal(status: JobStatus): boolean {
  return status === 'SUCCEEDED' || status === 'FAILED';
}
