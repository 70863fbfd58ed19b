import { randomUUID } from 'node:crypto';
import type { Emulator } from '../src/emulator/http';
import { seededJobId } from '../src/emulator/seed';
import { startGateway, type Gateway } from '../src/server/app';
import { loadConfig } from '../src/server/config';
import { awsBackendEnv, capturedLogger, closedPort, localCredentials, startTestEmulator } from './utils/gateway';
import { startGatewayProcess } from './utils/process';
import { ownRedis, SHARED_REDIS_URL, sharedRedisPrefix, stopRedis } from './utils/redis';

/**
 * Dependencies that are slow rather than down: a Redis that stops answering
 * without closing its connections (SIGSTOP), and a gateway killed in the
 * middle of a start. Each test makes the failure itself, on processes of its
 * own.
 */

interface Answer {
  status: number;
  ms: number;
  retryAfter: string | null;
  body: { data?: Record<string, { jobId: string } | null> | null; errors?: { message: string; extensions: Record<string, unknown> }[] };
}

/** Posts `query` to the gateway at `url` and times the answer. */
async function timedPost(url: string, query: string, variables?: Record<string, unknown>): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as Answer['body'];
  return { status: res.status, ms: performance.now() - started, retryAfter: res.headers.get('retry-after'), body };
}

const START_MATCHING = 'mutation ($input: StartMatchingJobInput!) { startMatchingJob(input: $input) { jobId } }';
const codeOf = (answer: Answer) => answer.body.errors?.[0]?.extensions.code;

describe('a Redis that hangs', () => {
  const REDIS_TIMEOUT_MS = 300;
  const DEADLINE_MS = 10_000;

  test('/readyz says not ready within the Redis timeout, queries are served from the service, a keyed start is refused with reason store; all recover on SIGCONT', async () => {
    const port = await closedPort();
    const redis = await ownRedis(port);
    const emulator = await startTestEmulator();
    localCredentials();
    const log = capturedLogger('info');
    let g: Gateway | undefined;
    try {
      g = await startGateway(
        loadConfig({
          ...awsBackendEnv(emulator.url, emulator.state.region),
          // The rate budget's default, so that the shared one is in play.
          ER_RATE_PER_SECOND: undefined,
          ER_ACCOUNT_ID: emulator.state.accountId,
          ER_REDIS_URL: `redis://127.0.0.1:${port}/0`,
          ER_REDIS_COMMAND_TIMEOUT_MS: String(REDIS_TIMEOUT_MS),
          ER_REQUEST_DEADLINE_MS: String(DEADLINE_MS),
        }),
        { logger: log.logger, processMetrics: false },
      );
      expect((await fetch(`${g.url}/readyz`)).status).toBe(200);

      redis.kill('SIGSTOP');
      const readyStarted = performance.now();
      const down = await fetch(`${g.url}/readyz`);
      const readyMs = performance.now() - readyStarted;
      expect([down.status, await down.json()]).toEqual([503, { status: 'not ready', checks: { redis: false, aws: true } }]);
      expect(readyMs).toBeLessThan(REDIS_TIMEOUT_MS + 1000);

      // A finished job never read before: the final-job store (Redis) is skipped, the shared rate budget falls back to this process's.
      const query = await timedPost(
        g.url,
        `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 3)}") { status } }`,
      );
      expect(query.body).toEqual({ data: { idMappingJob: { status: 'SUCCEEDED' } } });
      expect(query.ms).toBeLessThan(DEADLINE_MS / 4);

      const refused = await timedPost(g.url, START_MATCHING, { input: { workflowName: 'address-matching', idempotencyKey: randomUUID() } });
      expect(refused.body.errors![0].extensions).toEqual({ code: 'UPSTREAM_UNAVAILABLE', reason: 'store' });
      expect(refused.ms).toBeLessThan(DEADLINE_MS);
      expect(emulator.requests('StartMatchingJob')).toBe(0);

      redis.kill('SIGCONT');
      await log.line((line) => line.msg === 'redis answering again');
      expect((await fetch(`${g.url}/readyz`)).status).toBe(200);
      const started = await timedPost(g.url, START_MATCHING, { input: { workflowName: 'address-matching', idempotencyKey: randomUUID() } });
      expect(started.body.errors).toBeUndefined();
      expect(emulator.requests('StartMatchingJob')).toBe(1);
      // One line when Redis stopped answering and one when it answered again, however many requests came between.
      expect(log.lines.filter((line) => /^redis /.test(String(line.msg))).map((line) => line.msg)).toEqual([
        'redis not answering: shared features fall back until it answers',
        'redis answering again',
      ]);
    } finally {
      await g?.close();
      await stopRedis(redis);
    }
  });
});

describe('a gateway killed in the middle of a start', () => {
  const DEADLINE_MS = 2000;
  let emulator: Emulator;
  let prefix: string;

  beforeAll(async () => {
    emulator = await startTestEmulator({ jobSeconds: 20 });
    prefix = sharedRedisPrefix();
  });

  test('a retry on another gateway is answered within its deadline, and names the one job once the dead owner’s start can no longer land', async () => {
    const env = {
      ...awsBackendEnv(emulator.url, emulator.state.region),
      ER_ACCOUNT_ID: emulator.state.accountId,
      ER_REDIS_URL: SHARED_REDIS_URL,
      ER_REDIS_PREFIX: prefix,
      ER_REQUEST_DEADLINE_MS: String(DEADLINE_MS),
      ER_START_TIMEOUT_MS: '4000',
      ER_START_CLOCK_SKEW_MS: '2000',
    };
    const [owner, other] = await Promise.all([env, env].map((settings) => startGatewayProcess(settings)));
    const held = emulator.holdNext('StartMatchingJob');
    const input = { workflowName: 'address-matching', idempotencyKey: randomUUID() };
    void timedPost(owner.url, START_MATCHING, { input }).catch(() => {});
    await held.arrived;
    owner.child.kill('SIGKILL');
    await owner.exited;

    // The dead owner's key is pending and its start may still land: the retry says so at its deadline, and starts nothing.
    const during = await timedPost(other.url, START_MATCHING, { input });
    expect(codeOf(during)).toBe('START_OUTCOME_UNKNOWN');
    expect(during.retryAfter).toMatch(/^\d+$/);
    expect(during.ms).toBeLessThan(DEADLINE_MS + 500);

    // The start the owner sent lands after it died.
    await held.release();
    const launched = emulator.state.listJobs('matching', 'address-matching', 1, undefined).items[0];

    const answers: Answer[] = [];
    for (let answer = during; codeOf(answer) === 'START_OUTCOME_UNKNOWN' && answers.length < 10; answers.push(answer)) {
      await new Promise((resolve) => setTimeout(resolve, Number(answer.retryAfter) * 1000));
      answer = await timedPost(other.url, START_MATCHING, { input });
    }
    const last = answers.at(-1)!;
    expect(last.body).toEqual({ data: { startMatchingJob: { jobId: launched.jobId } } });
    for (const answer of answers) expect(answer.ms).toBeLessThan(DEADLINE_MS + 500);
    expect(answers.slice(0, -1).map(codeOf)).toEqual(answers.slice(0, -1).map(() => 'START_OUTCOME_UNKNOWN'));
    expect(emulator.requests('StartMatchingJob')).toBe(1);
  }, 60_000);
});
