import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import type { ObservedOperation } from './operation';

/**
 * Observes each HTTP operation Apollo runs: its duration and errors on
 * /metrics, and with tracing its server span, named by the semantic
 * conventions once Apollo has resolved the operation. The operation is the
 * context's (`observed`), started with the request's headers; it settles
 * when the answer is sent, a cached answer's too.
 */
export function observePlugin<C extends { observed: ObservedOperation }>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart({ contextValue }) {
      const { observed } = contextValue;
      let errors: readonly GraphQLError[] | undefined;
      return {
        async didResolveOperation({ document, operation, source }) {
          observed.resolved(document, operation, source);
        },
        async didEncounterErrors(requestContext) {
          errors = requestContext.errors;
        },
        async willSendResponse() {
          observed.settled(errors);
        },
      };
    },
  };
}
