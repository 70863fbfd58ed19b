import { setMaxListeners } from 'node:events';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { Redis } from 'ioredis';
import type { JobEvents } from '../watch/job-watcher';
import { parseJobJson } from './job-json';
import { closeConnection, type RedisClient, type SharedRedis } from './redis';

type Listener = Parameters<EventTarget['addEventListener']>[1];

/**
 * Job events across replicas: Redis pub/sub through
 * `@graphql-yoga/redis-event-target`, on channels `<prefix>job:<watch id>`.
 * On a cluster, PUBLISH reaches the subscribers of every node (classic
 * pub/sub is cluster-wide), so a channel needs no slot of its own.
 * Every replica's listeners, the publisher's own included, get each event
 * once, through Redis. While Redis is unreachable, events are delivered in
 * this process only: the watcher's errors still reach its subscribers.
 */
export class ClusterJobEvents extends EventTarget implements JobEvents {
  private readonly remote: EventTarget;
  private readonly subscriber: RedisClient;
  /**
   * The Redis event target keeps listeners as functions, in a set: an object listener (a subscriber's JobStream)
   * gets a function of its own there, as its `handleEvent` is one function shared by every stream.
   */
  private readonly callbacks = new WeakMap<{ handleEvent(event: Event): void }, (event: Event) => void>();

  constructor(private readonly redis: SharedRedis) {
    super();
    // One listener per subscriber of a job: thousands are expected, and Node's warning past 10 would say otherwise.
    setMaxListeners(0, this);
    // A connection in subscriber mode of its own; it resubscribes by itself after a reconnect, a failover, or (on a cluster) the loss of the node it listened on.
    this.subscriber = redis.subscriber();
    const quiet =
      <A extends unknown[]>(send: (...args: A) => Promise<unknown>) =>
      (...args: A) =>
        void send(...args).catch(() => {});
    this.remote = createRedisEventTarget({
      publishClient: { publish: quiet((channel: string, message: string) => redis.client.publish(channel, message)) } as unknown as Redis,
      subscribeClient: {
        on: (name: string, listener: (...args: unknown[]) => void) => this.subscriber.on(name, listener),
        subscribe: quiet((channel: string) => this.subscriber.subscribe(channel)),
        unsubscribe: quiet((channel: string) => this.subscriber.unsubscribe(channel)),
      } as unknown as Redis,
      serializer: { stringify: JSON.stringify, parse: parseJobJson },
    }) as unknown as EventTarget;
  }

  override addEventListener(type: string, listener: Listener, options?: Parameters<EventTarget['addEventListener']>[2]): void {
    super.addEventListener(type, listener, options);
    this.remote.addEventListener(this.channel(type), this.callbackOf(listener, true));
  }

  override removeEventListener(type: string, listener: Listener, options?: Parameters<EventTarget['removeEventListener']>[2]): void {
    super.removeEventListener(type, listener, options);
    this.remote.removeEventListener(this.channel(type), this.callbackOf(listener, false));
  }

  override dispatchEvent(event: Event): boolean {
    if (!this.redis.ready()) return super.dispatchEvent(event);
    return this.remote.dispatchEvent(new CustomEvent(this.channel(event.type), { detail: (event as CustomEvent).detail }));
  }

  /** Closes the subscriber connection; resolves once it is closed. */
  close(): Promise<void> {
    return closeConnection(this.subscriber, this.redis.commandTimeoutMs);
  }

  private callbackOf(listener: Listener, create: boolean): Listener {
    if (!listener || typeof listener === 'function') return listener;
    let callback = this.callbacks.get(listener);
    if (!callback && create) this.callbacks.set(listener, (callback = (event: Event) => listener.handleEvent(event)));
    return callback ?? listener;
  }

  private channel(type: string): string {
    return `${this.redis.prefix}job:${type}`;
  }
}
