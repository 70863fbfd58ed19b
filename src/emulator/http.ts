import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Job, JobView, OutputSource, ProviderService, SchemaMapping, Workflow } from './model';
import { routeRequest, Violations, type Operation, type Request } from './operations';
import { EmulatorState, ServiceError, type EmulatorStateOptions } from './state';

export { ServiceError };

/** Error statuses as the service sends them. */
const STATUS: Record<ServiceError['type'], number> = {
  ValidationException: 400,
  SerializationException: 400,
  ConflictException: 400,
  ExceedsLimitException: 402,
  AccessDeniedException: 403,
  ResourceNotFoundException: 404,
  ThrottlingException: 429,
  InternalServerException: 500,
};

export type { Operation };

export interface Faults {
  /** Added before every answer, in milliseconds. @default 0 */
  latencyMs?: number;
  /** Share of requests (0–1) answered with ThrottlingException. @default 0 */
  throttleRate?: number;
  /** Share of requests (0–1) answered with InternalServerException. @default 0 */
  internalErrorRate?: number;
  /** Calls per second per operation (a token bucket of as many) past which the emulator throttles, as the service does; 0 for none. @default 0 */
  rateLimitPerSecond?: number;
}

export interface EmulatorOptions extends EmulatorStateOptions {
  /** @default 0, an ephemeral port */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  faults?: Faults;
  /** The source of chance for fault rates. @default Math.random */
  random?: () => number;
  /** Told as each answer is sent, with its HTTP status: benchmarks time delivery and count throttling from it. */
  onAnswer?: (operation: Operation, target: { workflowName?: string; jobId?: string }, status: number) => void;
}

/** A running emulator; whoever starts it closes it. */
export interface Emulator {
  /** The endpoint to hand an AWS client, e.g. `http://127.0.0.1:4610`. */
  readonly url: string;
  readonly state: EmulatorState;
  /** Requests received for `operation`, or for all operations, since the last reset. */
  requests(operation?: Operation): number;
  resetRequests(): void;
  setFaults(faults: Faults): void;
  /**
   * Carry out the next `count` requests for `operation`, then drop the
   * connection without answering: the caller cannot know what happened.
   */
  dropNextResponse(operation: Operation, count?: number): void;
  /** Answer the next `count` requests for `operation` with `error` (deterministic fault injection). */
  failNext(operation: Operation, error: ServiceError['type'] | ServiceError, count?: number): void;
  /**
   * Hold the next request for `operation` before carrying it out, as a
   * request that reaches the service late: `arrived` resolves when it comes
   * in; `release()` carries it out then (even when its caller has given up
   * and closed the connection) and answers whoever still listens, resolving
   * once it has been carried out.
   */
  holdNext(operation: Operation): HeldRequest;
  close(): Promise<void>;
}

