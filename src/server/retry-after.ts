import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';

/** The `Retry-After` of an answer with these errors: the longest `extensions.retryAfterSeconds` among them, or undefined when none says one. */
export function retryAfterOf(errors: readonly GraphQLFormattedError[] | undefined): string | undefined {
  const waits = (errors ?? []).map((error) => error.extensions?.retryAfterSeconds).filter((s): s is number => typeof s === 'number');
  return waits.length > 0 ? String(Math.max(...waits)) : undefined;
}

/**
 * Says `Retry-After` on HTTP when an answer's errors say when to retry
 * (`extensions.retryAfterSeconds`: THROTTLED, START_OUTCOME_UNKNOWN while a
 * start may still land): the longest of them, so a client or proxy that
 * reads only headers waits long enough for every field.
 */
export function retryAfterPlugin<C extends object>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const wait = retryAfterOf(response.body.singleResult.errors);
          if (wait !== undefined) response.http.headers.set('retry-after', wait);
        },
      };
    },
  };
}
