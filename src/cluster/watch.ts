import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { GraphQLError } from 'graphql';
import { Redis } from 'ioredis';
import type { IdMappingJobRecord, MatchingJobRecord } from '../upstream/records';
import type { JobEvents, WatchCoordinator } from '../watch/job-watcher';
import { redisScript, type SharedRedis } from './redis';

type JobRecord = IdMappingJobRecord | MatchingJobRecord;
type Listener = Parameters<EventTarget['addEventListener']>[1];

/** Record fields that are dates: JSON carries them as strings. */
const DATE_FIELDS = new Set(['startTime', 'endTime', 'observedAt']);

/** Parses a job (or an event carrying one) written as JSON: its dates become Dates again, an error a GraphQLError. */
export function parseJobJson<T>(text: string): T {
  const value = JSON.parse(text, (name, field: unknown) => (DATE_FIELDS.has(name) && typeof field === 'string' ? new Date(field) : field)) as T;
  const error = (value as { error?: { message: string; extensions?: Record<string, unknown> } } | null)?.error;
  return (error && !(error instanceof GraphQLError) ? { ...value, error: new GraphQLError(error.message, { extensions: error.extensions }) } : value) as T;
}

/**
 * Job events across replicas: Redis pub/sub through
 * `@graphql-yoga/redis-event-target`, on channels `<prefix>job:<watch id>`.
 * Every replica's listeners, the publisher's own included, get each event
 * once, through Redis. While Redis is unreachable, events are delivered in
 * this process only: the watcher's errors still reach its subscribers.
 */
export class ClusterJobEvents extends EventTarget implements JobEvents {
  private readonly remote: EventTarget;
  private readonly subscriber: Redis;

  constructor(private readonly redis: SharedRedis) {
    super();
    // A connection in subscriber mode of its own; it resubscribes by itself after a reconnect.
    this.subscriber = redis.client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.subscriber.on('error', () => {}); // the shared connection logs the outage
    const quiet = <A extends unknown[]>(send: (...args: A) => Promise<unknown>) => (...args: A) => void send(...args).catch(() => {});
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
    this.remote.addEventListener(this.channel(type), listener);
  }

  override removeEventListener(type: string, listener: Listener, options?: Parameters<EventTarget['removeEventListener']>[2]): void {
    super.removeEventListener(type, listener, options);
    this.remote.removeEventListener(this.channel(type), listener);
  }

  override dispatchEvent(event: Event): boolean {
    if (!this.redis.ready()) return super.dispatchEvent(event);
    return this.remote.dispatchEvent(new CustomEvent(this.channel(event.type), { detail: (event as CustomEvent).detail }));
  }

  close(): void {
    this.subscriber.disconnect();
  }

  private channel(type: string): string {
    return `${this.redis.prefix}job:${type}`;
  }
}

/** Takes the lease if free, or extends it if this replica holds it: 1 when this replica holds it now. */
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** Gives the lease up if this replica holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`;

type LeaseCommand = (key: string, replica: string, ms?: number) => Promise<number>;

/**
 * One poller per job, cluster-wide: a lease per watched job in Redis
 * (`<prefix>lease:<watch id>`, holding the replica's id, expiring after
 * `leaseMs` unless renewed), and the latest snapshot of each
 * (`<prefix>snap:<watch id>`), which a new subscriber on any replica gets as
 * its first event without an upstream call. Errors reaching Redis propagate:
 * the watcher decides what a watch does without it.
 */
export class RedisWatchCoordinator implements WatchCoordinator {
  private readonly acquireScript: LeaseCommand;
  private readonly releaseScript: LeaseCommand;

  constructor(
    private readonly redis: SharedRedis,
    private readonly replicaId: string,
    readonly leaseMs: number,
  ) {
    this.acquireScript = redisScript<LeaseCommand>(redis, 'erAcquire', ACQUIRE);
    this.releaseScript = redisScript<LeaseCommand>(redis, 'erRelease', RELEASE);
  }

  async acquire(id: string): Promise<boolean> {
    return (await this.acquireScript(`lease:${id}`, this.replicaId, this.leaseMs)) === 1;
  }

  async release(id: string): Promise<void> {
    await this.releaseScript(`lease:${id}`, this.replicaId).catch(() => {});
  }

  async latest(id: string): Promise<JobRecord | undefined> {
    const stored = await this.redis.client.get(`snap:${id}`);
    return stored === null ? undefined : parseJobJson<JobRecord>(stored);
  }

  store(id: string, job: JobRecord): void {
    if (!this.redis.ready()) return;
    this.redis.client.set(`snap:${id}`, JSON.stringify(job), 'PX', this.leaseMs * 4).catch(() => {});
  }
}
