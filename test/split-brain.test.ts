import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { print } from 'graphql';
import { StartMatchingJobDocument } from './generated/graphql';
import { postGraphQL, startTestEmulator } from './utils/gateway';
import { runGatewayProcess, startGatewayProcess } from './utils/process';
import { SHARED_REDIS_URL, sharedRedisPrefix } from './utils/redis';

/**
 * Replicas that share Redis must share the service too. With the embedded
 * emulator each replica would answer from one of its own while the shared
 * idempotency keys answer for all (a job started on one is NOT_FOUND on
 * another, yet its key names it): the gateway refuses that at start-up, and
 * the recipe in docs/operators/replicas-and-deploying.md, run as written,
 * gives replicas that see the same jobs.
 */

test('ER_REDIS_URL with the embedded emulator: start-up is refused, naming the fix, exit 1', async () => {
  for (const backend of [{}, { ER_BACKEND: 'emulator' }] as Record<string, string>[]) {
    const { code, stderr } = await runGatewayProcess({ ...backend, ER_REDIS_URL: SHARED_REDIS_URL, ER_REDIS_PREFIX: sharedRedisPrefix() });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(
      'er-gateway: bad configuration\nER_REDIS_URL: replicas that share Redis must share one service, but each would run an embedded emulator of its own (ER_BACKEND unset or "emulator"). Run one emulator for all of them (`npm run emulator`) and set ER_BACKEND=aws and ER_ENDPOINT=http://<its host>:4610 on every replica (with ER_AUTH, AWS_REGION=us-east-1 and any AWS credentials); or unset ER_REDIS_URL to run one gateway alone.',
    );
  }
});

/** The settings of the replica recipe: the `NAME=value` words of the shell block on the replicas page that runs `npm start` with ER_REDIS_URL. */
function recipeSettings(): Record<string, string> {
  const page = readFileSync(resolve(__dirname, '../docs/operators/replicas-and-deploying.md'), 'utf8');
  const recipe = [...page.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]).find((block) => /ER_REDIS_URL=/.test(block));
  const command = recipe!
    .replace(/\\\n/g, ' ')
    .split('\n')
    .find((line) => /ER_REDIS_URL=.*npm start/.test(line))!;
  return Object.fromEntries([...command.matchAll(/(?:^|\s)([A-Z_][A-Z0-9_]*)=(\S+)/g)].map(([, name, value]) => [name, value]));
}

test('the replica recipe, as the docs write it: a job started with a key on one replica is found on the other, and its key names it there', async () => {
  const settings = recipeSettings();
  expect(settings).toMatchObject({ ER_BACKEND: 'aws', ER_ENDPOINT: 'http://127.0.0.1:4610', ER_REDIS_URL: 'redis://127.0.0.1:6379/0' });
  const emulator = await startTestEmulator({ jobSeconds: 20 });
  // The recipe as written, but on the test's own ports, emulator and prefix.
  const env = {
    ...settings,
    PORT: '0',
    ER_METRICS_PORT: '0',
    ER_ENDPOINT: emulator.url,
    ER_REDIS_URL: SHARED_REDIS_URL,
    ER_REDIS_PREFIX: sharedRedisPrefix(),
  };
  const [a, b] = await Promise.all([startGatewayProcess(env), startGatewayProcess(env)]);
  const input = { workflowName: 'customer-matching', idempotencyKey: `key-${randomUUID()}` };
  const started = await postGraphQL(`${a.url}/graphql`, print(StartMatchingJobDocument), { input });
  expect(started.errors).toBeUndefined();
  const { jobId } = started.data!.startMatchingJob as { jobId: string };
  const read = await postGraphQL(`${b.url}/graphql`, `{ matchingJob(workflowName: "customer-matching", jobId: "${jobId}") { jobId } }`);
  expect([read.errors, read.data]).toEqual([undefined, { matchingJob: { jobId } }]);
  const retried = await postGraphQL(`${b.url}/graphql`, print(StartMatchingJobDocument), { input });
  expect((retried.data!.startMatchingJob as { jobId: string }).jobId).toBe(jobId);
  expect(emulator.requests('StartMatchingJob')).toBe(1);
});
