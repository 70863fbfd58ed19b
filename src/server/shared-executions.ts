import {
  createSourceEventStream,
  execute,
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  Kind,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLFormattedError,
} from 'graphql';
import type { GatewayContext } from '../resolvers/context';
import type { SharedAudience } from '../resolvers/job-updates';
import { isTakeable } from '../watch/job-stream';
import { DirectDelivery, SharedResult, isPromise, type PayloadWriter, type SharedResults } from './direct-delivery';
import { formatAll, type clientErrorFormatter } from './errors';

/** One event's answer to one distinct subscription, as every transport sends it: masked once, serialized once. */
export interface SharedPayload {
  readonly data?: unknown;
  readonly errors?: readonly GraphQLFormattedError[];
}

export interface SharedExecutionsOptions {
  /** Root subscription fields whose subscribers may share, each with what its payload depends on of who asks. */
  audiences: ReadonlyMap<string, SharedAudience>;
  /** What a client sees of an error (one formatter for websockets and event streams, so that they can share). */
  format: ReturnType<typeof clientErrorFormatter>;
  /** Told of each execution of an event (shared or not): executions per event on /metrics. */
  onExecution?: () => void;
}

/**
 * Subscriptions on the streaming transports (websockets, SSE), with one
 * execution per event per distinct subscription.
 *
 * Contract: `subscribe` takes what graphql-js's `subscribe` takes and
 * answers as it does: the setup's errors as a result, else a stream of
 * results, one per source event, in order, whose `return()` returns the
 * source stream at once (so the watcher releases what the subscriber held).
 * Each subscriber keeps its own source stream: its own first state, its own
 * bounded drop-oldest queue in the watcher, its own quota and release; only
 * the work after a source event is shared. Two subscribers share it when
 * their source events are the same object (the watcher publishes one object
 * per event to every subscriber of a job in this process) and their share
 * keys are equal. The result is masked once (`format`) and serialized once
 * (`serialized`); every subscriber of the key gets that same object.
 *
 * The share key is: the document (the same parsed object, which the
 * OperationGate hands out per distinct text), the operation's name, its
 * variables as coerced, the root field, and the field's audience: what the
 * payload depends on of who asks. Identity and authorization keep a shared
 * payload from reaching someone who may not see it in two ways. First,
 * nobody reaches the shared step without having been let in on their own:
 * the root field's subscribe resolver runs per subscriber, with its own
 * context, and the watcher asks `Access` (subscribe on the workflow) before
 * anything is read, so a refused subscriber gets FORBIDDEN and no stream.
 * Second, the audience is in the key: for the job subscriptions it is the
 * principal's decisions (read, start, subscribe) on the job's workflow, so
 * principals the policy treats differently there never share an execution,
 * even where today's fields would answer them alike. The execution runs with
 * the context of the first subscriber of the key to take the event; that is
 * sound because every field under a shareable root depends only on the
 * event, the arguments and what the audience names. A root field whose
 * payload depends on more of who asks (a viewer, per-principal filtering)
 * must name it in its audience, or stay out of `audiences`: subscriptions to
 * a field not listed are executed per subscriber, as graphql-js does.
 */
export class SharedExecutions implements SharedResults {
  /** Each source event's shared results, by share key: dropped with the event once no subscriber holds it. */
  private readonly results = new WeakMap<object, Map<string, SharedResult>>();
  /** Each shared result's JSON. */
  private readonly json = new WeakMap<SharedPayload, string>();
  /** A number per parsed document: its identity in share keys. */
  private readonly documents = new WeakMap<DocumentNode, number>();
  private nextDocument = 0;

  constructor(private readonly options: SharedExecutionsOptions) {}

  /** The JSON of `payload` when it is a shared result (computed once for all its subscribers), else undefined. */
  serialized(payload: unknown): string | undefined {
    return typeof payload === 'object' && payload !== null ? this.json.get(payload as SharedPayload) : undefined;
  }

