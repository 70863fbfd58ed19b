import { SpanStatusCode, type Context } from '@opentelemetry/api';
import { isObjectType, type GraphQLFieldResolver, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import type { Tracing } from './tracing';

/** Reads the operation's trace context from the GraphQL context (ours: `observed.traceContext`). */
type TraceOf = (context: unknown) => Context | undefined;

/** `a.b.0.c`: the field's path in the answer, list indexes included, as the GraphQL instrumentation writes it. */
function pathOf(info: GraphQLResolveInfo): string {
  const keys: (string | number)[] = [];
  for (let at: GraphQLResolveInfo['path'] | undefined = info.path; at; at = at.prev) keys.push(at.key);
  return keys.reverse().join('.');
}

/**
 * With ER_TRACE_RESOLVERS: a span per field resolver that does work, child
 * of the operation's span. type-graphql gives every field a resolver, so
 * "does work" is told by the answer: a resolver that returns a promise (a
 * loader, a call, a check) gets a span from the moment it was called to the
 * promise settling; one that returns its value at once (a property read)
 * gets none. Spans are named `graphql.resolve Parent.field`, by the schema
 * (the path, which carries a client's aliases and list indexes, would make
 * span names without bound), with `graphql.field.name`, `graphql.field.path`,
 * `graphql.field.type` and `graphql.parent.type`; they are siblings under the operation span (the
 * context travels explicitly, so a field does not know its parent field's
 * span). Subscription fields are left alone: their events are counted on
 * the subscription, not traced (see Observing it).
 */
export function traceResolvers(schema: GraphQLSchema, tracing: Tracing, traceOf: TraceOf): void {
  const skipped = new Set([schema.getSubscriptionType()?.name]);
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__') || skipped.has(type.name)) continue;
    for (const field of Object.values(type.getFields())) {
      const resolve = field.resolve;
      if (!resolve) continue;
      field.resolve = traced(resolve, tracing, traceOf);
    }
  }
}

function traced(
  resolve: GraphQLFieldResolver<unknown, unknown>,
  tracing: Tracing,
  traceOf: TraceOf,
): GraphQLFieldResolver<unknown, unknown> {
  return (source, args, context, info) => {
    const parent = traceOf(context);
    if (!parent) return resolve(source, args, context, info);
    const startTime = performance.timeOrigin + performance.now();
    const result = resolve(source, args, context, info);
    if (!(result instanceof Promise)) return result;
    const span = tracing.startSpan(
      `graphql.resolve ${info.parentType.name}.${info.fieldName}`,
      {
        startTime,
        attributes: {
          'graphql.field.name': info.fieldName,
          'graphql.field.path': pathOf(info),
          'graphql.field.type': String(info.returnType),
          'graphql.parent.type': info.parentType.name,
        },
      },
      parent,
    );
    if (!span) return result;
    return result.then(
      (value: unknown) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        const code = (err as { extensions?: { code?: unknown } }).extensions?.code;
        span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : 'error' });
        span.end();
        throw err;
      },
    );
  };
}
