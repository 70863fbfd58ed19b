import { SpanKind, SpanStatusCode, type Attributes, type Context } from '@opentelemetry/api';
import { Redis } from 'ioredis';
import type { RedisClient } from '../cluster/redis';
import type { Tracing } from './tracing';

/**
 * Runs `work`, one Redis command (`operation`, e.g. `GET`, or `EVALSHA` of a
 * script named `script`) made for the operation or poll whose trace context
 * is `parent`, as a client span of its own. No span without a parent
 * (background work) or when the parent is not sampled.
 */
export type RedisSpan = <T>(parent: Context | undefined, operation: string, work: () => Promise<T>, script?: string) => Promise<T>;

/** With tracing off: the command alone. */
export const untracedRedis: RedisSpan = (_parent, _operation, work) => work();

/**
 * Redis client spans, as the database semantic conventions name them: the
 * span is the command's name (`GET`, `EVALSHA erTake`), with
 * `db.system.name=redis` (and the older `db.system`), `db.operation.name`,
 * `db.stored_procedure.name` for a script, and the server's address and
 * port. Keys, values and arguments are never recorded: keys name workflows,
 * jobs and clients' idempotency keys. Hand-written, as the gateway has no
 * context manager for an ioredis instrumentation to read the parent from.
 */
export function redisSpans(tracing: Tracing, client: RedisClient): RedisSpan {
  return async (parent, operation, work, script) => {
    const span =
      parent &&
      tracing.startSpan(
        script ? `${operation} ${script}` : operation,
        { kind: SpanKind.CLIENT, attributes: attributesOf(client, operation, script) },
        parent,
      );
    if (!span) return work();
    try {
      return await work();
    } catch (err) {
      const type = err instanceof Error ? err.name : 'error';
      span.setAttribute('error.type', type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
      throw err;
    } finally {
      span.end();
    }
  };
}

function attributesOf(client: RedisClient, operation: string, script: string | undefined): Attributes {
  const attributes: Attributes = { 'db.system.name': 'redis', 'db.system': 'redis', 'db.operation.name': operation };
  if (script) attributes['db.stored_procedure.name'] = script;
  // The server this connection reached (a Sentinel's current primary); a cluster's command goes to its slot's node, unknown here.
  if (client instanceof Redis) {
    const socket = client.stream;
    const address = socket?.remoteAddress ?? client.options.host;
    const port = socket?.remotePort ?? client.options.port;
    if (address) attributes['server.address'] = address;
    if (port) attributes['server.port'] = port;
  }
  return attributes;
}
