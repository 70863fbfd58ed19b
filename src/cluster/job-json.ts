import { GraphQLError } from 'graphql';

/** Record fields that are dates: JSON carries them as strings. */
const DATE_FIELDS = new Set(['startTime', 'endTime', 'observedAt']);

/** Parses a job (or an event carrying one) written as JSON: its dates become Dates again, an error a GraphQLError. */
export function parseJobJson<T>(text: string): T {
  const value = JSON.parse(text, (name, field: unknown) =>
    DATE_FIELDS.has(name) && typeof field === 'string' ? new Date(field) : field,
  ) as T;
  const error = (value as { error?: { message: string; extensions?: Record<string, unknown> } } | null)?.error;
  return (
    error && !(error instanceof GraphQLError)
      ? { ...value, error: new GraphQLError(error.message, { extensions: error.extensions }) }
      : value
  ) as T;
}
