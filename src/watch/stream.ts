import { Repeater } from '@graphql-yoga/subscription';

/** What pushes a Repeater's events (the type @repeaterjs/repeater names RepeaterExecutor). */
type Executor<T> = ConstructorParameters<typeof Repeater<T>>[0];

/**
 * A subscriber's stream of events, pushed by `executor`. `leave` releases
 * what the subscriber holds; it runs when the stream stops, and also when
 * the client returns the stream before its first `next()` (a Repeater runs
 * its executor only then, so a client gone early would otherwise release
 * nothing). `leave` must be idempotent.
 */
export function subscriberStream<T>(leave: () => void, executor: Executor<T>): AsyncIterableIterator<T> {
  const stream = new Repeater<T>((push, stop) => {
    void stop.then(leave);
    return executor(push, stop);
  });
  const streamReturn = stream.return.bind(stream);
  stream.return = (value?: unknown) => {
    leave();
    return streamReturn(value as never);
  };
  return stream;
}

/** `promise`, or a rejection as soon as `signal` aborts: a subscriber waiting for a first read stops waiting when it leaves. */
export function untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}
