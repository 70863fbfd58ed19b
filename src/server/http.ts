import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import cors from '@fastify/cors';
import type { GraphQLError } from 'graphql';
import fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { AuthenticationError, credentialsFrom, isCredentialName, type AuthFailure, type Authenticator } from '../auth/authenticator';
import { ANONYMOUS, grantsKey, type Principal } from '../auth/principal';
import type { Deadlines, RequestDeadline } from '../upstream/deadline';
import { callerOf, type Caller } from './client-limits';
import { DASHBOARD_ROUTES, serveDashboard } from './dashboard';
import { FAVICON_PATH, serveFavicon } from './favicon';
import { IDE_PATH, serveIde, type IdeSettings } from './ide';
import { landingPageHtml, sendLandingPage, wantsPage } from './landing-page';
import type { GatewayMetrics } from '../observe/metrics';
import type { OperationObserver } from '../observe/operation';
import type { TraceCarrier } from '../observe/tracing';
import type { CallbackHandler } from './callback';
import type { CallbackExtension } from './callback-request';
import type { ObservedContext, PreparedQueries } from './prepared-queries';
import type { CachedAnswer, ResponseCache } from './response-cache';
import type { OriginGuard } from './origins';
import type { TrustedDocuments } from './trusted-documents';

export interface HttpLayerOptions<C extends BaseContext & ObservedContext> {
  /** The context of one GraphQL request by `caller`, whose calls wait for the service no longer than `deadline`; `carrier` reads its headers (trace context). */
  context: (deadline: RequestDeadline, caller: Caller, subscriber: undefined, carrier: TraceCarrier) => C;
  /** Who is asking: a GraphQL request that names no principal is answered 401 before Apollo sees it. */
  authenticator: Authenticator;
  /** Which Host names and page origins are served, on every route but /healthz; CORS follows it. */
  origins: OriginGuard;
  deadlines: Deadlines;
  logger: Logger;
  /** What `/healthz` names as the backend. */
  backend: string;
  /** Whether the gateway may take traffic (`/readyz`): each dependency's check, asked anew (within its own timeout) on every `/readyz`. */
  readiness: () => Promise<Record<string, boolean>>;
  /** True from SIGTERM on: `/readyz` answers 503 at once, whatever the checks, and every answer closes its connection. */
  shuttingDown: () => boolean;
  /** Which proxies' X-Forwarded-For names the client's address (fastify's `trustProxy`). @default none */
  trustProxy?: (address: string, hop: number) => boolean;
  /** Slow clients: headers, whole request, idle keep-alive, and connections held at once. */
  timeouts: { headersMs: number; requestMs: number; keepAliveMs: number };
  maxConnections: number;
  /** The largest request body, in bytes. */
  bodyLimit: number;
  /** With ER_TRUSTED_DOCUMENTS: only these operations run. */
  trusted?: TrustedDocuments;
  /** Serve the dashboard page at /dashboard/ (ER_DASHBOARD). */
  dashboard: boolean;
  /** Told of each request refused for its credentials, by why. */
  onAuthFailure?: (reason: AuthFailure) => void;
  /** Serve the GraphQL IDE at /ide/ (ER_IDE=graphiql), telling it what this gateway allows. @default not served */
  ide?: IdeSettings;
  /**
   * What a browser's GET /graphql gets: `ide`, a 302 to /ide/, and `landing`, our own page (see landing-page.ts), both before authentication;
   * `apollo`, Apollo's landing page (the embedded Sandbox), which Apollo serves after authentication as any GET.
   */
  browserPage: 'ide' | 'landing' | 'apollo';
  /** With ER_RESPONSE_CACHE_MB: answers reused before Apollo runs, each hit observed as an operation. @default none */
  responseCache?: { cache: ResponseCache; observer: OperationObserver };
  /** Queries Apollo has answered once, answered again without its pipeline; told of each such answer. @default none: Apollo answers all */
  prepared?: { queries: PreparedQueries<C>; onAnswer?: () => void };
}