/** A request the emulator holds (see `Emulator.holdNext`). */
export interface HeldRequest {
  readonly arrived: Promise<void>;
  release(): Promise<void>;
}

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
      { outputS3Path: wf.outputS3Path, KMSArn: wf.KMSArn, output: wf.output ?? [{ name: 'customer_id' }], applyNormalization: true, customerProfilesIntegrationConfig: wf.customerProfilesIntegrationConfig },
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
    violations.add(`Value '${String(jobType)}' at 'jobType' failed to satisfy constraint: Member must satisfy enum value set: [${JOB_TYPES.join(', ')}]`);
  }
  if (outputSourceConfig === undefined) {
    violations.throwAny();
    return { jobType: jobType as Job['jobType'] };
  }
  if (!Array.isArray(outputSourceConfig)) throw unreadable('outputSourceConfig must be a list.');
  if (outputSourceConfig.length !== 1) {
    violations.add(`Value with ${outputSourceConfig.length} items at 'outputSourceConfig' failed to satisfy constraint: Member must have length between 1 and 1, inclusive`);
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
    outputSourceConfig: [{ roleArn: roleArn as string, outputS3Path: outputS3Path as string, ...(KMSArn === undefined ? {} : { KMSArn: KMSArn as string }) }],
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
function answer(state: EmulatorState, r: Request, body: string): unknown {
  const kind = r.spec.kind!;
  const name = r.labels.workflowName ?? '';
  switch (r.operation) {
    case 'ListSchemaMappings': {
      const page = state.listSchemaMappings(r.maxResults, r.nextToken);
      return { schemaList: page.items.map((mapping) => schemaMappingSummary(state, mapping)), nextToken: page.nextToken };
    }
    case 'GetSchemaMapping': {
      const mapping = state.getSchemaMapping(r.labels.schemaName);
      return { ...schemaMappingSummary(state, mapping), description: mapping.description, mappedInputFields: mapping.mappedInputFields, tags: mapping.tags ?? {} };
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

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
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
function asServiceError(err: unknown): ServiceError {
  return err instanceof ServiceError ? err : new ServiceError('InternalServerException', 'An internal error occurred.');
}

function sendError(res: ServerResponse, err: ServiceError): void {
  send(res, STATUS[err.type], { message: err.message, ...err.extra }, { 'x-amzn-errortype': err.type });
}

/** Starts an emulator on a loopback port; resolves once it listens. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const state = new EmulatorState(options);
  const random = options.random ?? Math.random;
  let faults: Faults = { ...options.faults };
  const counts = new Map<Operation, number>();
  const scripted = new Map<Operation, ServiceError[]>();
  const drops = new Map<Operation, number>();
  const holds = new Map<Operation, { arrive(): void; released: Promise<void>; carriedOut(): void }[]>();
  /** A token bucket per operation (rate per second, as many in a burst), as the service limits calls. */
  const buckets = new Map<Operation, { tokens: number; at: number }>();

  function overRate(operation: Operation): boolean {
    const limit = faults.rateLimitPerSecond ?? 0;
    if (limit <= 0) return false;
    const now = performance.now();
    const bucket = buckets.get(operation) ?? { tokens: limit, at: now };
    bucket.tokens = Math.min(limit, bucket.tokens + ((now - bucket.at) / 1000) * limit);
    bucket.at = now;
    buckets.set(operation, bucket);
    if (bucket.tokens < 1) return true;
    bucket.tokens -= 1;
    return false;
  }

  function injectedFault(operation: Operation): ServiceError | undefined {
    const next = scripted.get(operation)?.shift();
    if (next) return next;
    if (overRate(operation)) return new ServiceError('ThrottlingException', 'Rate exceeded.');
    if (random() < (faults.throttleRate ?? 0)) return new ServiceError('ThrottlingException', 'Rate exceeded.');
    if (random() < (faults.internalErrorRate ?? 0)) return new ServiceError('InternalServerException', 'An internal error occurred.');
    return undefined;
  }

  /** Answers one request; nothing it does may throw out of the server's request handler. */
  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const body = await readBody(req);
    let r: Request | undefined;
    try {
      r = routeRequest(req.method ?? 'GET', url.pathname, url.searchParams);
    } catch (err) {
      // The input broke the model's constraints: the service answers before looking anything up.
      return sendError(res, asServiceError(err));
    }
    if (!r) {
      send(res, 404, { message: `No operation at ${req.method} ${url.pathname}.` }, { 'x-amzn-errortype': 'UnknownOperationException' });
      return;
    }
    counts.set(r.operation, (counts.get(r.operation) ?? 0) + 1);
    const target = { workflowName: r.labels.workflowName, jobId: r.labels.jobId };
    // Unref'd: a slow answer still pending when the emulator closes does not keep the process alive.
    if (faults.latencyMs) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs).unref());
    const hold = holds.get(r.operation)?.shift();
    if (hold) {
      hold.arrive();
      await hold.released;
    }
    try {
      return answerNow(res, r, body, target);
    } finally {
      hold?.carriedOut();
    }
  }

  /** Carries out a request that has arrived, faults first. */
  function answerNow(res: ServerResponse, r: Request, body: string, target: { workflowName?: string; jobId?: string }): void {
    try {
      const fault = injectedFault(r.operation);
      if (fault) throw fault;
      const payload = answer(state, r, body);
      const toDrop = drops.get(r.operation) ?? 0;
      if (toDrop > 0) {
        drops.set(r.operation, toDrop - 1);
        res.socket?.destroy();
        return;
      }
      send(res, 200, payload);
      options.onAnswer?.(r.operation, target, 200);
    } catch (err) {
      const error = asServiceError(err);
      sendError(res, error);
      options.onAnswer?.(r.operation, target, STATUS[error.type]);
    }
  }

  const server = createServer((req, res) => {
    serve(req, res).catch((err: unknown) => {
      // A request that failed past answering (its socket gone mid-read): end it, and keep serving.
      if (!res.headersSent) sendError(res, asServiceError(err));
      else res.destroy();
    });
  });
  // SDK clients keep connections alive; closing must not wait for them.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${host}:${port}`,
    state,
    requests: (operation) => (operation ? (counts.get(operation) ?? 0) : [...counts.values()].reduce((a, b) => a + b, 0)),
    resetRequests: () => counts.clear(),
    setFaults: (next) => {
      faults = { ...next };
    },
    dropNextResponse: (operation, count = 1) => {
      drops.set(operation, (drops.get(operation) ?? 0) + count);
    },
    holdNext: (operation) => {
      let arrive!: () => void;
      let release!: () => void;
      let carriedOut!: () => void;
      const arrived = new Promise<void>((resolve) => (arrive = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      const done = new Promise<void>((resolve) => (carriedOut = resolve));
      holds.set(operation, [...(holds.get(operation) ?? []), { arrive, released, carriedOut }]);
      return {
        arrived,
        release: () => {
          release();
          return done;
        },
      };
    },
    failNext: (operation, error, count = 1) => {
      const fault = typeof error === 'string' ? new ServiceError(error, `Injected ${error} for ${operation}.`) : error;
      scripted.set(operation, [...(scripted.get(operation) ?? []), ...Array<ServiceError>(count).fill(fault)]);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
