import { randomUUID } from 'node:crypto';
import { print } from 'graphql';
import { seededJobId } from '../src/emulator/seed';
import { startGateway } from '../src/server/app';
import { loadConfig } from '../src/server/config';
import { StartIdMappingJobDocument, StartMatchingJobDocument } from './generated/graphql';
import { awsBackendEnv, capturedLogger, localCredentials, postGraphQL, startTestEmulator } from './utils/gateway';
import { leftover } from './utils/leftovers';
import { ownSentinels, stopRedis } from './utils/redis';
import { Subscription, wsClient } from './utils/subscriptions';

/**
 * A gateway on Redis run as platform teams run it with Sentinel: a primary,
 * a replica and three sentinels of the test's own (test/utils/redis.ts),
 * the gateway given only the sentinels (`redis+sentinel://`). The primary
 * is killed; Sentinel promotes the replica and the gateway follows it with
 * no restart.
 */

/** The job a start names, or undefined when it was refused. */
const jobOf = (answer: { data?: Record<string, unknown> | null }) =>
  (answer.data?.startMatchingJob as { jobId: string } | undefined)?.jobId;

const finished = `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 7)}") { status } }`;

test('the primary killed: the gateway follows the promotion with no restart, and one idempotency key retried across the failover starts one job', async () => {
  localCredentials();
  const emulator = await startTestEmulator({ jobSeconds: 30 });
  const redis = await ownSentinels();
  const log = capturedLogger('info');
  const gateway = await startGateway(
    loadConfig({
      ...awsBackendEnv(emulator.url, emulator.state.region),
      ER_ACCOUNT_ID: emulator.state.accountId,
      ER_REDIS_URL: redis.url,
      ER_POLL_INTERVAL_MS: '200',
    }),
    { logger: log.logger, processMetrics: false },
  );
  leftover(() => gateway.close());
  const post = (query: string, variables?: Record<string, unknown>) => postGraphQL(`${gateway.url}/graphql`, query, variables);
  const readyz = async () => {
    const res = await fetch(`${gateway.url}/readyz`);
    return [res.status, await res.json()];
  };
  expect(await readyz()).toEqual([200, { status: 'ready', checks: { redis: true, aws: true } }]);

  const input = { workflowName: 'customer-matching', idempotencyKey: `key-${randomUUID()}` };
  const first = await post(print(StartMatchingJobDocument), { input });
  expect(first.errors).toBeUndefined();
  const jobId = (first.data!.startMatchingJob as { jobId: string }).jobId;
  expect(emulator.requests('StartMatchingJob')).toBe(1);
  const client = wsClient(gateway.url);
  const watching = new Subscription(
    client,
    'subscription ($j: ID!) { matchingJobUpdated(workflowName: "customer-matching", jobId: $j) { status } }',
    {
      j: jobId,
    },
  );
  await watching.event(1);

  const switched = redis.switched();
  await stopRedis(redis.primary.process);
  // While no primary answers, a retry is refused before anything is sent (or, once the gateway has followed, names the same job).
  const during = await post(print(StartMatchingJobDocument), { input });
  if (during.errors) expect(during.errors[0].extensions).toEqual({ code: 'UPSTREAM_UNAVAILABLE', reason: 'store' });
  else expect(jobOf(during)).toBe(jobId);
  expect(await switched).toBe(redis.replica.port);
  await log.line((line) => line.msg === 'redis reachable again');

  expect(await readyz()).toEqual([200, { status: 'ready', checks: { redis: true, aws: true } }]);
  expect((await post(finished)).data).toEqual({ idMappingJob: { status: 'SUCCEEDED' } });
  const retried = await post(print(StartMatchingJobDocument), { input });
  expect(jobOf(retried)).toBe(jobId);
  expect(emulator.requests('StartMatchingJob')).toBe(1);
  // Writes go to the promoted replica: a new key starts a job of its own, and its retry names it.
  const other = { workflowName: 'customer-id-map', idempotencyKey: `key-${randomUUID()}` };
  const second = await post(print(StartIdMappingJobDocument), { input: other });
  expect(second.errors).toBeUndefined();
  expect(jobOf(await post(print(StartIdMappingJobDocument), { input: other }))).toBe(jobOf(second));
  expect([emulator.requests('StartMatchingJob'), emulator.requests('StartIdMappingJob')]).toEqual([1, 1]);

  // The subscription made before the failover went on through it, or ended with UPSTREAM_UNAVAILABLE; one made now follows the job.
  if (watching.completed) expect(watching.events.at(-1)!.errors![0].extensions).toEqual({ code: 'UPSTREAM_UNAVAILABLE' });
  else expect(watching.events.every((event) => event.errors === undefined)).toBe(true);
  const after = new Subscription(
    client,
    'subscription ($j: ID!) { matchingJobUpdated(workflowName: "customer-matching", jobId: $j) { status } }',
    {
      j: jobId,
    },
  );
  expect((await after.event(1)).data).toEqual({ matchingJobUpdated: { status: expect.stringMatching(/^(QUEUED|RUNNING)$/) } });
  after.unsubscribe();
  watching.unsubscribe();
  await client.dispose();
}, 60_000);

test('the replica down: keyed starts go on (the wait for a replica to hold the key gives up), and a retry names the job', async () => {
  localCredentials();
  const emulator = await startTestEmulator({ jobSeconds: 30 });
  const redis = await ownSentinels();
  const gateway = await startGateway(
    loadConfig({
      ...awsBackendEnv(emulator.url, emulator.state.region),
      ER_ACCOUNT_ID: emulator.state.accountId,
      ER_REDIS_URL: redis.url,
    }),
    { logger: capturedLogger('silent').logger, processMetrics: false },
  );
  leftover(() => gateway.close());
  await stopRedis(redis.replica.process);
  const input = { workflowName: 'customer-matching', idempotencyKey: `key-${randomUUID()}` };
  const first = await postGraphQL(`${gateway.url}/graphql`, print(StartMatchingJobDocument), { input });
  expect(first.errors).toBeUndefined();
  const retried = await postGraphQL(`${gateway.url}/graphql`, print(StartMatchingJobDocument), { input });
  expect(jobOf(retried)).toBe(jobOf(first));
  expect(emulator.requests('StartMatchingJob')).toBe(1);
});
