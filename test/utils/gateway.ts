import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type GraphQLFormattedError } from 'graphql';
import { createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/http';
import { startGateway, type Gateway } from '../../src/server/app';
import { loadConfig } from '../../src/server/config';
import type { DocumentStore } from '../../src/server/document-store';
import type { IdempotencyStore } from '../../src/upstream/idempotency';
import type { Scheduler } from '../../src/watch/scheduler';
import { leftover } from './leftovers';

export interface GraphQLResponse<R> {
  status: number;
  headers: Headers;
  data?: R | null;
  errors?: GraphQLFormattedError[];
}

/** A gateway on an ephemeral port with its embedded emulator, and an HTTP client for it. */
export interface TestGateway {
  gateway: Gateway;
  emulator: Emulator;
  /** The GraphQL endpoint, e.g. http://127.0.0.1:PORT/graphql */
  endpoint: string;
  /** A typed operation from test/generated, posted as a frontend posts it. */
  execute<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<GraphQLResponse<R>>;
  /** A query written in the test itself (aliases, deliberately bad input), with the request headers a test adds (credentials). */
  post<R = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<R>>;
  /** Closes the gateway, once: the test's end closes it too if the test does not (see leftovers). */
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  emulator?: Omit<EmulatorOptions, 'port' | 'host' | 'jobSeconds'>;
  env?: Record<string, string>;
  scheduler?: Scheduler;
  /** The time of request deadlines, the rate governor and the websocket guard (see GatewayOptions.timers). */
  timers?: Scheduler;
  logger?: Logger;
  idempotencyStore?: IdempotencyStore;
  /** The caches' clock, in ms. */
  now?: () => number;
  /** Told of each query answered without Apollo's pipeline (see GatewayOptions.onDirectAnswer). */
  onDirectAnswer?: () => void;
  /** Apollo's parsed documents (see GatewayOptions.documentStore). */
  documentStore?: DocumentStore;
}

type LogLine = Record<string, unknown>;

/** A logger whose lines the test reads: `lines` holds each one parsed; `line` waits for one that matches. */
export function capturedLogger(level = 'info'): {
  logger: Logger;
  lines: LogLine[];
  line(match: (line: LogLine) => boolean): Promise<LogLine>;
} {
  const lines: LogLine[] = [];
  let waiters: (() => void)[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as LogLine);
      const waiting = waiters;
      waiters = [];
      for (const wake of waiting) wake();
      done();
    },
  });
  const line = async (match: (line: LogLine) => boolean): Promise<LogLine> => {
    for (;;) {
      const found = lines.find(match);
      if (found) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { logger: pino({ level }, sink), lines, line };
}

/** The embedded emulator alone, on an ephemeral port, closed after the test (or the file, from beforeAll). */
export async function startTestEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const emulator = await startEmulator(options);
  const close = leftover(() => emulator.close());
  return { ...emulator, close };
}

/**
 * Caches and the rate governor are off unless a test turns them on: most
 * tests count the upstream calls of one request exactly, on a gateway that
 * other tests of the file share.
 */
const PER_REQUEST = { ER_RATE_PER_SECOND: '0', ER_FINAL_JOB_CACHE_SIZE: '0', ER_FRESHNESS_MS: '0', ER_RESPONSE_CACHE_MB: '0' };

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const config = loadConfig({ NODE_ENV: 'test', PORT: '0', ER_METRICS_PORT: '0', LOG_LEVEL: 'silent', ...PER_REQUEST, ...options.env });
  const gateway = await startGateway(config, {
    emulator: options.emulator,
    scheduler: options.scheduler,
    timers: options.timers,
    logger: options.logger,
    idempotencyStore: options.idempotencyStore,
    now: options.now,
    onDirectAnswer: options.onDirectAnswer,
    documentStore: options.documentStore,
    processMetrics: false,
  });
  const close = leftover(() => gateway.close());
  const endpoint = `${gateway.url}/graphql`;
  if (!gateway.emulator) throw new Error('the test gateway runs with its embedded emulator');

  const post = <R>(query: string, variables?: unknown, headers?: Record<string, string>) =>
    postGraphQL<R>(endpoint, query, variables, headers);

  return {
    gateway,
    emulator: gateway.emulator,
    endpoint,
    execute: (document, variables) => post(print(document), variables),
    post: (query, variables, headers) => post(query, variables, headers),
    close,
  };
}

/**
 * Posts `query` to the GraphQL endpoint at `url` (a gateway's or a router's
 * `/graphql`, or any other), as a frontend posts it, with the headers a test
 * adds (credentials); the answer with its status and headers.
 */
export async function postGraphQL<R = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: unknown,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<R>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, headers: res.headers, ...((await res.json()) as { data?: R; errors?: GraphQLFormattedError[] }) };
}

/** The codes of a response's errors, in order. */
export function codes(response: GraphQLResponse<unknown>): unknown[] {
  return (response.errors ?? []).map((error) => error.extensions?.code);
}

/**
 * The settings of a gateway that reaches the service at `endpoint` as it
 * reaches AWS (ER_BACKEND=aws, no auth, no governor), on free ports. The
 * SDK's credentials come from the environment: a process gets them here, and
 * an in-process gateway from `process.env` (see `localCredentials`).
 */
export function awsBackendEnv(endpoint: string, region: string): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PORT: '0',
    ER_METRICS_PORT: '0',
    ER_BACKEND: 'aws',
    ER_AUTH: 'none',
    ER_ENDPOINT: endpoint,
    AWS_REGION: region,
    ER_RATE_PER_SECOND: '0',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  };
}

/** Credentials for the SDK of a gateway run in this process against the emulator. */
export function localCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A job that stays RUNNING on an ID-mapping workflow of `emulator` (until
 * failJob ends it), for tests of running jobs: the demo data has none, as
 * the service runs one job of a kind per region and a seeded one would hold it.
 */
export function runningJob(emulator: Emulator, workflowName = 'loyalty-id-map'): { workflowName: string; jobId: string } {
  const job = emulator.state.holdRunning('idMapping', workflowName);
  return { workflowName: job.workflowName, jobId: job.jobId };
}