export const GRAPHQL_PATH = '/graphql';
/** GraphQL over Server-Sent Events. */
export const SSE_PATH = '/graphql/stream';

/** Serves one request of GraphQL over SSE for `caller`, writing the response itself. */
export type SseHandler = (request: FastifyRequest, reply: FastifyReply, caller: Caller) => Promise<void>;

/** Headers a browser app may send across origins (CORS). */
const CORS_HEADERS = [
  'content-type',
  'authorization',
  'x-api-key',
  'apollo-require-preflight',
  'x-apollo-operation-name',
  'graphql-client-name',
  'graphql-client-version',
];
/** Request headers that decide an answer once auth is on: caches must keep answers apart by them. */
const CREDENTIAL_HEADERS = 'Authorization, X-API-Key';
const REALM = 'er-gateway';

/** The methods each route answers; any other method on these paths is 405 with `Allow`. */
const ROUTES: Record<string, string[]> = {
  [GRAPHQL_PATH]: ['GET', 'POST', 'OPTIONS'],
  [SSE_PATH]: ['GET', 'POST', 'OPTIONS'],
  '/healthz': ['GET', 'HEAD'],
  '/readyz': ['GET', 'HEAD'],
};

/** The HTTP layer; Apollo, which drains its server, is started before GraphQL is served. */
export interface HttpLayer<C extends BaseContext> {
  app: FastifyInstance;
  /** Mounts GraphQL on `/graphql` (a router's callback subscriptions to `callbacks`): call once Apollo has started, before listening. */
  serveGraphQL(apollo: ApolloServer<C>, sse: SseHandler, callbacks: CallbackHandler): void;
}

/**
 * The HTTP layer: fastify, with GraphQL on `/graphql` and `/healthz`
 * (`/metrics` has a listener of its own). What it answers on its own (a body too large, malformed JSON,
 * an unknown route, a wrong method, a fault of its own) is JSON in GraphQL's
 * error shape, `{ errors: [{ message, extensions: { code } }] }`, with no
 * stack and no file path. CSRF prevention is Apollo's: a body that is not
 * JSON reaches it unparsed and is refused there with 400. The caller listens
 * on `.server` (graphql-ws shares it) and drains it through Apollo.
 *
 * Before GraphQL: a Host or Origin the guard refuses is 403 (on every route
 * but /healthz, which probes reach by IP), a cross-origin preflight is
 * answered by CORS for allowed origins, and a request without a principal is
 * 401 with `WWW-Authenticate` (503 when the signing keys cannot be fetched).
 */
