import type { Context } from '@opentelemetry/api';
import type { JobRecord } from '../watch/job-snapshot';
import type { WatchCoordinator } from '../watch/replicas';
import { parseJobJson } from './job-json';
import { redisScript, type SharedRedis } from './redis';

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

  async acquire(id: string, trace?: Context): Promise<boolean> {
    return (
      (await this.redis.span(trace, 'EVALSHA', () => this.acquireScript(`lease:${id}`, this.replicaId, this.leaseMs), 'erAcquire')) === 1
    );
  }

  async release(id: string): Promise<void> {
    await this.releaseScript(`lease:${id}`, this.replicaId).catch(() => {});
  }

  async latest(id: string, trace?: Context): Promise<JobRecord | undefined> {
    const stored = await this.redis.span(trace, 'GET', () => this.redis.client.get(`snap:${id}`));
    return stored === null ? undefined : parseJobJson<JobRecord>(stored);
  }

  store(id: string, job: JobRecord): void {
    if (!this.redis.ready()) return;
    this.redis.client.set(`snap:${id}`, JSON.stringify(job), 'PX', this.leaseMs * 4).catch(() => {});
  }
}