  /**
   * With `writer` (a websocket's subscription), a shared subscription whose source can be read without a promise
   * per item (the watcher's job streams) is delivered by the writer itself, a frame per event: the stream handed
   * back yields nothing and ends (or fails) when the subscription does. Anything else is a stream of results.
   */
  subscribe = async (
    args: ExecutionArgs,
    writer?: PayloadWriter,
  ): Promise<AsyncIterableIterator<ExecutionResult | SharedPayload> | ExecutionResult> => {
    const key = this.shareKey(args);
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    if (key === undefined) {
      return mapped(source[Symbol.asyncIterator](), (event: unknown) => {
        this.options.onExecution?.();
        return execute({ ...args, rootValue: event }) as Promise<ExecutionResult> | ExecutionResult;
      });
    }
    if (writer && isTakeable(source)) return new DirectDelivery(source, this, key, args, writer);
    return mapped(source[Symbol.asyncIterator](), (event) => this.resultOf(event, key, args).settled());
  };

  /** The result of `event` for `key`: executed by the first subscriber that takes it, shared with the rest. */
  resultOf(event: unknown, key: string, args: ExecutionArgs): SharedResult {
    if (typeof event !== 'object' || event === null) return this.executed(event, args);
    let byKey = this.results.get(event);
    if (!byKey) this.results.set(event, (byKey = new Map()));
    let result = byKey.get(key);
    if (!result) byKey.set(key, (result = this.executed(event, args)));
    return result;
  }

  private executed(event: unknown, args: ExecutionArgs): SharedResult {
    this.options.onExecution?.();
    const result = new SharedResult();
    const answer = (executed: ExecutionResult) => {
      const { data, errors } = executed;
      const payload: SharedPayload = errors ? { data, errors: formatAll(this.options.format, errors) } : { data };
      const json = JSON.stringify(payload);
      this.json.set(payload, json);
      result.settle(payload, json);
    };
    try {
      const executed = execute({ ...args, rootValue: event });
      if (isPromise(executed)) executed.then(answer, (err: unknown) => result.fail(err));
      else answer(executed);
    } catch (err) {
      result.fail(err);
    }
    return result;
  }
  /** The share key of a subscription, or undefined when its subscribers are executed one by one. */
  private shareKey(args: ExecutionArgs): string | undefined {
    const operation = getOperationAST(args.document, args.operationName);
    const root = operation?.selectionSet.selections;
    if (!operation || operation.operation !== 'subscription' || root?.length !== 1 || root[0].kind !== Kind.FIELD) return undefined;
    const fieldNode = root[0];
    const audience = this.options.audiences.get(fieldNode.name.value);
    const field = args.schema.getSubscriptionType()?.getFields()[fieldNode.name.value];
    if (!audience || !field) return undefined;
    const variables = getVariableValues(args.schema, operation.variableDefinitions ?? [], args.variableValues ?? {});
    if (variables.errors) return undefined;
    const fieldArgs = getArgumentValues(field, fieldNode, variables.coerced);
    let document = this.documents.get(args.document);
    if (document === undefined) this.documents.set(args.document, (document = this.nextDocument++));
    const who = audience(args.contextValue as GatewayContext, fieldArgs);
    if (who === undefined) return undefined;
    return JSON.stringify([document, args.operationName ?? null, variables.coerced, who]);
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/**
 * `source`'s events through `answer`, as an async generator's interface (graphql-ws returns only what it
 * takes for one): `return()` goes to the source at once, even while an answer is pending.
 */
function mapped<T>(
  source: AsyncIterator<unknown>,
  answer: (event: unknown) => Promise<T> | T,
): AsyncIterableIterator<T> & AsyncGenerator<T> {
  const iterator: AsyncGenerator<T> = {
    async next() {
      const step = await source.next();
      if (step.done) return { done: true, value: undefined };
      return { done: false, value: await answer(step.value) };
    },
    async return() {
      await source.return?.();
      return { done: true, value: undefined };
    },
    async throw(error: unknown) {
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  } as AsyncGenerator<T>;
  return iterator;
}