export function createHttpLayer<C extends BaseContext & ObservedContext>(options: HttpLayerOptions<C>): HttpLayer<C> {
  const { deadlines, logger, authenticator, origins } = options;
  /** Each GraphQL request's deadline, opened with its context, closed with its answer. */
  const requestDeadlines = new WeakMap<object, RequestDeadline>();
  /** Each GraphQL request's caller, from its credentials and address. */
  const callers = new WeakMap<object, Caller>();
  const { bodyLimit, timeouts } = options;
  const app = fastify({
    bodyLimit,
    logger: false,
    return503OnClosing: false,
    trustProxy: options.trustProxy ?? false,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // Node checks both timeouts on this interval: often enough that a slow client is cut near its limit.
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: Math.min(1000, Math.ceil(timeouts.headersMs / 4)) },
  });
  app.server.maxConnections = options.maxConnections;

  // Apollo answers every other content type (with its CSRF refusal, or 400): the body is read, within the limit, and dropped.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));

  // A callback hook, not an async one: it runs on every request, and a promise there shows in throughput.
  app.addHook('onRequest', (request, reply, done) => {
    // A client on keep-alive opens its next connection through the load balancer, which sends it to a replica that stays.
    if (options.shuttingDown()) reply.raw.setHeader('connection', 'close');
    const refused =
      request.url === '/healthz' || request.url === '/readyz' ? undefined : origins.refusal(request.headers.host, request.headers.origin);
    if (refused) return void refuse(reply, 403, 'FORBIDDEN', refused);
    const unreadable = unreadableBody(request.headers['content-type'], request.headers['content-encoding']);
    if (unreadable) return void refuse(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', unreadable);
    done();
  });
  void app.register(cors, {
    // Only origins the guard allowed get this far; same-origin requests need no CORS headers but get them harmlessly.
    origin: (origin, done) => done(null, origin !== undefined),
    methods: ROUTES[GRAPHQL_PATH],
    allowedHeaders: CORS_HEADERS,
    maxAge: 600,
    strictPreflight: false,
  });

  app.get('/healthz', async () => ({ status: 'ok', backend: options.backend }));
  // Ready when every dependency is: a load balancer sends no traffic to a replica that cannot reach Redis.
  app.get('/readyz', async (_request, reply) => {
    if (options.shuttingDown()) {
      return reply
        .code(503)
        .send({ status: 'shutting down', reason: 'This replica is shutting down (SIGTERM): send new traffic to another one.' });
    }
    const checks = await options.readiness();
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
  serveFavicon(app);
  if (options.dashboard) serveDashboard(app, logger);
  const ideRoutes = options.ide ? serveIde(app, options.ide, logger) : [];
  const pages = Object.fromEntries([FAVICON_PATH, ...ideRoutes].map((path) => [path, ['GET', 'HEAD']]));
  answerInJson(
    app,
    { ...ROUTES, ...(options.dashboard ? DASHBOARD_ROUTES : {}), ...pages },
    bodyLimit,
    logger,
    `GraphQL is at ${GRAPHQL_PATH}`,
  );

  /**
   * The caller a request's credentials name, or undefined once it has been answered 401 (or 503): at once when no
   * check must wait (ER_AUTH=none, a remembered token, an API key), so that such requests wait on no promise; else a promise.
   */
  function authenticated(request: FastifyRequest, reply: FastifyReply): Caller | undefined | Promise<Caller | undefined> {
    if (!authenticator.required) return callerOf(ANONYMOUS, request.ip);
    let principal: Principal | Promise<Principal>;
    try {
      principal = authenticator.principalOf(credentialsFrom((name) => request.headers[name]));
    } catch (err) {
      return refused(request, reply, err);
    }
    if (principal instanceof Promise) {
      return principal.then(
        (checked) => admitted(request, reply, checked),
        (err: unknown) => refused(request, reply, err),
      );
    }
    return admitted(request, reply, principal);
  }

  /** The last `Vary` an admitted request had before its credentials were added (CORS's `Origin`, on nearly every request), and the two joined: joined once, not per request. */
  let varyBefore = '';
  let varyJoined = CREDENTIAL_HEADERS;

  function admitted(request: FastifyRequest, reply: FastifyReply, principal: Principal): Caller {
    const vary = reply.getHeader('vary');
    if (vary) {
      const before = String(vary);
      if (before !== varyBefore) [varyBefore, varyJoined] = [before, `${before}, ${CREDENTIAL_HEADERS}`];
      void reply.header('vary', varyJoined);
    } else void reply.header('vary', CREDENTIAL_HEADERS);
    return callerOf(principal, request.ip);
  }

  function refused(request: FastifyRequest, reply: FastifyReply, err: unknown): undefined {
    if (err instanceof AuthenticationError) return void unauthenticated(request, reply, err);
    throw err;
  }

  /** 401 with the challenge of the accepted scheme; 503 when the fault is the signing keys' (the client may retry as is). */
  function unauthenticated(request: FastifyRequest, reply: FastifyReply, err: AuthenticationError): FastifyReply {
    options.onAuthFailure?.(err.reason);
    if (err.reason === 'unavailable') {
      // The key set logs its failure once per episode (warn); this line is per request, as a 401's is.
      logger.info({ path: request.url.split('?', 1)[0] }, 'a token could not be checked: the JWT signing keys could not be fetched');
      return refuse(reply.header('retry-after', '5'), 503, 'UPSTREAM_UNAVAILABLE', err.message);
    }
    logger.info({ reason: err.reason, path: request.url.split('?', 1)[0] }, 'request not authenticated');
    const scheme = authenticator.acceptsTokens ? 'Bearer' : 'ApiKey';
    const detail = err.ofToken ? `, error="invalid_token", error_description="${err.message}"` : '';
    return refuse(reply.header('www-authenticate', `${scheme} realm="${REALM}"${detail}`), 401, 'UNAUTHENTICATED', err.message);
  }

  return {
    app,
    serveGraphQL(apollo, sse, callbacks) {
      // Everything a request asks of the service shares one deadline, which ends with the answer.
      const landingPage =
        options.browserPage === 'landing' ? landingPageHtml({ dashboard: options.dashboard, ide: options.ide !== undefined }) : undefined;
      const responseCache = options.responseCache;
      const context = async (request: FastifyRequest): Promise<C> => {
        const deadline = deadlines.start();
        requestDeadlines.set(request, deadline);
        return options.context(deadline, callers.get(request)!, undefined, (name) => request.headers[name]);
      };
      app.route<{ Reply: string | Readable }>({
        method: ROUTES[GRAPHQL_PATH],
        url: GRAPHQL_PATH,
        handler: async function (request, reply) {
          if (wantsPage(request.method, request.headers.accept)) {
            if (options.browserPage === 'ide') return reply.redirect(IDE_PATH, 302);
            if (landingPage !== undefined) return sendLandingPage(reply, landingPage);
          }
          // With ER_AUTH=none, and for a remembered token or an API key, there is nothing to wait for: no promise on the way of every request.
          let caller = authenticated(request, reply);
          if (caller instanceof Promise) caller = await caller;
          if (!caller) return reply;
          if (options.trusted) {
            const untrusted = trustedOperation(request, options.trusted);
            if (untrusted) {
              const code = String(untrusted.extensions.code);
              return refuse(reply, code === 'FORBIDDEN' ? 403 : 400, code, untrusted.message);
            }
          }
          // A router's subscription in callback mode: answered by the callback transport, never cached.
          const callback = callbackExtension(request);
          if (callback) {
            // The subscription keeps its request (its trace context is read from it) for its life: not the credential in it.
            forgetCredentials(request);
            return callbacks(request, reply, caller, callback);
          }
          // Only once the request would reach Apollo: authenticated, its Host and Origin allowed, its document trusted.
          const key = responseCache?.cache.keyOf(
            { method: request.method, params: request.method === 'GET' ? request.query : request.body, headers: request.headers },
            authenticator.required ? grantsKey(caller.principal) : '',
          );
          if (key !== undefined) {
            const hit = responseCache!.cache.lookup(key);
            if (hit) return answerFromCache(request, reply, hit, responseCache!);
          }
          callers.set(request, caller);
          const direct = options.shuttingDown()
            ? undefined
            : options.prepared?.queries.prepare(request.method, request.body, request.headers);
          if (direct) {
            try {
              const answer = await options.prepared!.queries.answer(direct, await context(request));
              for (const [name, header] of answer.headers) void reply.header(name, header);
              void reply.code(answer.status);
              if (key !== undefined) responseCache!.cache.answered(key, answer, answer.operationName, answer.source);
              options.prepared!.onAnswer?.();
              return answer.body;
            } finally {
              requestDeadlines.get(request)?.close();
            }
          }
          const httpGraphQLRequest = graphQLRequestOf(request);
          if (key !== undefined) responseCache!.cache.expect(httpGraphQLRequest, key);
          try {
            const response = await apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: () => context(request) });
            for (const [name, header] of response.headers) void reply.header(name, header);
            void reply.code(response.status ?? 200);
            if (response.body.kind !== 'complete') return reply.send(Readable.from(response.body.asyncIterator));
            // A POST's: a GET may be answered with Apollo's landing page, whose type is no GraphQL answer's.
            if (request.method === 'POST' && (response.status === undefined || response.status === 200)) {
              options.prepared?.queries.learnContentType(request.headers.accept, response.headers.get('content-type'));
            }
            if (key !== undefined) responseCache!.cache.fill(httpGraphQLRequest, response.status, response.headers, response.body.string);
            return response.body.string;
          } finally {
            requestDeadlines.get(request)?.close();
          }
        },
      });
      app.route({
        method: ['GET', 'POST'],
        url: SSE_PATH,
        handler: async (request, reply) => {
          // graphql-sse answers a request that is not an event stream with a bare 404: say what it needs instead.
          if (!String(request.headers.accept ?? '').includes('text/event-stream')) {
            return refuse(
              reply,
              406,
              'NOT_ACCEPTABLE',
              `${SSE_PATH} streams GraphQL over Server-Sent Events: send Accept: text/event-stream. Queries and mutations go to ${GRAPHQL_PATH}.`,
            );
          }
          let caller = authenticated(request, reply);
          if (caller instanceof Promise) caller = await caller;
          if (!caller) return reply;
          // The stream keeps its request for its life: not the credential in it.
          forgetCredentials(request);
          await sse(request, reply, caller);
        },
      });
    },
  };
}

