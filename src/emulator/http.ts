import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Job, JobView, OutputSource, Workflow, WorkflowKind } from './model';
import { EmulatorState, ServiceError, type EmulatorStateOptions } from './state';

export { ServiceError };

/** Error statuses as the service sends them. */
const STATUS: Record<ServiceError['type'], number> = {
  ValidationException: 400,
  ConflictException: 400,
  ExceedsLimitException: 402,
  AccessDeniedException: 403,
  ResourceNotFoundException: 404,
  ThrottlingException: 429,
  InternalServerException: 500,
};

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
  | 'StartMatchingJob';

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
  /** The endpoint to hand an AWS client, e.g. `http://127.0.0.1:4566`. */
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
  close(): Promise<void>;
}

interface Route {
  operation: Operation;
  kind: WorkflowKind;
  workflowName?: string;
  jobId?: string;
}

const COLLECTIONS: Record<string, { kind: WorkflowKind; prefix: 'IdMapping' | 'Matching' }> = {
  idmappingworkflows: { kind: 'idMapping', prefix: 'IdMapping' },
  matchingworkflows: { kind: 'matching', prefix: 'Matching' },
};

function route(method: string, path: string): Route | undefined {
  const segments = path.split('/').slice(1).map(decodeURIComponent);
  const collection = COLLECTIONS[segments[0]];
  if (!collection) return undefined;
  const { kind, prefix } = collection;
  const [, workflowName, jobs, jobId] = segments;
  if (segments.length === 1 && method === 'GET') return { operation: `List${prefix}Workflows`, kind };
  if (segments.length === 2 && method === 'GET') return { operation: `Get${prefix}Workflow`, kind, workflowName };
  if (segments.length === 3 && jobs === 'jobs') {
    if (method === 'GET') return { operation: `List${prefix}Jobs`, kind, workflowName };
    if (method === 'POST') return { operation: `Start${prefix}Job`, kind, workflowName };
  }
  if (segments.length === 4 && jobs === 'jobs' && method === 'GET') return { operation: `Get${prefix}Job`, kind, workflowName, jobId };
  return undefined;
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
    outputSourceConfig: [{ outputS3Path: wf.outputS3Path, KMSArn: wf.KMSArn, output: wf.output ?? [{ name: 'customer_id' }], applyNormalization: true }],
    resolutionTechniques: { resolutionType, ruleBasedProperties, ruleConditionProperties: wf.ruleConditionProperties, providerProperties },
  };
}

function parseStartBody(body: string): { outputSourceConfig?: OutputSource[]; jobType?: Job['jobType'] } {
  let parsed: { outputSourceConfig?: unknown; jobType?: unknown };
  try {
    parsed = body === '' ? {} : JSON.parse(body);
  } catch {
    throw new ServiceError('ValidationException', 'The request body is not valid JSON.');
  }
  const { outputSourceConfig, jobType } = parsed;
  if (jobType !== undefined && jobType !== 'BATCH' && jobType !== 'INCREMENTAL' && jobType !== 'DELETE_ONLY') {
    throw new ServiceError('ValidationException', 'jobType must be one of BATCH, INCREMENTAL, DELETE_ONLY.');
  }
  if (outputSourceConfig === undefined) return { jobType };
  if (!Array.isArray(outputSourceConfig) || outputSourceConfig.length !== 1) {
    throw new ServiceError('ValidationException', 'outputSourceConfig must have exactly 1 item.');
  }
  const [source] = outputSourceConfig as Partial<OutputSource>[];
  if (typeof source.roleArn !== 'string' || !source.roleArn.startsWith('arn:')) {
    throw new ServiceError('ValidationException', 'outputSourceConfig.1.member.roleArn must be an IAM role ARN.');
  }
  if (typeof source.outputS3Path !== 'string' || !source.outputS3Path.startsWith('s3://')) {
    throw new ServiceError('ValidationException', 'outputSourceConfig.1.member.outputS3Path must be an s3:// URI.');
  }
  return { outputSourceConfig: [{ roleArn: source.roleArn, outputS3Path: source.outputS3Path, KMSArn: source.KMSArn }], jobType };
}

/** Answers one routed request from the state, as the service would. */
function answer(state: EmulatorState, r: Route, query: URLSearchParams, body: string): unknown {
  const name = r.workflowName ?? '';
  const maxResults = query.get('maxResults') ?? undefined;
  const nextToken = query.get('nextToken') ?? undefined;
  switch (r.operation) {
    case 'ListIdMappingWorkflows':
    case 'ListMatchingWorkflows': {
      const page = state.listWorkflows(r.kind, maxResults, nextToken);
      return { workflowSummaries: page.items.map((wf) => workflowSummary(state, wf)), nextToken: page.nextToken };
    }
    case 'GetIdMappingWorkflow':
    case 'GetMatchingWorkflow':
      return workflowDetail(state, state.getWorkflow(r.kind, name));
    case 'ListIdMappingJobs':
    case 'ListMatchingJobs': {
      const page = state.listJobs(r.kind, name, maxResults, nextToken);
      return { jobs: page.items.map(jobSummary), nextToken: page.nextToken };
    }
    case 'GetIdMappingJob':
    case 'GetMatchingJob': {
      const { job, view } = state.getJob(r.kind, name, r.jobId ?? '');
      const detail = jobDetail(job, view);
      return r.kind === 'idMapping' ? detail : { ...detail, jobType: undefined };
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

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const r = route(req.method ?? 'GET', url.pathname);
    const body = await readBody(req);
    if (!r) {
      send(res, 404, { message: `No operation at ${req.method} ${url.pathname}.` }, { 'x-amzn-errortype': 'UnknownOperationException' });
      return;
    }
    counts.set(r.operation, (counts.get(r.operation) ?? 0) + 1);
    // Unref'd: a slow answer still pending when the emulator closes does not keep the process alive.
    if (faults.latencyMs) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs).unref());
    try {
      const fault = injectedFault(r.operation);
      if (fault) throw fault;
      const payload = answer(state, r, url.searchParams, body);
      const toDrop = drops.get(r.operation) ?? 0;
      if (toDrop > 0) {
        drops.set(r.operation, toDrop - 1);
        res.socket?.destroy();
        return;
      }
      send(res, 200, payload);
      options.onAnswer?.(r.operation, { workflowName: r.workflowName, jobId: r.jobId }, 200);
    } catch (err) {
      const error = err instanceof ServiceError ? err : new ServiceError('InternalServerException', 'An internal error occurred.');
      sendError(res, error);
      options.onAnswer?.(r.operation, { workflowName: r.workflowName, jobId: r.jobId }, STATUS[error.type]);
    }
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
