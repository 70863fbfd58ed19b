import {
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { GatewayContext } from '../resolvers/context';
import { documentBytes } from './document-store';
import { operationRefusal, type SchemaPosture } from './limits';
import { startsIn, type RefusedStarts } from './refused-starts';
import type { OperationRequest, TrustedDocuments } from './trusted-documents';
import type { UpstreamCost } from './upstream-cost';
import type { VariablesLimits } from './variables';

/** Parsed and validated operations, by their text: many clients subscribe with the same few. @default 500 */
const DOCUMENT_CACHE_SIZE = 500;
/** The heap they hold at most, as documentBytes reckons it (least recently used out first). @default 16 MiB */
const DOCUMENT_CACHE_BYTES = 16 * 2 ** 20;

/** An operation as a streaming transport receives it (graphql-ws's subscribe payload, graphql-sse's request, a router's callback subscription). */
export interface StreamedOperation extends OperationRequest {
  query?: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/**
 * The door streaming transports (websockets, SSE, callback subscriptions)
 * share for each operation a client sends: parsed and validated once per
 * distinct text, against the same rules as HTTP, then held to the same
 * limits with its variables, as a client's (a callback subscription comes
 * through a router, but for one client, and is held to that client's
 * limits). The starts of a mutation it refuses are told to `refusedStarts`,
 * for the audit log.
 */
export class OperationGate {
  private readonly documents = new LRUCache<string, DocumentNode>({
    max: DOCUMENT_CACHE_SIZE,
    maxSize: DOCUMENT_CACHE_BYTES,
    sizeCalculation: documentBytes,
  });
  private readonly rules: readonly ValidationRule[];

  constructor(
    private readonly schema: GraphQLSchema,
    rules: ValidationRule[],
    private readonly cost: UpstreamCost,
    private readonly posture: SchemaPosture,
    private readonly variablesLimits: VariablesLimits,
    /** With ER_TRUSTED_DOCUMENTS: only these operations run, named by hash or identical text. */
    private readonly trusted?: TrustedDocuments,
  ) {
    this.rules = [...specifiedRules, ...rules];
  }

  /** `query` as the gate keeps it when it knows that text (the string its document was parsed from), else `query` itself. */
  sharedText(query: string): string {
    return this.documents.peek(query)?.loc?.source.body ?? query;
  }

  /** The document of the operation a client sent, or the errors that refuse it: an untrusted document, a parse error, validation errors, or a limit. */
  admit(request: StreamedOperation, refusedStarts?: RefusedStarts): DocumentNode | readonly GraphQLError[] {
    // A transport's empty query stands for none: the client named a trusted document by hash.
    const query = this.trusted?.resolve({ ...request, query: request.query || undefined }) ?? request.query ?? '';
    if (typeof query !== 'string') return [query];
    let document = this.documents.get(query);
    if (!document) {
      try {
        document = parse(query);
      } catch (err) {
        return [err as GraphQLError];
      }
      const errors = validate(this.schema, document, this.rules);
      if (errors.length > 0) {
        tellStarts(refusedStarts, document, request, 'invalid_operation');
        return errors;
      }
      this.documents.set(query, document);
    }
    const refusal = operationRefusal(this.cost, this.posture, this.variablesLimits, {
      document,
      operationName: request.operationName,
      variables: request.variables,
      router: false,
    });
    if (!refusal) return document;
    tellStarts(refusedStarts, document, request, 'limit_exceeded', refusal.extensions.limit as string | undefined);
    return [refusal];
  }
}

/** Tells `refusedStarts` of the starts a refused document held, if it held any. */
function tellStarts(
  refusedStarts: RefusedStarts | undefined,
  document: DocumentNode,
  request: StreamedOperation,
  reason: 'invalid_operation' | 'limit_exceeded',
  limit?: string,
): void {
  if (!refusedStarts) return;
  const workflows = startsIn(document, request.operationName, request.variables);
  if (workflows.length > 0) refusedStarts(workflows, reason, limit);
}

/**
 * Closes the operation's deadline once `work` has settled: a subscription's with its setup, as its events read nothing more of the
 * service. The operation is observed then too (its duration, its errors' codes, its span), as Apollo's plugin observes HTTP's.
 */
export async function settleDeadline<T extends ExecutionResult | AsyncIterable<unknown>>(
  work: T | Promise<T>,
  args: ExecutionArgs,
): Promise<T> {
  const { deadline, observed } = args.contextValue as GatewayContext;
  observed.resolved(args.document, args.operationName);
  let result: T | undefined;
  try {
    return (result = await work);
  } finally {
    deadline.close();
    observed.settled(result === undefined ? [new GraphQLError('The operation failed.')] : 'errors' in result ? result.errors : undefined);
  }
}