/**
 * `/metrics` on a listener of its own (ER_METRICS_PORT, loopback by
 * default): the process's figures are the operator's, not every client's.
 */
export function createMetricsListener(metrics: GatewayMetrics, logger: Logger): FastifyInstance {
  const app = fastify({ logger: false, bodyLimit: 1024 });
  app.get('/metrics', async (_request, reply) => {
    void reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  answerInJson(app, { '/metrics': ['GET', 'HEAD'] }, 1024, logger, 'metrics are at /metrics');
  return app;
}

/**
 * What `app` answers on its own is JSON in GraphQL's error shape: an unknown
 * route (404), a wrong method on a known one (405 with `Allow`), a body too
 * large, malformed JSON or a bad encoding (4xx), a fault of its own (500,
 * logged, with no stack or path).
 */
function answerInJson(app: FastifyInstance, routes: Record<string, string[]>, bodyLimit: number, logger: Logger, hint: string): void {
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0];
    const allowed = routes[path];
    if (allowed) {
      void reply.header('allow', allowed.join(', '));
      return refuse(reply, 405, 'METHOD_NOT_ALLOWED', `${path} answers ${allowed.join(', ')}, not ${request.method}.`);
    }
    return refuse(reply, 404, 'NOT_FOUND', `Nothing is served at ${path}; ${hint}.`);
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status === 413)
      return refuse(reply, 413, 'PAYLOAD_TOO_LARGE', `The request body is larger than ${Math.floor(bodyLimit / 1024)} KiB.`);
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
      return refuse(reply, 400, 'BAD_REQUEST', 'The request body is not valid JSON.');
    }
    if (status >= 400 && status < 500) return refuse(reply, status, 'BAD_REQUEST', clientMessage(error));
    logger.error({ err: error, method: request.method, path: request.url.split('?', 1)[0] }, 'unexpected error in the HTTP layer');
    return refuse(reply, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
  });
}

