import type { FinalJobStore } from '../upstream/job-store';
import type { IdMappingJobRecord, MatchingJobRecord } from '../upstream/records';
import type { SharedRedis } from './redis';

type JobRecord = IdMappingJobRecord | MatchingJobRecord;

/** Record fields that are dates: JSON carries them as strings. */
const DATE_FIELDS = new Set(['startTime', 'endTime', 'observedAt']);

/**
 * Finished jobs in Redis (`<prefix>final:<operation>:<workflow>:<job>`), kept
 * `ttlSeconds`: read by every replica and by the next process, so a finished
 * job is paid for once per deployment. When Redis cannot be reached, `get`
 * answers undefined (the service is asked) and `put` drops the write.
 */
export class RedisFinalJobStore implements FinalJobStore {
  constructor(
    private readonly redis: SharedRedis,
    private readonly ttlSeconds: number,
  ) {}

  async get(id: string): Promise<JobRecord | undefined> {
    if (!this.redis.ready()) return undefined;
    try {
      const stored = await this.redis.client.get(`final:${id}`);
      return stored === null ? undefined : (JSON.parse(stored, (name, value: unknown) => (DATE_FIELDS.has(name) && typeof value === 'string' ? new Date(value) : value)) as JobRecord);
    } catch {
      return undefined;
    }
  }

  put(id: string, job: JobRecord): void {
    if (!this.redis.ready()) return;
    this.redis.client.set(`final:${id}`, JSON.stringify(job), 'EX', this.ttlSeconds).catch(() => {});
  }
}
