import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Job, JobView, OutputSource, ProviderService, SchemaMapping, Workflow } from './model';
import { Violations, type Request } from './operations';
import { ServiceError, type EmulatorState } from './state';

/**
 * The service's wire format, REST-JSON as the SDK reads it: the answer of
 * each operation from the state (epoch seconds for dates, the model's member
 * names), the one request body the model reads (StartIdMappingJob's), and
 * errors as the service sends them (status, `x-amzn-errortype`).
 */

/** Error statuses as the service sends them. */
export const STATUS: Record<ServiceError['type'], number> = {
  ValidationException: 400,
  SerializationException: 400,
  ConflictException: 400,
  ExceedsLimitException: 402,
  AccessDeniedException: 403,
  ResourceNotFoundException: 404,
  ThrottlingException: 429,
  InternalServerException: 500,
};

const seconds = (ms: number) => ms / 1000;

function jobSummary(view: JobView) {
  return { jobId: view.jobId, status: view.status, startTime: seconds(view.startTime), endTime: view.endTime && seconds(view.endTime) };
}

function jobDetail(job: Job, view: JobView) {
  return {
    ...jobSummary(view),
    metrics: view.metrics,
    errorDetails: view.errorMessage === undefined ? undefined : { errorMessage: view.errorMessage },
    outputSourceConfig: job.outputSourceConfig,
    jobType: job.jobType,
  };
}

function workflowSummary(state: EmulatorState, wf: Workflow) {
  return {
    workflowName: wf.workflowName,
    workflowArn: state.workflowArn(wf),
    createdAt: seconds(wf.createdAt),
    updatedAt: seconds(wf.updatedAt),
    resolutionType: wf.resolutionType,
  };
}

function workflowDetail(state: EmulatorState, wf: Workflow) {
  const { resolutionType, ...summary } = workflowSummary(state, wf);
  const incrementalRunConfig = wf.incrementalRunType ? { incrementalRunType: wf.incrementalRunType } : undefined;
  const common = { ...summary, description: wf.description, roleArn: wf.roleArn, incrementalRunConfig, tags: wf.tags ?? {} };
  const { ruleBasedProperties, providerProperties } = wf;
  if (wf.kind === 'idMapping') {
    return {
      ...common,
      inputSourceConfig: wf.inputSourceConfig,
      outputSourceConfig: [{ outputS3Path: wf.outputS3Path, KMSArn: wf.KMSArn }],
      idMappingTechniques: { idMappingType: wf.idMappingType, ruleBasedProperties, providerProperties },
    };
  }
  return {
    ...common,
    inputSourceConfig: wf.inputSourceConfig,
    outputSourceConfig: [
      {
        outputS3Path: wf.outputS3Path,
        KMSArn: wf.KMSArn,
        output: wf.output ?? [{ name: 'customer_id' }],
        applyNormalization: true,
        customerProfilesIntegrationConfig: wf.customerProfilesIntegrationConfig,
      },
    ],
    resolutionTechniques: { resolutionType, ruleBasedProperties, ruleConditionProperties: wf.ruleConditionProperties, providerProperties },
  };
}

const JOB_TYPES = ['BATCH', 'INCREMENTAL', 'DELETE_ONLY'];

/** A JSON body the model's serializer could not read into the input structure. */
function unreadable(message: string): ServiceError {
  return new ServiceError('SerializationException', message);
}

