import type { WorkflowKind } from './model';
import { ServiceError } from './state';

/**
 * The operations the emulator serves, with the constraints the service's
 * Smithy model puts on their input (aws-sdk-js-v3,
 * codegen/sdk-codegen/aws-models/entityresolution.json). Every request is
 * checked against its operation's constraints before anything is looked up,
 * as the service does: a bad name is a ValidationException even for a
 * workflow that does not exist.
 */

/** The model's string shapes the served operations take, with their pattern and length, as the model writes them. */
export const SHAPES = {
  EntityName: { pattern: '^[a-zA-Z_0-9-]*$', length: [1, 255] },
  EntityNameOrIdMappingWorkflowArn: {
    pattern:
      '^[a-zA-Z_0-9-=+/]*$|^arn:(aws|aws-us-gov|aws-cn):entityresolution:[a-z]{2}-[a-z]{1,10}-[0-9]:[0-9]{12}:(idmappingworkflow/[a-zA-Z_0-9-]{1,255})$',
  },
  JobId: { pattern: '^[a-f0-9]{32}$' },
  NextToken: { pattern: '^[a-zA-Z_0-9-=+/]*$', length: [1, 1024] },
  RoleArn: { pattern: '^arn:aws:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+$', length: [32, 512] },
  S3Path: { pattern: '^s3://[a-z0-9][\\.\\-a-z0-9]{1,61}[a-z0-9](/.*)?$', length: [1, 1024] },
  KMSArn: { pattern: '^arn:aws:kms:.*:[0-9]+:.*$' },
  VeniceGlobalArn: {
    pattern:
      '^arn:(aws|aws-us-gov|aws-cn):entityresolution:[a-z]{2}-[a-z]{1,10}-[0-9]:[0-9]{12}:((schemamapping|matchingworkflow|idmappingworkflow|idnamespace)/[a-zA-Z_0-9-]{1,255})$',
  },
  ProviderServiceArn: {
    pattern:
      '^arn:(aws|aws-us-gov|aws-cn):(entityresolution):([a-z]{2}-[a-z]{1,10}-[0-9])::providerservice/([a-zA-Z0-9_-]{1,255})/([a-zA-Z0-9_-]{1,255})$',
    length: [20, 255],
  },
} as const satisfies Record<string, { pattern: string; length?: readonly [number, number] }>;

export type StringShape = keyof typeof SHAPES;
const COMPILED = Object.fromEntries(Object.entries(SHAPES).map(([name, shape]) => [name, new RegExp(shape.pattern)])) as Record<
  StringShape,
  RegExp
>;

/** A page size: the model's range of `maxResults` for the operation. */
interface PageSize {
  min?: number;
  max: number;
}

export type Operation =
  | 'ListIdMappingWorkflows'
  | 'GetIdMappingWorkflow'
  | 'ListIdMappingJobs'
  | 'GetIdMappingJob'
  | 'StartIdMappingJob'
  | 'ListMatchingWorkflows'
  | 'GetMatchingWorkflow'
  | 'ListMatchingJobs'
  | 'GetMatchingJob'
  | 'StartMatchingJob'
  | 'GetSchemaMapping'
  | 'ListSchemaMappings'
  | 'ListTagsForResource'
  | 'GetProviderService'
  | 'ListProviderServices';

export interface OperationSpec {
  method: 'GET' | 'POST';
  /** The model's `smithy.api#http` URI; `{name}` is a label. */
  uri: string;
  /** The kind of workflow the operation is about, if any. */
  kind?: WorkflowKind;
  /** Each label's shape. */
  labels: Record<string, StringShape>;
  /** Query members other than paging, with their shapes; all optional. */
  query?: Record<string, StringShape>;
  /** Paged lists: the `maxResults` range; `nextToken` is a NextToken. */
  page?: PageSize;
}

const PAGE = { max: 25 };
const JOB_PAGE = { min: 1, max: 25 };

/** The served operations as the model defines them. */
export const OPERATIONS: Record<Operation, OperationSpec> = {
  ListIdMappingWorkflows: { method: 'GET', uri: '/idmappingworkflows', kind: 'idMapping', labels: {}, page: PAGE },
  GetIdMappingWorkflow: {
    method: 'GET',
    uri: '/idmappingworkflows/{workflowName}',
    kind: 'idMapping',
    labels: { workflowName: 'EntityName' },
  },
  ListIdMappingJobs: {
    method: 'GET',
    uri: '/idmappingworkflows/{workflowName}/jobs',
    kind: 'idMapping',
    labels: { workflowName: 'EntityNameOrIdMappingWorkflowArn' },
    page: JOB_PAGE,
  },
  GetIdMappingJob: {
    method: 'GET',
    uri: '/idmappingworkflows/{workflowName}/jobs/{jobId}',
    kind: 'idMapping',
    labels: { workflowName: 'EntityNameOrIdMappingWorkflowArn', jobId: 'JobId' },
  },
  StartIdMappingJob: {
    method: 'POST',
    uri: '/idmappingworkflows/{workflowName}/jobs',
    kind: 'idMapping',
    labels: { workflowName: 'EntityNameOrIdMappingWorkflowArn' },
  },
  ListMatchingWorkflows: { method: 'GET', uri: '/matchingworkflows', kind: 'matching', labels: {}, page: PAGE },
  GetMatchingWorkflow: {
    method: 'GET',
    uri: '/matchingworkflows/{workflowName}',
    kind: 'matching',
    labels: { workflowName: 'EntityName' },
  },
  ListMatchingJobs: {
    method: 'GET',
    uri: '/matchingworkflows/{workflowName}/jobs',
    kind: 'matching',
    labels: { workflowName: 'EntityName' },
    page: JOB_PAGE,
  },
  GetMatchingJob: {
    method: 'GET',
    uri: '/matchingworkflows/{workflowName}/jobs/{jobId}',
    kind: 'matching',
    labels: { workflowName: 'EntityName', jobId: 'JobId' },
  },
  StartMatchingJob: {
    method: 'POST',
    uri: '/matchingworkflows/{workflowName}/jobs',
    kind: 'matching',
    labels: { workflowName: 'EntityName' },
  },
  GetSchemaMapping: { method: 'GET', uri: '/schemas/{schemaName}', labels: { schemaName: 'EntityName' } },
  ListSchemaMappings: { method: 'GET', uri: '/schemas', labels: {}, page: PAGE },
  ListTagsForResource: { method: 'GET', uri: '/tags/{resourceArn}', labels: { resourceArn: 'VeniceGlobalArn' } },
  GetProviderService: {
    method: 'GET',
    uri: '/providerservices/{providerName}/{providerServiceName}',
    // The model types the service's name as a ProviderServiceArn: the SDK sends the service's ARN.
    labels: { providerName: 'EntityName', providerServiceName: 'ProviderServiceArn' },
  },
  ListProviderServices: {
    method: 'GET',
    uri: '/providerservices',
    labels: {},
    query: { providerName: 'EntityName' },
    page: { min: 15, max: 25 },
  },
};

