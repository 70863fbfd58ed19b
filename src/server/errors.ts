import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLError, GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { ERROR_CODES } from '../upstream/errors';

/** Codes a client may see as they are: ours and GraphQL's own. Any other error is masked as an internal one. */
const CLIENT_CODES = new Set<string>([
  ...ERROR_CODES,
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/** graphql-js's suggestions, at the end of a validation message. */
const SUGGESTION = / ?Did you mean .+\?$/;

/**
 * What a client sees of an error, over HTTP and websockets alike: our codes
 * and GraphQL's own pass; anything else is logged and masked, so no stack,
 * SDK class or internal message leaves the server.
 */
export function clientErrorFormatter(logger: Logger, { hideSuggestions = false }: { hideSuggestions?: boolean } = {}) {
  // With introspection off, "Did you mean …?" would tell the schema field by field.
  const shown = (message: string) => (hideSuggestions ? message.replace(SUGGESTION, '') : message);
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && CLIENT_CODES.has(code)) {
      const { stacktrace: _, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, message: shown(formatted.message), extensions };
    }
    // Validation and parse errors from graphql-ws come without a code.
    if (code === undefined && isGraphQLError(error) && error.originalError === undefined && !error.path) {
      return { message: shown(formatted.message), locations: formatted.locations, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } };
    }
    logger.error({ err: unwrapResolverError(error), path: formatted.path }, 'unexpected error in a GraphQL operation');
    return {
      message: 'Internal server error',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}

/** The code the client is sent for `error`, as the formatter decides it: for metrics and spans, which never carry a masked error's own. */
export function clientCode(error: GraphQLError): string {
  const code = error.extensions?.code;
  if (typeof code === 'string' && CLIENT_CODES.has(code)) return code;
  if (code === undefined && error.originalError === undefined && !error.path) return 'GRAPHQL_VALIDATION_FAILED';
  return 'INTERNAL_SERVER_ERROR';
}

function isGraphQLError(error: unknown): error is GraphQLError {
  return typeof error === 'object' && error !== null && 'toJSON' in error && 'locations' in error;
}

/** `format` over a list of errors, as the streaming transports send them. */
export function formatAll(format: ReturnType<typeof clientErrorFormatter>, errors: readonly GraphQLError[]): GraphQLFormattedError[] {
  return errors.map((error) => format(error.toJSON(), error));
}
