import type { ApolloServerPlugin } from '@apollo/server';

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
          const waits = (response.body.singleResult.errors ?? [])
            .map((error) => error.extensions?.retryAfterSeconds)
            .filter((s): s is number => typeof s === 'number');
          if (waits.length > 0) response.http.headers.set('retry-after', String(Math.max(...waits)));
        },
      };
    },
  };
}
