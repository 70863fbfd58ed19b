import type { ApolloServerPlugin, BaseContext, GraphQLRequest, GraphQLRequestListener } from '@apollo/server';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import {
  BREAK,
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  visit,
  type DocumentNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { timingSafeEqual } from 'node:crypto';
import { gatewayError } from '../upstream/errors';
import { startsIn, type RefusedStarts } from './refused-starts';
import type { UpstreamCost } from './upstream-cost';
import { variablesRefusal, type VariablesLimits } from './variables';

export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
}

/** What the schema shows and to whom: introspection for everyone or no one; `_service` and ftv1 traces for the router. */
export interface SchemaPosture {
  introspection: boolean;
  /** The router's secret (`X-Router-Secret`); unset, the router is told apart from no one. */
  routerSecret?: string;
  /** ftv1 traces at all (ER_INLINE_TRACING). */
  inlineTracing: boolean;
}

export const ROUTER_SECRET_HEADER = 'x-router-secret';

/**
 * Validation rules that refuse an operation too big to be a client's honest
 * question before it runs: every list and alias can turn into upstream calls.
 * `__typename` aliases count like any other. With introspection off,
 * `__schema` and `__type` are refused too, wherever they appear (graphql-js's
 * rule looks at every field of the document, fragments included, and ignores
 * `@include`/`@skip`). The same rules serve HTTP, websockets and SSE.
 */
export function limitRules(limits: OperationLimits, posture: SchemaPosture): ValidationRule[] {
  // Report as a validation error (400, GRAPHQL_VALIDATION_FAILED) rather than throw, which would be a 500.
  const asValidationError = {
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
  };
  return [
    maxDepthRule({ n: limits.maxDepth, ...asValidationError }),
    maxAliasesRule({ n: limits.maxAliases, allowList: [], ...asValidationError }),
    costLimitRule({ maxCost: limits.maxCost, ...asValidationError }),
    ...(posture.introspection ? [] : [NoSchemaIntrospectionCustomRule]),
  ] as unknown as ValidationRule[];
}

/** Whether the request carries the router's secret. */
export function fromRouter(posture: SchemaPosture, secret: string | undefined): boolean {
  if (posture.routerSecret === undefined || secret === undefined) return false;
  const expected = Buffer.from(posture.routerSecret);
  const given = Buffer.from(secret);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Why a valid operation may not run, before it does: its variables (too
 * deep or too many values, checked first, as everything after reads them),
 * its upstream calls (see UpstreamCost), or `_service` asked by anyone but
 * the router while introspection is off. A refusal of the cost is counted
 * on /metrics unless `counted` is false.
 */
export function operationRefusal(
  cost: UpstreamCost,
  posture: SchemaPosture,
  variablesLimits: VariablesLimits,
  request: { document: DocumentNode; operationName?: string | null; variables?: Record<string, unknown> | null; router: boolean },
  counted = true,
): GraphQLError | undefined {
  const badVariables = variablesRefusal(request.variables, variablesLimits);
  if (badVariables) return badVariables;
  if (!posture.introspection && !request.router && asksForService(request.document)) {
    return gatewayError('FORBIDDEN', '_service is answered to the router only.');
  }
  return cost.refusal(request.document, request.operationName, request.variables, counted);
}

/** Documents already looked through: Apollo and the OperationGate hand the same parsed document to every request of one text. */
const serviceAsked = new WeakMap<DocumentNode, boolean>();

/**
 * Whether `_service` appears anywhere in the document: in any operation,
 * fragment or inline fragment, under any alias, whatever `@include` or
 * `@skip` say (a variable may turn either). Judging only the top-level
 * fields let `{ ... on Query { _service { sdl } } }` through.
 */
function asksForService(document: DocumentNode): boolean {
  let asks = serviceAsked.get(document);
  if (asks === undefined) {
    asks = false;
    visit(document, {
      Field(node) {
        if (node.name.value !== '_service') return undefined;
        asks = true;
        return BREAK;
      },
    });
    serviceAsked.set(document, asks);
  }
  return asks;
}

/**
 * Apollo's side of the limits: the operation's refusal (after variables are
 * known, before anything runs or any cache answers), and ftv1 traces only
 * for the router. The starts of a mutation refused as a whole are told to
 * `refusedStarts`, to be audited as any refused start is. Goes before the inline trace plugin.
 */
export function limitsPlugin<C extends BaseContext>(
  cost: UpstreamCost,
  posture: SchemaPosture,
  variablesLimits: VariablesLimits,
  refusedStarts: (context: C, ...refused: Parameters<RefusedStarts>) => void = () => {},
): ApolloServerPlugin<C> {
  const routerOf = (request: GraphQLRequest) => fromRouter(posture, request.http?.headers.get(ROUTER_SECRET_HEADER));
  // One listener for every request: it runs on the throughput path, and a closure per request shows there.
  const listener: GraphQLRequestListener<C> = {
    async validationDidStart({ document, request, contextValue }) {
      return async (errors) => {
        // Only a mutation can start a job; a document without one costs nothing more here.
        if (
          errors?.length &&
          document.definitions.some((definition) => definition.kind === Kind.OPERATION_DEFINITION && definition.operation === 'mutation')
        ) {
          const workflows = startsIn(document, request.operationName, request.variables);
          if (workflows.length > 0) refusedStarts(contextValue, workflows, 'invalid_operation');
        }
      };
    },
    async didResolveOperation({ document, operationName, request, operation, contextValue }) {
      // Over HTTP a subscription would run as a query and fail inside; say where subscriptions are served instead.
      if (operation?.operation === 'subscription') {
        throw new GraphQLError(
          'Subscriptions are served over websockets (graphql-transport-ws) at /graphql and over Server-Sent Events at /graphql/stream, not over a plain HTTP request.',
          {
            extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
          },
        );
      }
      const refusal = operationRefusal(cost, posture, variablesLimits, {
        document,
        operationName,
        variables: request.variables,
        router: routerOf(request),
      });
      if (refusal && operation?.operation === 'mutation') {
        const workflows = startsIn(document, operationName, request.variables);
        if (workflows.length > 0) refusedStarts(contextValue, workflows, 'limit_exceeded', refusal.extensions.limit as string | undefined);
      }
      // A 400, as for the other limits: the client must change the operation.
      if (refusal) throw new GraphQLError(refusal.message, { extensions: { ...refusal.extensions, http: { status: 400 } } });
    },
  };
  return {
    async requestDidStart({ request }) {
      const headers = request.http?.headers;
      // Traces say how the gateway works inside: the router's to ask for, or a development server's.
      if (
        headers?.has('apollo-federation-include-trace') &&
        !(posture.inlineTracing && (posture.routerSecret === undefined ? posture.introspection : routerOf(request)))
      ) {
        headers.delete('apollo-federation-include-trace');
      }
      return listener;
    },
  };
}
