import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import type { GraphQLError, ValidationContext, ValidationRule } from 'graphql';

export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
}

/**
 * Validation rules that refuse an operation too big to be a client's honest
 * question before it runs: every list and alias can turn into upstream calls.
 * The same rules serve HTTP and websockets.
 */
export function limitRules(limits: OperationLimits): ValidationRule[] {
  // Report as a validation error (400, GRAPHQL_VALIDATION_FAILED) rather than throw, which would be a 500.
  const asValidationError = {
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
  };
  return [
    maxDepthRule({ n: limits.maxDepth, ...asValidationError }),
    maxAliasesRule({ n: limits.maxAliases, ...asValidationError }),
    costLimitRule({ maxCost: limits.maxCost, ...asValidationError }),
  ] as unknown as ValidationRule[];
}
