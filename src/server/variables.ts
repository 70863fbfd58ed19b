import type { GraphQLError } from 'graphql';
import { gatewayError } from '../upstream/errors';

/** How big an operation's variables may be, before anything reads them. */
export interface VariablesLimits {
  /** Lists and input objects nested in one variable's value, at most. @default 32 */
  maxDepth: number;
  /** Values in all the variables, every list item, object field and scalar counted. @default 10000 */
  maxValues: number;
}

/**
 * Why an operation's variables are refused, or undefined when they are
 * within the limits. Checked before coercion, the upstream-cost estimate or
 * the response cache reads them, by every transport (HTTP through the limits
 * plugin, websockets and SSE through the OperationGate): graphql-js coerces
 * variables recursively, so a value nested 40,000 deep (80 KB of `[`, within
 * the body limit) overflowed the stack there, a 500 on HTTP, 4500 on a
 * websocket, no answer on SSE. The walk here is iterative and stops at the
 * first value past a limit; JSON.parse itself is not recursive in V8.
 */
export function variablesRefusal(variables: unknown, limits: VariablesLimits): GraphQLError | undefined {
  if (variables === null || typeof variables !== 'object') return undefined;
  // Each variable's value starts at depth 0: `$ids: [1, 2]` is a depth of 1.
  const pending: { value: unknown; depth: number }[] = Object.values(variables).map((value) => ({ value, depth: 0 }));
  let values = 0;
  for (let next = pending.pop(); next; next = pending.pop()) {
    if (++values > limits.maxValues) {
      return gatewayError('BAD_USER_INPUT', `The variables hold more than ${limits.maxValues} values.`, {
        limit: 'variablesValues',
        limitValue: limits.maxValues,
      });
    }
    const { value, depth } = next;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= limits.maxDepth) {
      return gatewayError('BAD_USER_INPUT', `The variables nest lists and objects more than ${limits.maxDepth} deep.`, {
        limit: 'variablesDepth',
        limitValue: limits.maxDepth,
      });
    }
    for (const item of Array.isArray(value) ? value : Object.values(value)) pending.push({ value: item, depth: depth + 1 });
  }
  return undefined;
}
