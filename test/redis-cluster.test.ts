import { randomUUID } from 'node:crypto';
import { print } from 'graphql';
import { seededJobId } from '../src/emulator/seed';
import { startGateway } from '../src/server/app';
import { loadConfig } from '../src/server/config';
import {
  MatchingJobUpdatedDocument,
  StartIdMappingJobDocument,
  StartMatchingJobDocument,
  type MatchingJobUpdatedSubscription,
} from './generated/graphql';
import { awsBackendEnv, capturedLogger, localCredentials, postGraphQL, startTestEmulator } from './utils/gateway';
import { leftover } from './utils/leftovers';
import { moveSlotOf, ownCluster, primaryOf, redisKeys, redisLogLine, stopRedis, type OwnCluster } from './utils/redis';
import { Subscription, wsClient } from './utils/subscriptions';

/**
 * A gateway on a Redis Cluster of the test's own (test/utils/redis.ts) while
 * the cluster changes under it: a slot resharded to another primary, a
 * primary lost and its replica promoted. The gateway follows with no
 * restart. (The replicas suite, test/replicas.test.ts, runs on a cluster too.)
 */

const NOT_ANSWERING = 'redis not answering: shared features fall back until it answers';

const finished = `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 7)}") { status } }`;

/** The job a start names, or undefined when it was refused. */
const jobOf = (answer: { data?: Record<string, unknown> | null }) =>
  ((answer.data?.startMatchingJob ?? answer.data?.startIdMappingJob) as { jobId: string } | undefined)?.jobId;

/** A gateway on `cluster` against `emulator`, with a keyed start made and a subscription to its job. */
async function gatewayWithAStart(cluster: OwnCluster) {
  localCredentials();
  const emulator = await startTestEmulator({ jobSeconds: 6 });
  const prefix = `er-gateway-test:${randomUUID()}:`;
  const log = capturedLogger('info');
  const gateway = await startGateway(
    loadConfig({
      ...awsBackendEnv(emulator.url, emulator.state.region),
      ER_ACCOUNT_ID: emulator.state.accountId,
      ER_REDIS_URL: cluster.url,
      ER_REDIS_PREFIX: prefix,
      ER_POLL_INTERVAL_MS: '300',
    }),
    { logger: log.logger, processMetrics: false },
  );
  leftover(() => gateway.close());
  const post = (query: string, variables?: Record<string, unknown>) => postGraphQL(`${gateway.url}/graphql`, query, variables);
  const input = { workflowName: 'customer-matching', idempotencyKey: `key-${randomUUID()}` };
  const jobId = jobOf(await post(print(StartMatchingJobDocument), { input }))!;
  const client = wsClient(gateway.url);
  leftover(() => client.dispose());
  const watching = new Subscription<MatchingJobUpdatedSubscription>(client, print(MatchingJobUpdatedDocument), {
    workflowName: 'customer-matching',
    jobId,
  });
  await watching.event(1);
  const [idempotencyKey] = await redisKeys(cluster.url, `${prefix}idem:*`);
  const [leaseKey] = await redisKeys(cluster.url, `${prefix}lease:*`);
  return { emulator, gateway, log, post, input, jobId, watching, idempotencyKey, leaseKey };
}

test('a slot resharded to another primary under the gateway: retries name their job, starts go on, the subscription goes on to SUCCEEDED', async () => {
  const cluster = await ownCluster(3);
  const { emulator, gateway, post, input, jobId, watching, idempotencyKey, leaseKey } = await gatewayWithAStart(cluster);
  const before = await Promise.all([idempotencyKey, leaseKey].map((key) => primaryOf(cluster, key)));
  await moveSlotOf(cluster, idempotencyKey);
  if ((await primaryOf(cluster, leaseKey)).node === before[1].node) await moveSlotOf(cluster, leaseKey);
  expect((await primaryOf(cluster, idempotencyKey)).node).not.toBe(before[0].node);
  expect((await primaryOf(cluster, leaseKey)).node).not.toBe(before[1].node);

  expect(jobOf(await post(print(StartMatchingJobDocument), { input }))).toBe(jobId);
  expect((await post(finished)).data).toEqual({ idMappingJob: { status: 'SUCCEEDED' } });
  const other = { workflowName: 'customer-id-map', idempotencyKey: `key-${randomUUID()}` };
  const second = jobOf(await post(print(StartIdMappingJobDocument), { input: other }));
  expect(second).toEqual(expect.any(String));
  expect(jobOf(await post(print(StartIdMappingJobDocument), { input: other }))).toBe(second);
  expect([emulator.requests('StartMatchingJob'), emulator.requests('StartIdMappingJob')]).toEqual([1, 1]);
  expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);

  await watching.ended();
  expect(watching.events.filter((event) => event.errors)).toEqual([]);
  expect(watching.events.at(-1)!.data!.matchingJobUpdated.status).toBe('SUCCEEDED');
}, 60_000);

test("the primary holding a key's slot killed: its replica is promoted, the gateway follows, and the key retried starts no second job", async () => {
  const cluster = await ownCluster(3, 1);
  const { emulator, gateway, log, post, input, jobId, watching, idempotencyKey } = await gatewayWithAStart(cluster);
  const { node: owner } = await primaryOf(cluster, idempotencyKey);
  const promoted = Promise.any(cluster.replicas.map(({ process }) => redisLogLine(process, /Failover election won/)));
  await stopRedis(owner.process);
  // While the slot has no primary, a retry is refused before anything is sent (or names the job, once one answers again).
  const during = await post(print(StartMatchingJobDocument), { input });
  if (during.errors) expect(during.errors[0].extensions).toEqual({ code: 'UPSTREAM_UNAVAILABLE', reason: 'store' });
  else expect(jobOf(during)).toBe(jobId);
  await promoted;
  await Promise.all(
    [...cluster.nodes, ...cluster.replicas]
      .filter((node) => node !== owner)
      .map(({ process }) =>
        // Each node's last word on the cluster's state is ok again.
        redisLogLine(
          process,
          (output) => output.lastIndexOf('Cluster state changed: ok') > output.lastIndexOf('Cluster state changed: fail'),
        ),
      ),
  );
  expect((await primaryOf(cluster, idempotencyKey)).node).not.toBe(owner);

  // The gateway's probe may have seen the cluster without the slot's primary (`cluster_state:fail`): then it says so, and says when it answers again.
  const answering = () => log.lines.filter((line) => /^redis (not )?answering/.test(String(line.msg))).at(-1)?.msg !== NOT_ANSWERING;
  await log.line(answering);
  expect(jobOf(await post(print(StartMatchingJobDocument), { input }))).toBe(jobId);
  expect(emulator.requests('StartMatchingJob')).toBe(1);
  expect((await post(finished)).data).toEqual({ idMappingJob: { status: 'SUCCEEDED' } });
  expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
  // The subscription went on through the failover, or ended with UPSTREAM_UNAVAILABLE.
  await watching.ended();
  const last = watching.events.at(-1)!;
  if (last.errors) expect(last.errors[0].extensions).toEqual({ code: 'UPSTREAM_UNAVAILABLE' });
  else expect(last.data!.matchingJobUpdated.status).toBe('SUCCEEDED');
}, 90_000);
