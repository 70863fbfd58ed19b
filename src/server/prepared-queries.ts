import { HeaderMap, type ApolloServerPlugin, type GraphQLRequestContext, type GraphQLRequestListener } from '@apollo/server';
import type { CachePolicy } from '@apollo/cache-control-types';
import {
  execute,
  getVariableValues,
  type DocumentNode,
  type GraphQLError,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ObservedOperation } from '../observe/operation';
import { documentBytes } from './document-store';
import { operationRefusal, type SchemaPosture } from './limits';
import { retryAfterOf } from './retry-after';
import type { UpstreamCost } from './upstream-cost';
import type { VariablesLimits } from './variables';

/*
 * Two pieces of Apollo Server that its package does not export, read from its
 * files (the version is pinned in package.json): the key under which its
 * instrumented resolvers find a request's field hooks (the cache control
 * plugin's `willResolveField` sets each field's cache hint through it), and
 * its cache policy, the overall policy of one request.
 */
const apolloFiles = dirname(createRequire(__filename).resolve('@apollo/server'));
const load = createRequire(join(apolloFiles, 'index.js'));
const { symbolExecutionDispatcherWillResolveField: FIELD_HOOKS } = load('./utils/schemaInstrumentation.js') as {
  symbolExecutionDispatcherWillResolveField: symbol;
};
const { newCachePolicy } = load('./cachePolicy.js') as { newCachePolicy: () => CachePolicy };

/** Queries remembered, by text and operation name: clients send the same few. @default 500 */
const PLANS = 500;
/** The heap their documents hold at most, as documentBytes reckons it (least recently used out first). @default 16 MiB */
const PLANS_BYTES = 16 * 2 ** 20;
/** Accept headers whose content type is known, at most (least recently used out first): clients send a handful. @default 32 */
const ACCEPTS = 32;
/** Apollo's content type for a request with no Accept header. */
const JSON_TYPE = 'application/json; charset=utf-8';

/** A query Apollo parsed, validated and resolved once, with the schema it ran on. */
interface Plan {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  schema: GraphQLSchema;
  source: string;
}

/** A request that may be answered directly: its plan, and what Apollo would read of it. */
export interface PreparedRequest {
  plan: Plan;
  operationName: string | undefined;
  variables: Record<string, unknown> | undefined;
  contentType: string;
}

/** An answer as Apollo would have sent it: its status, its headers, its bytes; with `policy` when every field may be reused. */
export interface DirectAnswer {
  status: number;
  headers: [string, string][];
  body: string;
  /** The overall cache policy, when the answer has no errors and is cacheable by its hints. */
  policy?: { maxAge: number; scope: 'PUBLIC' | 'PRIVATE' };
  operationName: string | undefined;
  source: string;
}

/** What a request's context must hold here: the operation as the metrics and the trace see it. */
export type ObservedContext = { observed: ObservedOperation };

export interface PreparedQueriesOptions<C extends ObservedContext> {
  cost: UpstreamCost;
  posture: SchemaPosture;
  variablesLimits: VariablesLimits;
  /** Apollo's `formatError` (the gateway's masking). */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /** The cache control plugin given to Apollo: the same instance computes hints and `Cache-Control` here. */
  cacheControl: ApolloServerPlugin<C>;
}

/**
 * Queries Apollo has answered once, answered again without Apollo's request
 * pipeline (its HTTP parsing, hashing, plugin hooks, content negotiation),
 * which costs more per request than executing a small query does.
 *
 * Contract: a request is answered here only when Apollo would take exactly
 * these steps for it, else `prepare` returns undefined and Apollo answers it
 * as before. It must be a POST of `application/json` whose body holds only
 * `query`, `operationName` and `variables`, without the router's secret or a
 * request for an ftv1 trace, with an Accept header whose content type Apollo
 * chose before; its text and operation name must be those of a query
 * (never a mutation or subscription) that Apollo parsed, validated and
 * started to execute (so every validation rule passed); its variables must
 * coerce, and pass the limits plugin's checks (variables' size, cost,
 * `_service`). What runs then is what Apollo runs: the same context, the
 * same instrumented resolvers and cache control plugin (hints, `Cache-Control`),
 * graphql-js's execute, Apollo's error normalisation with the gateway's
 * `formatError`, `Retry-After`, the operation observed (metrics, trace), and
 * Apollo's JSON with fields in its order. A test compares every answer with Apollo's, byte for byte.
 */
export class PreparedQueries<C extends ObservedContext> {
  private readonly plans = new LRUCache<string, Plan>({
    max: PLANS,
    maxSize: PLANS_BYTES,
    sizeCalculation: (plan) => documentBytes(plan.document),
  });
  /** Apollo's content type by the Accept header it was chosen for: made-up headers pass through without keeping out the ones in use. */
  private readonly contentTypes = new LRUCache<string, string>({ max: ACCEPTS });

  constructor(private readonly options: PreparedQueriesOptions<C>) {}

  /** Apollo's side: remembers each query Apollo starts to execute, after its validation and the limits plugin's checks passed. */
  plugin(): ApolloServerPlugin<C> {
    const { plans } = this;
    const listener: GraphQLRequestListener<C> = {
      async executionDidStart({ operation, document, source, request, schema }) {
        if (operation?.operation !== 'query' || request.http?.method !== 'POST' || !source) return;
        plans.set(planKey(source, request.operationName), { document, operation, schema, source });
      },
    };
    return { requestDidStart: async () => listener };
  }

  /** Apollo answered a POST with this Accept header with `contentType`, status 200: POSTs with the same header get the same. */
  learnContentType(accept: string | undefined, contentType: string | undefined): void {
    if (accept === undefined || accept === '' || contentType === undefined || this.contentTypes.has(accept)) return;
    this.contentTypes.set(accept, contentType);
  }

