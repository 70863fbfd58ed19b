import type { FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { execute, type subscribe, type DocumentNode, type ExecutionResult } from 'graphql';
import { createHandler } from 'graphql-sse/lib/use/fastify';
import type { GatewayContext } from '../resolvers/context';
import type { Caller } from './client-limits';
import { clientErrorFormatter, formatAll } from './errors';
import type { SseHandler } from './http';
import type { SchemaPosture } from './limits';
import { settleDeadline, type OperationGate } from './operations';
import type { RefusedStarts } from './refused-starts';
import type { GraphQLSchema } from 'graphql';
import { closeWhenIdle, type Writes } from './hand-over';
import type { SharedExecutions } from './shared-executions';
import { admitStream, maskedResult, refuseAtShutdown, type AdmittedStream, type StreamAdmissionOptions } from './stream-admission';

export interface SseOptions extends StreamAdmissionOptions {
  schema: GraphQLSchema;
  /** Subscriptions, executed once per event per distinct subscription (shared with websockets). */
  executions: SharedExecutions;
  gate: OperationGate;
  posture: SchemaPosture;
  /** Told of the starts of each mutation the gate refuses, with who sent it. */
  refusedStarts: (caller: Caller, ...refused: Parameters<RefusedStarts>) => void;
}

/** What graphql-sse writes for a shared payload, which the stream's writer replaces with the payload's JSON (see countWrites). */
const STAND_IN = { 'er-gateway': 'shared payload' };
const STAND_IN_MESSAGE = `event: next\ndata: ${JSON.stringify(STAND_IN)}\n\n`;

/** graphql-sse wants a context it can index. */
type SseContext = GatewayContext & Record<PropertyKey, unknown>;

/**
 * GraphQL over Server-Sent Events (the graphql-sse protocol, distinct
 * connections mode) at /graphql/stream, for networks and proxies that block
 * websockets: the same schema, parsing, validation and limits as websockets
 * (one OperationGate), the same masking, the same watcher. Each request is
 * one operation; it ends when its client disconnects, and everything the
 * operation held is released then, as for a websocket. Each stream counts
 * against its client's stream budget, shared with its websockets and
 * callback subscriptions: past it the request is 429 before any stream
 * opens.
 *
 * The caller (principal and client) is the HTTP layer's, which authenticates
 * the request before this handler sees it. A stream opened with a token ends
 * when the token expires, as a websocket closes then: a client that opens it
 * again must bring a token that is still valid.
 *
 * `close` (at shutdown) ends every open stream without a `complete` event,
 * which graphql-sse clients take as a lost connection: they open it again
 * (through the load balancer, to another replica) and get the job's current
 * state first. A stream asked for after `close` is refused with 503.
 */
export function createSseHandler(options: SseOptions): { handle: SseHandler; close(): Promise<void> } {
  const format = clientErrorFormatter(options.logger, { hideSuggestions: !options.posture.introspection });
  const callers = new WeakMap<FastifyRequest, { caller: Caller; stream: AdmittedStream }>();
  const handler = createHandler<SseContext>({
    schema: options.schema,
    // Distinct connections only: a stream per operation, no reservation tokens to keep.
    authenticate: () => null as unknown as string,
    onSubscribe: (req, params) => {
      const admitted = options.gate.admit(params, (...refused) => options.refusedStarts(callers.get(req.raw)!.caller, ...refused));
      if (Array.isArray(admitted)) {
        const errors = formatAll(format, admitted);
        return [
          JSON.stringify({ errors }),
          { status: 400, statusText: 'Bad Request', headers: { 'content-type': 'application/json; charset=utf-8' } },
        ];
      }
      const end = new AbortController();
      // The client's leaving (the response closing) ends the operation: its subscription releases what it held.
      req.context.reply.raw.once('close', () => end.abort());
      const contextValue = callers.get(req.raw)!.stream.context(end.signal, (name) => req.raw.headers[name]) as SseContext;
      return {
        schema: options.schema,
        document: admitted as DocumentNode,
        variableValues: params.variables,
        operationName: params.operationName,
        contextValue,
      };
    },
    execute: (args) => settleDeadline(execute(args), args),
    subscribe: (args) => settleDeadline(options.executions.subscribe(args), args) as ReturnType<typeof subscribe>,
    onNext: (_ctx, req, result) => {
      // A shared payload is masked and serialized already, once for all its subscribers: the stream's writer puts its JSON in.
      const json = options.executions.serialized(result);
      if (json !== undefined) {
        const shared = open.get(req.context.reply.raw)?.shared;
        if (!shared) return result;
        shared.push(json);
        return STAND_IN as never;
      }
      return maskedResult(format, result as ExecutionResult) as never;
    },
  });
  /** Each open stream, with its writes in progress. */
  const open = new Map<ServerResponse, StreamWrites>();
  let closed = false;
  const handle: SseHandler = async (request, reply, caller) => {
    if (closed) return void refuseAtShutdown(reply, 'open the stream again');
    // A stream counts against the client's budget from before it opens: one budget with its websockets; it ends when its token expires.
    const stream = admitStream(options, reply, caller, 'event stream', () => reply.raw.end());
    if (!stream) return;
    reply.raw.once('close', stream.release);
    open.set(reply.raw, countWrites(reply.raw));
    reply.raw.once('close', () => open.delete(reply.raw));
    callers.set(request, { caller, stream });
    // The handler writes the response itself, an event stream or its own refusal.
    reply.hijack();
    await handler(request, reply);
  };
  return {
    handle,
    close: async () => {
      closed = true;
      // Once the event each is writing, if any, is out, and its `complete` after it (see closeWhenIdle).
      await Promise.all([...open].map(([stream, writes]) => closeWhenIdle(writes, () => stream.end())));
    },
  };
}

/** A stream's writes in progress, and the JSON of the shared payloads graphql-sse has yet to write, in order. */
interface StreamWrites extends Writes {
  shared: string[];
}

/**
 * Counts `stream`'s writes in progress (graphql-sse writes each message with a callback and waits for it), and puts each shared
 * payload's JSON in place of its stand-in: graphql-sse writes one stream's messages in the order onNext answered them.
 */
function countWrites(stream: ServerResponse): StreamWrites {
  const writes: StreamWrites = { pending: 0, shared: [] };
  const write = stream.write.bind(stream) as (chunk: unknown, callback?: (err?: Error | null) => void) => boolean;
  stream.write = ((chunk: unknown, callback?: (err?: Error | null) => void) => {
    writes.pending++;
    if (chunk === STAND_IN_MESSAGE && writes.shared.length > 0) chunk = `event: next\ndata: ${writes.shared.shift()}\n\n`;
    return write(chunk, (err) => {
      if (--writes.pending === 0) writes.idle?.();
      callback?.(err);
    });
  }) as ServerResponse['write'];
  return writes;
}
