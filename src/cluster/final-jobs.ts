import type { Context } from '@opentelemetry/api';
import type { FinalJobStore } from '../upstream/job-store';
import type { IdMappingJobRecord, MatchingJobRecord } from '../upstream/records';
import type { SharedRedis } from './redis';
import { parseJobJson } from './job-json';

type JobRecord = IdMappingJobRecord | MatchingJobRecord;

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

  async get(id: string, trace?: Context): Promise<JobRecord | undefined> {
    if (!this.redis.ready()) return undefined;
    try {
      const stored = await this.redis.span(trace, 'GET', () => this.redis.client.get(`final:${id}`));
      return stored === null ? undefined : parseJobJson<JobRecord>(stored);
    } catch {
      return undefined;
    }
  }

  put(id: string, job: JobRecord): void {
    if (!this.redis.ready()) return;
    this.redis.client.set(`final:${id}`, JSON.stringify(job), 'EX', this.ttlSeconds).catch(() => {});
  }
}
