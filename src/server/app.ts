import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { unwrapResolverError } from '@apollo/server/errors';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import type { GraphQLFormattedError } from 'graphql';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { startEmulator, type Emulator, type EmulatorOptions } from '../emulator/http';
import { createLoaders } from '../loaders';
import type { GatewayContext } from '../resolvers/context';
import { createUpstreamClients } from '../upstream/client';
import { MemoryIdempotencyStore, type IdempotencyStore } from '../upstream/idempotency';
import { JobStarter } from '../upstream/job-starter';
import { JobStore } from '../upstream/job-store';
import type { Config } from './config';
import { createMetrics, type GatewayMetrics } from './metrics';
import { buildGatewaySchema } from './schema';

export interface GatewayOptions {
  logger?: Logger;
  /** Settings for the embedded emulator (ER_BACKEND=emulator): tests pass a clock and faults. */
  emulator?: Omit<EmulatorOptions, 'port' | 'host' | 'jobSeconds'>;
  /** Node's process metrics (heap, event loop) on /metrics. @default true */
  processMetrics?: boolean;
  /** Where idempotency keys live. @default a MemoryIdempotencyStore of `idempotencyMaxKeys` */
  idempotencyStore?: IdempotencyStore;
}

/** A running gateway; whoever starts it closes it. */
export interface Gateway {
  /** e.g. `http://127.0.0.1:4000` */
  readonly url: string;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** The embedded emulator, when ER_BACKEND=emulator. */
  readonly emulator?: Emulator;
  close(): Promise<void>;
}

/** Codes a client may see as they are; any other error is masked as an internal one. */
const CLIENT_CODES = new Set([
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'THROTTLED',
  'CONFLICT',
  'LIMIT_EXCEEDED',
  'UPSTREAM_UNAVAILABLE',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

function formatErrorFor(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && CLIENT_CODES.has(code)) {
      const { stacktrace: _, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    logger.error({ err: unwrapResolverError(error), path: formatted.path }, 'unexpected error in a GraphQL operation');
    return { message: 'Internal server error', locations: formatted.locations, path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}

/** Starts the gateway and, with ER_BACKEND=emulator, the emulator it talks to. */
export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  const emulator =
    config.backend === 'emulator' ? await startEmulator({ ...options.emulator, jobSeconds: config.emulatorJobSeconds }) : undefined;
  const clients = createUpstreamClients({
    ...(emulator
      ? { endpoint: emulator.url, region: emulator.state.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : { endpoint: config.endpoint, region: config.region }),
    requestTimeoutMs: config.upstreamTimeoutMs,
  });
  const metrics = createMetrics({ processMetrics: options.processMetrics ?? true });
  const jobs = new JobStore(clients, (operation, outcome, error) => {
    metrics.upstreamRequests.inc({ operation, outcome });
    if (error) logger.warn({ operation, outcome, err: error }, 'upstream call failed');
  });
  const starter = new JobStarter(jobs, options.idempotencyStore ?? new MemoryIdempotencyStore({ maxKeys: config.idempotencyMaxKeys }));

  const app = express();
  const httpServer = createServer(app);
  const apollo = new ApolloServer<GatewayContext>({
    schema: await buildGatewaySchema(),
    logger,
    formatError: formatErrorFor(logger),
    includeStacktraceInErrorResponses: false,
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer })],
  });
  await apollo.start();

  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', backend: config.backend });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use(
    '/graphql',
    express.json({ limit: '100kb' }),
    expressMiddleware(apollo, { context: async () => ({ loaders: createLoaders(jobs), jobs, starter }) }),
  );

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, resolve);
  });
  const { address, port } = httpServer.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

  return {
    url,
    logger,
    metrics,
    emulator,
    async close() {
      await apollo.stop();
      clients.destroy();
      await emulator?.close();
    },
  };
}
