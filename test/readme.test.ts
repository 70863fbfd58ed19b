import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { codes, startTestGateway, type TestGateway } from './utils/gateway';
import { Subscription, wsClient } from './utils/subscriptions';

/** The README's examples are the first thing a newcomer runs: each must work against the demo data. */

const readme = readFileSync(resolve(__dirname, '../README.md'), 'utf8');
const examples = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((match) => match[1]);

let t: TestGateway;

beforeAll(async () => {
  // As a newcomer runs them: with the default caches and rate governor.
  t = await startTestGateway({ env: { ER_RATE_PER_SECOND: '5', ER_FINAL_JOB_CACHE_SIZE: '10000', ER_FRESHNESS_MS: '1000', ER_RESPONSE_CACHE_MB: '32' } });
});

afterAll(() => t.close());

test('the README has example queries', () => {
  expect(examples.length).toBeGreaterThanOrEqual(5);
});

test.each(examples.map((query, i) => [i + 1, query]))('README example %i answers as the README says', async (_i, query) => {
  if (/^\s*subscription\b/.test(query)) {
    const client = wsClient(t.gateway.url);
    const sub = new Subscription(client, query);
    const first = await sub.event(1);
    sub.unsubscribe();
    await client.dispose();
    expect(first.errors).toBeUndefined();
    for (const value of Object.values(first.data!)) expect(value).not.toBeNull();
    return;
  }
  const expected = /^# expect: (\w+)/.exec(query)?.[1];
  const res = await t.post(query);
  expect(res.status).toBe(200);
  if (expected) {
    // Every error the example shows carries the code (a second start refused, whether or not the first was).
    expect(codes(res).length).toBeGreaterThan(0);
    expect(new Set(codes(res))).toEqual(new Set([expected]));
  } else {
    expect(res.errors).toBeUndefined();
    for (const value of Object.values(res.data!)) expect(value).not.toBeNull();
  }
});

test('a GET with content-type application/json passes CSRF prevention, as the README says', async () => {
  const res = await fetch(`${t.endpoint}?query=${encodeURIComponent('{ matchingWorkflows { nodes { workflowName } } }')}`, {
    headers: { 'content-type': 'application/json' },
  });
  expect(res.status).toBe(200);
});

test("the README's policy example is deploy/policy.example.yaml, word for word", () => {
  const shown = /This is `deploy\/policy\.example\.yaml`:\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(shown).toBe(readFileSync(resolve(__dirname, '../deploy/policy.example.yaml'), 'utf8'));
});

test("the README's codegen config, copied into a frontend's project, types DateTime as string and SafeInt as number", async () => {
  const config = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1].replace(/^ {2}/gm, '')).find((block) => block.includes("preset: 'client'"));
  expect(config).toBeDefined();
  // A frontend's project: the config, the gateway's schema, and its operations under src/.
  const project = mkdtempSync(join(tmpdir(), 'er-gateway-frontend-'));
  writeFileSync(join(project, 'codegen.ts'), config!);
  copyFileSync(resolve(__dirname, '../schema.graphql'), join(project, 'schema.graphql'));
  mkdirSync(join(project, 'src'));
  copyFileSync(resolve(__dirname, 'operations/jobs.graphql'), join(project, 'src/jobs.graphql'));
  const cli = resolve(__dirname, '../node_modules/@graphql-codegen/cli/cjs/bin.js');
  await promisify(execFile)(process.execPath, [cli, '--config', 'codegen.ts', '--silent'], { cwd: project, env: { ...process.env, NODE_PATH: resolve(__dirname, '../node_modules') } });
  const types = readFileSync(join(project, 'src/gql/graphql.ts'), 'utf8');
  // The operations' fields of those scalars come out typed, where an unmapped scalar would be `unknown` (or `any`).
  expect(types).toMatch(/startTime: string, endTime: string \| null/);
  expect(types).toMatch(/inputRecords: number \| null/);
}, 60_000);
