import type {
  GetIdMappingJobOutput,
  GetIdMappingWorkflowOutput,
  GetMatchingJobOutput,
  GetMatchingWorkflowOutput,
  IdMappingWorkflowSummary,
  JobSummary,
  MatchingWorkflowSummary,
  JobOutputSource,
  StartIdMappingJobOutput,
} from '@aws-sdk/client-entityresolution';
import type {
  IdMappingJobRecord,
  IdMappingWorkflowRecord,
  JobKey,
  JobSummaryRecord,
  MatchingJobRecord,
  MatchingWorkflowRecord,
  OutputSourceRecord,
  StartedIdMappingJobRecord,
  WorkflowSummaryRecord,
} from './records';

/** The SDK marks every output field optional; the service always sends these. */
export function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new Error(`The service's answer has no ${field}.`);
  return value;
}

function outputSources(sources: JobOutputSource[] | undefined): OutputSourceRecord[] | undefined {
  return sources?.map((source) => ({
    roleArn: required(source.roleArn, 'outputSourceConfig.roleArn'),
    outputS3Path: required(source.outputS3Path, 'outputSourceConfig.outputS3Path'),
    kmsArn: source.KMSArn,
  }));
}

export function jobSummary(workflowName: string, job: JobSummary): JobSummaryRecord {
  return {
    workflowName,
    jobId: required(job.jobId, 'jobId'),
    status: required(job.status, 'status'),
    startTime: required(job.startTime, 'startTime'),
    endTime: job.endTime,
    detailed: false,
  };
}

function jobDetail(key: JobKey, job: GetIdMappingJobOutput | GetMatchingJobOutput) {
  return {
    workflowName: key.workflowName,
    jobId: required(job.jobId, 'jobId'),
    status: required(job.status, 'status'),
    startTime: required(job.startTime, 'startTime'),
    endTime: job.endTime,
    errorDetails: job.errorDetails && { errorMessage: job.errorDetails.errorMessage },
    outputSourceConfig: outputSources(job.outputSourceConfig),
    detailed: true as const,
  };
}

export function idMappingJob(key: JobKey, job: GetIdMappingJobOutput): IdMappingJobRecord {
  return { ...jobDetail(key, job), metrics: job.metrics && { ...job.metrics }, jobType: job.jobType };
}

export function matchingJob(key: JobKey, job: GetMatchingJobOutput): MatchingJobRecord {
  return { ...jobDetail(key, job), metrics: job.metrics && { ...job.metrics } };
}

export function workflowSummary(summary: IdMappingWorkflowSummary | MatchingWorkflowSummary): WorkflowSummaryRecord {
  return {
    workflowName: required(summary.workflowName, 'workflowName'),
    workflowArn: required(summary.workflowArn, 'workflowArn'),
    createdAt: required(summary.createdAt, 'createdAt'),
    updatedAt: required(summary.updatedAt, 'updatedAt'),
    resolutionType: 'resolutionType' in summary ? summary.resolutionType : undefined,
    detailed: false,
  };
}

function workflowDetail(wf: GetIdMappingWorkflowOutput | GetMatchingWorkflowOutput) {
  return {
    workflowName: required(wf.workflowName, 'workflowName'),
    workflowArn: required(wf.workflowArn, 'workflowArn'),
    description: wf.description,
    createdAt: required(wf.createdAt, 'createdAt'),
    updatedAt: required(wf.updatedAt, 'updatedAt'),
    roleArn: wf.roleArn,
    inputSourceConfig: (wf.inputSourceConfig ?? []).map((source) => ({
      inputSourceArn: required(source.inputSourceARN, 'inputSourceARN'),
      schemaName: source.schemaName,
    })),
    incrementalRunType: wf.incrementalRunConfig?.incrementalRunType,
    detailed: true as const,
  };
}

export function idMappingWorkflow(wf: GetIdMappingWorkflowOutput): IdMappingWorkflowRecord {
  return { ...workflowDetail(wf), idMappingType: wf.idMappingTechniques?.idMappingType };
}

export function matchingWorkflow(wf: GetMatchingWorkflowOutput): MatchingWorkflowRecord {
  return { ...workflowDetail(wf), resolutionType: wf.resolutionTechniques?.resolutionType };
}

export function startedIdMappingJob(workflowName: string, out: StartIdMappingJobOutput): StartedIdMappingJobRecord {
  return { workflowName, jobId: required(out.jobId, 'jobId'), jobType: out.jobType, outputSourceConfig: outputSources(out.outputSourceConfig) };
}