/** One routed request: its operation and its input, checked. */
export interface Request {
  operation: Operation;
  spec: OperationSpec;
  labels: Record<string, string>;
  /** Query members other than paging, as sent. */
  query: Record<string, string | undefined>;
  /** Paged lists: how many, and after which token. */
  maxResults?: number;
  nextToken?: string;
}

/** Collects the model's constraint violations, and reports them as the service words them. */
export class Violations {
  private readonly found: string[] = [];

  /** Checks `value` of member `member` against a string shape. */
  string(member: string, value: string | undefined, shape: StringShape, required = true): void {
    if (value === undefined) {
      if (required) this.found.push(`Value null at '${member}' failed to satisfy constraint: Member must not be null`);
      return;
    }
    const spec: { pattern: string; length?: readonly [number, number] } = SHAPES[shape];
    if (spec.length && (value.length < spec.length[0] || value.length > spec.length[1])) {
      this.found.push(
        `Value '${value}' at '${member}' failed to satisfy constraint: Member must have length between ${spec.length[0]} and ${spec.length[1]}, inclusive`,
      );
    }
    if (!COMPILED[shape].test(value)) {
      this.found.push(
        `Value '${value}' at '${member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${spec.pattern}`,
      );
    }
  }

  add(message: string): void {
    this.found.push(message);
  }

  /** Throws the ValidationException the service answers, naming every violation. */
  throwAny(): void {
    if (this.found.length === 0) return;
    const count = this.found.length === 1 ? '1 validation error detected' : `${this.found.length} validation errors detected`;
    throw new ServiceError('ValidationException', `${count}: ${this.found.join('; ')}`);
  }
}

function matchUri(uri: string, segments: string[]): Record<string, string> | undefined {
  const parts = uri.split('/').slice(1);
  if (parts.length !== segments.length) return undefined;
  const labels: Record<string, string> = {};
  for (const [i, part] of parts.entries()) {
    const label = /^\{(\w+)\}$/.exec(part)?.[1];
    if (label) labels[label] = segments[i];
    else if (part !== segments[i]) return undefined;
  }
  return labels;
}

/**
 * The operation `method path` names, with its labels percent-decoded and its
 * input checked against the model; undefined for a path no operation serves.
 * A label that is not valid percent-encoding is a ValidationException, not a crash.
 */
export function routeRequest(method: string, path: string, query: URLSearchParams): Request | undefined {
  const segments = path.split('/').slice(1);
  for (const [operation, spec] of Object.entries(OPERATIONS) as [Operation, OperationSpec][]) {
    if (spec.method !== method) continue;
    const raw = matchUri(spec.uri, segments);
    if (!raw) continue;
    const violations = new Violations();
    const labels: Record<string, string> = {};
    for (const [name, value] of Object.entries(raw)) {
      try {
        labels[name] = decodeURIComponent(value);
      } catch {
        violations.add(`Value at '${name}' is not valid percent-encoding`);
        continue;
      }
      violations.string(name, labels[name], spec.labels[name]);
    }
    const request: Request = { operation, spec, labels, query: {} };
    for (const [name, shape] of Object.entries(spec.query ?? {})) {
      const value = query.get(name) ?? undefined;
      violations.string(name, value, shape, false);
      request.query[name] = value;
    }
    if (spec.page) {
      const nextToken = query.get('nextToken') ?? undefined;
      violations.string('nextToken', nextToken, 'NextToken', false);
      request.nextToken = nextToken;
      const maxResults = query.get('maxResults');
      if (maxResults !== null) {
        const size = /^-?\d+$/.test(maxResults) ? Number(maxResults) : NaN;
        const { min, max } = spec.page;
        if (!Number.isSafeInteger(size))
          violations.add(`Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must be an integer`);
        else if (size > max || (min !== undefined && size < min)) {
          violations.add(
            `Value '${size}' at 'maxResults' failed to satisfy constraint: Member must have value ${min === undefined ? `less than or equal to ${max}` : `between ${min} and ${max}, inclusive`}`,
          );
        } else request.maxResults = size;
      }
    }
    violations.throwAny();
    return request;
  }
  return undefined;
}