/** The request as Apollo reads it (as @as-integrations/fastify hands it over): a GET's query string is read from the URL, which trusted documents may have rewritten. */
function graphQLRequestOf(request: FastifyRequest) {
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const url = request.url;
  const at = url.indexOf('?');
  return { body: request.body, method: request.method.toUpperCase(), headers, search: at < 0 ? '' : url.slice(at) };
}

/**
 * Takes a request's credentials out of its headers (Node's parsed ones and
 * the raw list) once they are checked, for a request that lives as long as
 * its event stream or callback subscription: a presented key or token is kept nowhere
 * (docs/operators/securing.md).
 */
function forgetCredentials(request: FastifyRequest): void {
  const { headers, rawHeaders } = request.raw;
  for (const name of Object.keys(headers)) if (isCredentialName(name)) delete headers[name];
  for (let i = 0; i < rawHeaders.length; i += 2) if (isCredentialName(rawHeaders[i].toLowerCase())) rawHeaders[i + 1] = '';
}

/**
 * A hit: the stored bytes with Apollo's headers of the miss, and `Age`. The
 * headers set before (CORS, `Vary` by credentials) are this request's own,
 * as on a miss. Counted and traced as an operation, as Apollo's plugin does on a miss.
 */
function answerFromCache(
  request: FastifyRequest,
  reply: FastifyReply,
  hit: CachedAnswer,
  responseCache: { cache: ResponseCache; observer: OperationObserver },
): string {
  const observed = responseCache.observer.start((name) => request.headers[name], hit.operation);
  for (const [name, value] of hit.headers) void reply.header(name, value);
  void reply.header('age', String(responseCache.cache.ageOf(hit)));
  observed.settled(undefined);
  return hit.body;
}

