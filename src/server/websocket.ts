import { parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema, type ValidationRule } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { Server } from 'node:http';
import { LRUCache } from 'lru-cache';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import type { GatewayContext } from '../resolvers/context';
import { clientErrorFormatter } from './errors';

export interface WebSocketOptions {
  httpServer: Server;
  schema: GraphQLSchema;
  /** Rules beyond GraphQL's own, as on HTTP. */
  validationRules: ValidationRule[];
  context: () => GatewayContext;
  logger: Logger;
  /** Ping interval. @default 12000 */
  keepAliveMs: number;
  /** A socket that sends no connection_init within this time is closed (4408). @default 3000 */
  initTimeoutMs: number;
}

/** Parsed and validated operations, by their text: many clients subscribe with the same few. */
const DOCUMENT_CACHE_SIZE = 500;

/**
 * GraphQL over websockets (the graphql-transport-ws protocol) at /graphql on
 * the HTTP server's port. Returns the means to close every socket (code 1001)
 * and wait for their subscriptions to be released.
 */
export function serveWebSockets(options: WebSocketOptions): { dispose(): void | Promise<void> } {
  const { schema, logger } = options;
  const format = clientErrorFormatter(logger);
  const documents = new LRUCache<string, DocumentNode>({ max: DOCUMENT_CACHE_SIZE });
  const wsServer = new WebSocketServer({ server: options.httpServer, path: '/graphql' });

  return useServer<Record<string, unknown> | undefined, { ctx?: GatewayContext }>(
    {
      schema,
      connectionInitWaitTimeout: options.initTimeoutMs,
      context: () => options.context(),
      onSubscribe: (_ctx, _id, payload) => {
        let document = documents.get(payload.query);
        if (!document) {
          try {
            document = parse(payload.query);
          } catch (err) {
            return [err as never];
          }
          const errors = validate(schema, document, [...specifiedRules, ...options.validationRules]);
          if (errors.length > 0) return errors;
          documents.set(payload.query, document);
        }
        return { schema, document, variableValues: payload.variables, operationName: payload.operationName ?? undefined };
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => format(error.toJSON(), error)),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map((error) => format(error.toJSON(), error)) } : result,
    },
    wsServer,
    options.keepAliveMs,
  );
}