  /** The request, ready to be answered here, or undefined when Apollo must answer it. Has no effect: counts nothing, refuses nothing. */
  prepare(method: string, body: unknown, headers: Record<string, string | string[] | undefined>): PreparedRequest | undefined {
    // Apollo answers a POST's body only: any other method with the same body it refuses (an OPTIONS with 405).
    if (method !== 'POST') return undefined;
    if (headers['apollo-federation-include-trace'] !== undefined || headers['x-router-secret'] !== undefined) return undefined;
    const type = headers['content-type'];
    if (type !== 'application/json' && (typeof type !== 'string' || type.toLowerCase() !== 'application/json; charset=utf-8'))
      return undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
    for (const name of Object.keys(body)) if (name !== 'query' && name !== 'operationName' && name !== 'variables') return undefined;
    const { query, operationName, variables } = body as Record<string, unknown>;
    if (typeof query !== 'string' || query === '') return undefined;
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
    if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) return undefined;
    const accept = headers.accept;
    const contentType =
      accept === undefined || accept === '' ? JSON_TYPE : typeof accept === 'string' ? this.contentTypes.get(accept) : undefined;
    if (contentType === undefined) return undefined;
    const name = operationName ?? undefined;
    const plan = this.plans.get(planKey(query, name));
    if (!plan) return undefined;
    const given = (variables ?? undefined) as Record<string, unknown> | undefined;
    const { cost, posture, variablesLimits } = this.options;
    const refusal = operationRefusal(
      cost,
      posture,
      variablesLimits,
      { document: plan.document, operationName: plan.operation.name?.value || null, variables: given, router: false },
      false,
    );
    if (refusal) return undefined;
    // Variables that do not coerce are Apollo's to answer (400, BAD_USER_INPUT).
    if (getVariableValues(plan.schema, plan.operation.variableDefinitions ?? [], given ?? {}).errors) return undefined;
    return { plan, operationName: name, variables: given, contentType };
  }

  /** Executes a prepared request with `context`, as Apollo would, and gives its answer. */
  async answer(request: PreparedRequest, context: C): Promise<DirectAnswer> {
    const { plan } = request;
    const { observed } = context;
    observed.resolved(plan.document, plan.operation, plan.source);
    const requestContext = {
      overallCachePolicy: newCachePolicy(),
      response: { http: { headers: new HeaderMap(), status: undefined as number | undefined }, body: undefined as unknown },
      contextValue: context,
    } as unknown as GraphQLRequestContext<C>;
    const cacheControl = await this.options.cacheControl.requestDidStart?.(requestContext);
    const fields = await cacheControl?.executionDidStart?.(requestContext as never);
    if (fields?.willResolveField) {
      const willResolveField = fields.willResolveField.bind(fields);
      Object.defineProperty(context, FIELD_HOOKS, { value: willResolveField });
    }
    const result = await execute({
      schema: plan.schema,
      document: plan.document,
      contextValue: context,
      variableValues: request.variables,
      operationName: request.operationName,
    });
    const errors = result.errors;
    const { http } = requestContext.response;
    let formattedErrors: GraphQLFormattedError[] | undefined;
    if (errors) {
      formattedErrors = formatErrors(errors, this.options.formatError, http);
      if (result.data === undefined && !http.status) http.status = 400;
    }
    const singleResult = { ...result, errors: formattedErrors };
    requestContext.response.body = { kind: 'single', singleResult };
    const wait = retryAfterOf(formattedErrors);
    if (wait !== undefined) http.headers.set('retry-after', wait);
    await cacheControl?.willSendResponse?.(requestContext as never);
    observed.settled(errors);
    http.headers.set('content-type', request.contentType);
    const policy = errors ? undefined : (requestContext.overallCachePolicy.policyIfCacheable() ?? undefined);
    return {
      status: http.status ?? 200,
      headers: [...http.headers],
      body: `${JSON.stringify({ errors: singleResult.errors, data: singleResult.data, extensions: singleResult.extensions })}\n`,
      policy,
      operationName: plan.operation.name?.value,
      source: plan.source,
    };
  }
}

/** A query's text and the operation name its request gave (none and an empty one are different requests to Apollo). */
function planKey(source: string, operationName: string | null | undefined): string {
  return operationName === undefined || operationName === null ? `\u0001${source}` : `${operationName}\u0000${source}`;
}

/**
 * Apollo's normalisation of execution errors, then `formatError`: a code for
 * every error (INTERNAL_SERVER_ERROR when it has none), an `http` extension
 * moved to the answer's status and headers, and an error that fails to
 * format masked as Apollo masks it.
 */
function formatErrors(
  errors: readonly GraphQLError[],
  formatError: PreparedQueriesOptions<ObservedContext>['formatError'],
  http: { headers: HeaderMap; status?: number },
): GraphQLFormattedError[] {
  return errors.map((error) => {
    try {
      const extensions: Record<string, unknown> = { ...error.extensions, code: error.extensions.code ?? 'INTERNAL_SERVER_ERROR' };
      const head = extensions.http as { status?: unknown; headers?: unknown } | undefined;
      if (
        head &&
        typeof head === 'object' &&
        (!('status' in head) || typeof head.status === 'number') &&
        (!('headers' in head) || head.headers instanceof Map)
      ) {
        if (head.status) http.status = head.status as number;
        for (const [name, value] of (head.headers as Map<string, string> | undefined) ?? []) http.headers.set(name, value);
        delete extensions.http;
      }
      return formatError({ ...error.toJSON(), extensions }, error);
    } catch {
      return { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
  });
}
