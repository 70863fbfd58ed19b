import type { ApolloServer, BaseContext } from '@apollo/server';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Deadlines, RequestDeadline } from '../upstream/deadline';
import type { GatewayMetrics } from './metrics';

export interface HttpLayerOptions<C extends BaseContext> {
  /** The context of one GraphQL request, whose calls wait for the service no longer than `deadline`. */
  context: (deadline: RequestDeadline) => C;
  deadlines: Deadlines;
  metrics: GatewayMetrics;
  logger: Logger;
  /** What `/healthz` names as the backend. */
  backend: string;
  /** The largest request body, in bytes. @default 100 KiB */
  bodyLimit?: number;
}

export const GRAPHQL_PATH = '/graphql';

/** The methods each route answers; any other method on these paths is 405 with `Allow`. */
const ROUTES: Record<string, string[]> = {
  [GRAPHQL_PATH]: ['GET', 'POST', 'OPTIONS'],
  '/healthz': ['GET', 'HEAD'],
  '/metrics': ['GET', 'HEAD'],
};

/** The HTTP layer; Apollo, which drains its server, is started before GraphQL is served. */
export interface HttpLayer<C extends BaseContext> {
  app: FastifyInstance;
  /** Mounts GraphQL on `/graphql`: call once Apollo has started, before listening. */
  serveGraphQL(apollo: ApolloServer<C>): void;
}

/**
 * The HTTP layer: fastify, with GraphQL on `/graphql`, `/healthz` and
 * `/metrics`. What it answers on its own (a body too large, malformed JSON,
 * an unknown route, a wrong method, a fault of its own) is JSON in GraphQL's
 * error shape, `{ errors: [{ message, extensions: { code } }] }`, with no
 * stack and no file path. CSRF prevention is Apollo's: a body that is not
 * JSON reaches it unparsed and is refused there with 400. The caller listens
 * on `.server` (graphql-ws shares it) and drains it through Apollo.
 */
export function createHttpLayer<C extends BaseContext>(options: HttpLayerOptions<C>): HttpLayer<C> {
  const { deadlines, metrics, logger } = options;
  /** Each GraphQL request's deadline, opened with its context, closed with its answer. */
  const requestDeadlines = new WeakMap<object, RequestDeadline>();
  const bodyLimit = options.bodyLimit ?? 100 * 1024;
  const app = fastify({ bodyLimit, logger: false, return503OnClosing: false });

  // Apollo answers every other content type (with its CSRF refusal, or 400): the body is read, within the limit, and dropped.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));

  app.get('/healthz', async () => ({ status: 'ok', backend: options.backend }));
  app.get('/metrics', async (_request, reply) => {
    void reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0];
    const allowed = ROUTES[path];
    if (allowed) {
      void reply.header('allow', allowed.join(', '));
      return refuse(reply, 405, 'METHOD_NOT_ALLOWED', `${path} answers ${allowed.join(', ')}, not ${request.method}.`);
    }
    return refuse(reply, 404, 'NOT_FOUND', `Nothing is served at ${path}; GraphQL is at ${GRAPHQL_PATH}.`);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status === 413) return refuse(reply, 413, 'PAYLOAD_TOO_LARGE', `The request body is larger than ${Math.floor(bodyLimit / 1024)} KiB.`);
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
      return refuse(reply, 400, 'BAD_REQUEST', 'The request body is not valid JSON.');
    }
    if (status >= 400 && status < 500) return refuse(reply, status, 'BAD_REQUEST', clientMessage(error));
    logger.error({ err: error, method: request.method, path: request.url.split('?', 1)[0] }, 'unexpected error in the HTTP layer');
    return refuse(reply, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
  });

  return {
    app,
    serveGraphQL(apollo) {
      // Everything a request asks of the service shares one deadline, which ends with the answer.
      const graphql = fastifyApolloHandler(apollo, {
        context: async (request) => {
          const deadline = deadlines.start();
          requestDeadlines.set(request, deadline);
          return options.context(deadline);
        },
      });
      app.route<{ Reply: string }>({
        method: ROUTES[GRAPHQL_PATH],
        url: GRAPHQL_PATH,
        handler: async function (request, reply) {
          try {
            return await graphql.call(this, request, reply);
          } finally {
            requestDeadlines.get(request)?.close();
          }
        },
      });
    },
  };
}

/** fastify's messages for request faults are about the request (e.g. a bad content length), never about the server; a first line only. */
function clientMessage(error: FastifyError): string {
  return error.message.split('\n', 1)[0];
}

function refuse(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ errors: [{ message, extensions: { code } }] });
}
