import { EntityResolutionServiceException } from '@aws-sdk/client-entityresolution';
import { GraphQLError } from 'graphql';
import { isAwsSetupError } from './aws-access';

/** The `extensions.code` values the gateway answers with. */
export const ERROR_CODES = [
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'THROTTLED',
  'CONFLICT',
  'LIMIT_EXCEEDED',
  'UPSTREAM_UNAVAILABLE',
  'GATEWAY_MISCONFIGURED',
  'START_OUTCOME_UNKNOWN',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** How long a client should wait before retrying a throttled call. */
export const THROTTLE_RETRY_AFTER_SECONDS = 1;

export function gatewayError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { ...extensions, code } });
}

/**
 * What refused a start (or a read or subscription) before it reached the
 * service: the policy (`not_granted`, `output_not_allowed`), input validation
 * (`invalid_input`), an operation limit (`limit_exceeded`), a document
 * that failed validation, whose rules include the depth, alias and cost
 * limits (`invalid_operation`), or its
 * idempotency key (`idempotency_key_reused`: the key named another start;
 * `idempotency_key_busy`: another request with the key is still starting).
 * The audit log says it.
 */
export type RefusalReason =
  | 'not_granted'
  | 'output_not_allowed'
  | 'invalid_input'
  | 'invalid_operation'
  | 'limit_exceeded'
  | 'idempotency_key_reused'
  | 'idempotency_key_busy'
  | 'start_may_still_land';

/** Errors that are the gateway's own refusals, with their reason: a start that ends with one was refused, not failed. */
const refusals = new WeakMap<object, RefusalReason>();

/** Marks `error` as the gateway's refusal for `reason`; the client sees it unchanged. */
export function asRefusal(error: GraphQLError, reason: RefusalReason): GraphQLError {
  refusals.set(error, reason);
  return error;
}

/** The reason `error` was marked with, if it is one of the gateway's refusals. */
export function refusalReason(error: unknown): RefusalReason | undefined {
  return typeof error === 'object' && error !== null ? refusals.get(error) : undefined;
}

/** A refusal of bad input, naming the argument or input field at fault. */
export function badInput(field: string, message: string): GraphQLError {
  return gatewayError('BAD_USER_INPUT', message, { field });
}

/**
 * The name of a failed call for metrics and logs: the service's error name
 * (ThrottlingException…), the network's code (ECONNREFUSED, ECONNRESET…),
 * or `timeout` when an attempt got no answer in time.
 */
export function failureName(err: unknown): string {
  if (err instanceof EntityResolutionServiceException) return err.name;
  if (!(err instanceof Error)) return 'Error';
  if (err.name === 'TimeoutError' || (err as { code?: string }).code === 'ETIMEDOUT') return 'timeout';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // The SDK wraps what is not an Error of its own realm, keeping only the message ("…connect ECONNREFUSED 127.0.0.1:1").
  return /\b(E[A-Z]{4,})\b/.exec(err.message)?.[1] ?? err.name;
}

/**
 * The service's exceptions that refuse what the client asked (a missing job,
 * bad input, a conflicting job): the client's business, logged at debug, where
 * service trouble is the operator's and logged as a warning.
 */
export const CLIENT_REFUSALS: ReadonlySet<string> = new Set(['ResourceNotFoundException', 'ValidationException', 'ConflictException']);

/** Errors of calls the service never answered (a timeout, a cut connection): what was sent may still be acted on. */
const unansweredCalls = new WeakSet<GraphQLError>();

/** Whether `err` is of a call the service did not answer, as opposed to one it answered with a failure. */
export function unanswered(err: unknown): boolean {
  return err instanceof GraphQLError && unansweredCalls.has(err);
}

/** What the gateway was doing: reading, or starting a job. */
export type UpstreamAction = 'read' | 'start';

/**
 * Turns anything the SDK threw into the one error a client sees. `subject`
 * names what was asked for ("ID-mapping job … of workflow …") in words a UI
 * can show. Service messages pass through only for input the service refused;
 * nothing else of the SDK (classes, request IDs, stacks) leaves this function.
 */
export function mapUpstreamError(err: unknown, subject: string, action: UpstreamAction = 'read', operation?: string): GraphQLError {
  const verb = action === 'read' ? 'read' : 'start a job of';
  if (err instanceof GraphQLError) return err;
  if (isAwsSetupError(err)) {
    return gatewayError(
      'GATEWAY_MISCONFIGURED',
      'The gateway is not set up to call AWS (no region or no credentials); its operators see why in its log and on /readyz.',
    );
  }
  if (!(err instanceof EntityResolutionServiceException)) {
    const error = gatewayError('UPSTREAM_UNAVAILABLE', 'The Entity Resolution service could not be reached; try again shortly.');
    unansweredCalls.add(error);
    return error;
  }
  switch (err.name) {
    case 'ResourceNotFoundException':
      return gatewayError('NOT_FOUND', `${subject} was not found.`);
    case 'ValidationException':
      return gatewayError('BAD_USER_INPUT', `The service refused the request for ${subject}: ${err.message}`);
    case 'AccessDeniedException':
      // The IAM action names what the gateway's role lacks: the operator's fix, and nothing of the account.
      return gatewayError(
        'FORBIDDEN',
        `The gateway is not allowed to ${verb} ${subject}${operation ? ` (its AWS identity lacks entityresolution:${operation})` : ''}.`,
      );
    case 'ConflictException':
      return gatewayError(
        'CONFLICT',
        `A job that blocks this one is already queued or running, of ${subject} or of another workflow of its kind (the service runs one at a time per workflow, and its quotas allow one per region). Start again once it has finished.`,
      );
    case 'ExceedsLimitException': {
      const { quotaName, quotaValue } = err as EntityResolutionServiceException & { quotaName?: string; quotaValue?: number };
      return gatewayError(
        'LIMIT_EXCEEDED',
        `A service quota was reached${quotaName ? ` (${quotaName}: ${quotaValue})` : ''}; for running jobs, start again once the running one has finished.`,
        {
          quotaName,
          quotaValue,
        },
      );
    }
    case 'ThrottlingException':
      return gatewayError(
        'THROTTLED',
        `The service is throttling requests for ${subject}; retry after ${THROTTLE_RETRY_AFTER_SECONDS} s.`,
        {
          retryAfterSeconds: THROTTLE_RETRY_AFTER_SECONDS,
        },
      );
    default:
      return gatewayError('UPSTREAM_UNAVAILABLE', `The Entity Resolution service failed to answer for ${subject}; try again shortly.`);
  }
}
