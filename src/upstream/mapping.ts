import type {
  GetIdMappingJobOutput,
  GetIdMappingWorkflowOutput,
  GetMatchingJobOutput,
  GetMatchingWorkflowOutput,
  GetSchemaMappingOutput,
  IdMappingWorkflowSummary,
  JobSummary,
  MatchingWorkflowSummary,
  JobOutputSource,
  StartIdMappingJobOutput,
  StartMatchingJobOutput,
} from '@aws-sdk/client-entityresolution';
import type {
  IdMappingJobRecord,
  IdMappingWorkflowRecord,
  JobKey,
  JobSummaryRecord,
  MatchingJobRecord,
  MatchingWorkflowRecord,
  OutputSourceRecord,
  ProviderPropertiesRecord,
  RuleBasedPropertiesRecord,
  SchemaMappingRecord,
  StartedIdMappingJobRecord,
  StartedJobRecord,
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
    observedAt: new Date(),
    stale: false,
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
    observedAt: new Date(),
    stale: false,
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

type Techniques = NonNullable<GetIdMappingWorkflowOutput['idMappingTechniques'] | GetMatchingWorkflowOutput['resolutionTechniques']>;

function ruleBased(properties: NonNullable<Techniques['ruleBasedProperties']> | undefined): RuleBasedPropertiesRecord | undefined {
  if (!properties) return undefined;
  return {
    rules: properties.rules?.map((rule) => ({ ruleName: required(rule.ruleName, 'ruleName'), matchingKeys: rule.matchingKeys ?? [] })),
    attributeMatchingModel: properties.attributeMatchingModel,
    recordMatchingModel: 'recordMatchingModel' in properties ? properties.recordMatchingModel : undefined,
    ruleDefinitionType: 'ruleDefinitionType' in properties ? properties.ruleDefinitionType : undefined,
    matchPurpose: 'matchPurpose' in properties ? properties.matchPurpose : undefined,
  };
}

function provider(properties: Techniques['providerProperties']): ProviderPropertiesRecord | undefined {
  if (!properties) return undefined;
  return {
    providerServiceArn: required(properties.providerServiceArn, 'providerServiceArn'),
    intermediateS3Path: properties.intermediateSourceConfiguration?.intermediateS3Path,
    providerConfiguration: properties.providerConfiguration,
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
      type: 'type' in source ? source.type : undefined,
      applyNormalization: 'applyNormalization' in source ? source.applyNormalization : undefined,
    })),
    outputSourceConfig: wf.outputSourceConfig?.map((source) => ({
      outputS3Path: source.outputS3Path,
      kmsArn: source.KMSArn,
      applyNormalization: 'applyNormalization' in source ? source.applyNormalization : undefined,
      output:
        'output' in source
          ? source.output?.map((attribute) => ({ name: required(attribute.name, 'output.name'), hashed: attribute.hashed }))
          : undefined,
      customerProfilesIntegration:
        'customerProfilesIntegrationConfig' in source && source.customerProfilesIntegrationConfig
          ? {
              domainArn: required(source.customerProfilesIntegrationConfig.domainArn, 'domainArn'),
              objectTypeArn: required(source.customerProfilesIntegrationConfig.objectTypeArn, 'objectTypeArn'),
            }
          : undefined,
    })),
    incrementalRunType: wf.incrementalRunConfig?.incrementalRunType,
    tags: wf.tags && Object.entries(wf.tags).map(([key, value]) => ({ key, value })),
    detailed: true as const,
  };
}

export function idMappingWorkflow(wf: GetIdMappingWorkflowOutput): IdMappingWorkflowRecord {
  const techniques = wf.idMappingTechniques;
  return {
    ...workflowDetail(wf),
    idMappingType: techniques?.idMappingType,
    ruleBasedProperties: ruleBased(techniques?.ruleBasedProperties),
    providerProperties: provider(techniques?.providerProperties),
  };
}

export function matchingWorkflow(wf: GetMatchingWorkflowOutput): MatchingWorkflowRecord {
  const techniques = wf.resolutionTechniques;
  return {
    ...workflowDetail(wf),
    resolutionType: techniques?.resolutionType,
    ruleBasedProperties: ruleBased(techniques?.ruleBasedProperties),
    providerProperties: provider(techniques?.providerProperties),
    ruleConditions: techniques?.ruleConditionProperties?.rules?.map((rule) => ({
      ruleName: required(rule.ruleName, 'ruleName'),
      condition: required(rule.condition, 'condition'),
    })),
  };
}

export function schemaMapping(out: GetSchemaMappingOutput): SchemaMappingRecord {
  return {
    schemaName: required(out.schemaName, 'schemaName'),
    schemaArn: required(out.schemaArn, 'schemaArn'),
    description: out.description,
    fields: (out.mappedInputFields ?? []).map((field) => ({
      fieldName: required(field.fieldName, 'fieldName'),
      type: required(field.type, 'type'),
      groupName: field.groupName,
      matchKey: field.matchKey,
      subType: field.subType,
      hashed: field.hashed,
    })),
    createdAt: required(out.createdAt, 'createdAt'),
    updatedAt: required(out.updatedAt, 'updatedAt'),
    tags: out.tags && Object.entries(out.tags).map(([key, value]) => ({ key, value })),
    hasWorkflows: out.hasWorkflows ?? false,
  };
}

export function startedIdMappingJob(workflowName: string, out: StartIdMappingJobOutput): StartedIdMappingJobRecord {
  return {
    workflowName,
    jobId: required(out.jobId, 'jobId'),
    jobType: out.jobType,
    outputSourceConfig: outputSources(out.outputSourceConfig),
    acceptedAt: new Date(),
  };
}

export function startedJob(workflowName: string, out: StartMatchingJobOutput): StartedJobRecord {
  return { workflowName, jobId: required(out.jobId, 'jobId'), acceptedAt: new Date() };
}