/** The input of StartIdMappingJob from its body, checked against the model (IdMappingJobOutputSourceConfig, JobType). */
function parseStartBody(body: string): { outputSourceConfig?: OutputSource[]; jobType?: Job['jobType'] } {
  let parsed: unknown;
  try {
    parsed = body === '' ? {} : JSON.parse(body);
  } catch {
    throw unreadable('The request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw unreadable('The request body must be a JSON object.');
  const { outputSourceConfig, jobType } = parsed as { outputSourceConfig?: unknown; jobType?: unknown };
  const violations = new Violations();
  if (jobType !== undefined && (typeof jobType !== 'string' || !JOB_TYPES.includes(jobType))) {
    violations.add(
      `Value '${String(jobType)}' at 'jobType' failed to satisfy constraint: Member must satisfy enum value set: [${JOB_TYPES.join(', ')}]`,
    );
  }
  if (outputSourceConfig === undefined) {
    violations.throwAny();
    return { jobType: jobType as Job['jobType'] };
  }
  if (!Array.isArray(outputSourceConfig)) throw unreadable('outputSourceConfig must be a list.');
  if (outputSourceConfig.length !== 1) {
    violations.add(
      `Value with ${outputSourceConfig.length} items at 'outputSourceConfig' failed to satisfy constraint: Member must have length between 1 and 1, inclusive`,
    );
    violations.throwAny();
  }
  const source: unknown = outputSourceConfig[0];
  if (typeof source !== 'object' || source === null) throw unreadable('outputSourceConfig.1 must be a structure.');
  const { roleArn, outputS3Path, KMSArn } = source as Record<string, unknown>;
  for (const [name, value] of Object.entries({ roleArn, outputS3Path, KMSArn })) {
    if (value !== undefined && typeof value !== 'string') throw unreadable(`outputSourceConfig.1.member.${name} must be a string.`);
  }
  violations.string('outputSourceConfig.1.member.roleArn', roleArn as string | undefined, 'RoleArn');
  violations.string('outputSourceConfig.1.member.outputS3Path', outputS3Path as string | undefined, 'S3Path');
  violations.string('outputSourceConfig.1.member.KMSArn', KMSArn as string | undefined, 'KMSArn', false);
  violations.throwAny();
  return {
    outputSourceConfig: [
      { roleArn: roleArn as string, outputS3Path: outputS3Path as string, ...(KMSArn === undefined ? {} : { KMSArn: KMSArn as string }) },
    ],
    jobType: jobType as Job['jobType'],
  };
}

function schemaMappingSummary(state: EmulatorState, mapping: SchemaMapping) {
  return {
    schemaName: mapping.schemaName,
    schemaArn: state.schemaArn(mapping),
    createdAt: seconds(mapping.createdAt),
    updatedAt: seconds(mapping.updatedAt),
    hasWorkflows: state.schemaInUse(mapping.schemaName),
  };
}

function providerServiceSummary(state: EmulatorState, service: ProviderService) {
  return {
    providerServiceArn: state.providerServiceArn(service),
    providerName: service.providerName,
    providerServiceDisplayName: service.providerServiceDisplayName,
    providerServiceName: service.providerServiceName,
    providerServiceType: service.providerServiceType,
  };
}

/** Answers one routed request from the state, as the service would. */
export function answer(state: EmulatorState, r: Request, body: string): unknown {
  const kind = r.spec.kind!;
  const name = r.labels.workflowName ?? '';
  switch (r.operation) {
    case 'ListSchemaMappings': {
      const page = state.listSchemaMappings(r.maxResults, r.nextToken);
      return { schemaList: page.items.map((mapping) => schemaMappingSummary(state, mapping)), nextToken: page.nextToken };
    }
    case 'GetSchemaMapping': {
      const mapping = state.getSchemaMapping(r.labels.schemaName);
      return {
        ...schemaMappingSummary(state, mapping),
        description: mapping.description,
        mappedInputFields: mapping.mappedInputFields,
        tags: mapping.tags ?? {},
      };
    }
    case 'ListTagsForResource':
      return { tags: state.tagsOf(r.labels.resourceArn) };
    case 'ListProviderServices': {
      const page = state.listProviderServices(r.query.providerName, r.maxResults, r.nextToken);
      return { providerServiceSummaries: page.items.map((service) => providerServiceSummary(state, service)), nextToken: page.nextToken };
    }
    case 'GetProviderService': {
      const service = state.getProviderService(r.labels.providerName, r.labels.providerServiceName);
      return {
        ...providerServiceSummary(state, service),
        providerEndpointConfiguration: { marketplaceConfiguration: service.marketplaceConfiguration },
        anonymizedOutput: service.anonymizedOutput,
        providerEntityOutputDefinition: service.providerEntityOutputDefinition,
        providerConfigurationDefinition: service.providerConfigurationDefinition,
      };
    }
    case 'ListIdMappingWorkflows':
    case 'ListMatchingWorkflows': {
      const page = state.listWorkflows(kind, r.maxResults, r.nextToken);
      return { workflowSummaries: page.items.map((wf) => workflowSummary(state, wf)), nextToken: page.nextToken };
    }
    case 'GetIdMappingWorkflow':
    case 'GetMatchingWorkflow':
      return workflowDetail(state, state.getWorkflow(kind, name));
    case 'ListIdMappingJobs':
    case 'ListMatchingJobs': {
      const page = state.listJobs(kind, name, r.maxResults, r.nextToken);
      return { jobs: page.items.map(jobSummary), nextToken: page.nextToken };
    }
    case 'GetIdMappingJob':
    case 'GetMatchingJob': {
      const { job, view } = state.getJob(kind, name, r.labels.jobId);
      const detail = jobDetail(job, view);
      return kind === 'idMapping' ? detail : { ...detail, jobType: undefined };
    }
    case 'StartIdMappingJob': {
      const job = state.startJob('idMapping', name, parseStartBody(body));
      return { jobId: job.jobId, outputSourceConfig: job.outputSourceConfig, jobType: job.jobType };
    }
    case 'StartMatchingJob':
      return { jobId: state.startJob('matching', name, {}).jobId };
  }
}

/** The whole body of `req`, as text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Sends `payload` as the service's JSON answer, with a request id of its own. */
export function send(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(body);
}

/** What the service answers for `err`: its own error as it is, anything else as an internal error that tells nothing. */
export function asServiceError(err: unknown): ServiceError {
  return err instanceof ServiceError ? err : new ServiceError('InternalServerException', 'An internal error occurred.');
}

/** Sends `err` as the service sends an error: its status, its type in `x-amzn-errortype`, its message and extra members. */
export function sendError(res: ServerResponse, err: ServiceError): void {
  send(res, STATUS[err.type], { message: err.message, ...err.extra }, { 'x-amzn-errortype': err.type });
}