/**
 * Puts the text of the trusted document a request names in its `query`
 * (dropping the hash it was named by, so Apollo runs the text), or returns
 * why it may not run. Requests Apollo will refuse anyway (no body, a batch)
 * are left to it.
 */
function trustedOperation(request: FastifyRequest, trusted: TrustedDocuments): GraphQLError | undefined {
  if (request.method === 'OPTIONS') return undefined;
  const source = (request.method === 'GET' ? request.query : request.body) as Record<string, unknown> | undefined;
  if (!source || typeof source !== 'object' || Array.isArray(source)) return undefined;
  let extensions = source.extensions as Record<string, unknown> | string | undefined;
  if (typeof extensions === 'string') {
    try {
      extensions = JSON.parse(extensions) as Record<string, unknown>;
    } catch {
      return undefined; // Apollo answers malformed extensions itself
    }
  }
  const resolved = trusted.resolve({ query: source.query || undefined, documentId: source.documentId, extensions });
  if (typeof resolved !== 'string') return resolved;
  const rest =
    extensions && typeof extensions === 'object'
      ? Object.fromEntries(Object.entries(extensions).filter(([name]) => name !== 'persistedQuery'))
      : undefined;
  if (request.method === 'GET') {
    // Apollo reads a GET's operation from the URL itself.
    const url = new URL(request.raw.url ?? '/', 'http://localhost');
    url.searchParams.set('query', resolved);
    url.searchParams.delete('documentId');
    if (rest) url.searchParams.set('extensions', JSON.stringify(rest));
    request.raw.url = `${url.pathname}${url.search}`;
    return undefined;
  }
  source.query = resolved;
  delete source.documentId;
  if (rest) source.extensions = rest;
  return undefined;
}

/** A POST's `extensions.subscription` (the HTTP callback protocol), when its JSON body has one. */
function callbackExtension(request: FastifyRequest): CallbackExtension | undefined {
  if (request.method !== 'POST') return undefined;
  const body = request.body as { extensions?: { subscription?: unknown } } | undefined;
  const extension = body && typeof body === 'object' ? body.extensions?.subscription : undefined;
  return extension && typeof extension === 'object' && !Array.isArray(extension) ? (extension as CallbackExtension) : undefined;
}

/** Why a body cannot be read as sent (a charset other than UTF-8, a compressed body), or undefined when it can. */
function unreadableBody(contentType: string | undefined, contentEncoding: string | undefined): string | undefined {
  if (contentEncoding !== undefined && contentEncoding.trim().toLowerCase() !== 'identity') {
    return `Request bodies are read as sent; content-encoding ${contentEncoding} is not accepted.`;
  }
  const charset = contentType === undefined ? undefined : /;\s*charset="?([^";\s]+)/i.exec(contentType)?.[1].toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')
    return `Request bodies are read as UTF-8; charset ${charset} is not accepted.`;
  return undefined;
}

/** fastify's messages for request faults are about the request (e.g. a bad content length), never about the server; a first line only. */
function clientMessage(error: FastifyError): string {
  return error.message.split('\n', 1)[0];
}

/** Answers `status` with one error in GraphQL's shape, as every refusal of the HTTP layer is; `details` join its extensions. */
export function refuse(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
): FastifyReply {
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send({ errors: [{ message, extensions: { code, ...details } }] });
}
