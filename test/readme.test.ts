import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { codes, startTestGateway, type TestGateway } from './utils/gateway';
import { Subscription, wsClient } from './utils/subscriptions';

/**
 * The documentation's examples are the first thing a newcomer runs: each
 * ```graphql block of README.md and of every page under docs/ (its folders too) runs against
 * the demo data. Where the page shows the answer (a ```json block right after
 * the example, nothing but blank lines between), the answer must be that one,
 * key for key; a value shown as "…" stands for any value (an id or a time
 * that differs from run to run). A subscription's shown answer is its first
 * event. An example that begins `# expect: CODE` must fail with that code;
 * one that shows nothing must answer without errors or nulls at its top.
 */

const root = resolve(__dirname, '..');
/** The markdown pages under `dir` (relative to the root), its folders' too, sorted. */
function pagesUnder(dir: string): string[] {
  if (!existsSync(join(root, dir))) return [];
  return readdirSync(join(root, dir), { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() ? pagesUnder(`${dir}/${entry.name}`) : entry.name.endsWith('.md') ? [`${dir}/${entry.name}`] : [],
    )
    .sort();
}
const pages = ['README.md', ...pagesUnder('docs')];
const read = (page: string): string => readFileSync(join(root, page), 'utf8');

interface Example {
  page: string;
  line: number;
  query: string;
  shown?: unknown;
}

/** The fenced blocks of a markdown page, in order, with where each starts and ends. */
function blocks(text: string): { lang: string; body: string; start: number; end: number }[] {
  return [...text.matchAll(/^```(\w*)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => ({
    lang: m[1],
    body: m[2],
    start: m.index,
    end: m.index + m[0].length,
  }));
}

function examplesOf(page: string): Example[] {
  const text = readFileSync(join(root, page), 'utf8');
  const all = blocks(text);
  return all.flatMap((block, i) => {
    if (block.lang !== 'graphql') return [];
    const next = all[i + 1];
    const shows = next?.lang === 'json' && text.slice(block.end, next.start).trim() === '';
    return [
      {
        page,
        line: text.slice(0, block.start).split('\n').length,
        query: block.body,
        shown: shows ? (JSON.parse(next.body) as unknown) : undefined,
      },
    ];
  });
}

/** Where `actual` departs from `shown` ("…" matches anything), as a path; undefined when it is the answer shown. */
function departure(actual: unknown, shown: unknown, path = '$'): string | undefined {
  if (shown === '…') return actual === undefined ? `${path} is missing` : undefined;
  if (Array.isArray(shown)) {
    if (!Array.isArray(actual) || actual.length !== shown.length) return `${path} is ${JSON.stringify(actual)}`;
    for (const [i, item] of shown.entries()) {
      const found = departure(actual[i], item, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (shown !== null && typeof shown === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `${path} is ${JSON.stringify(actual)}`;
    const keys = new Set([...Object.keys(shown), ...Object.keys(actual)]);
    for (const key of keys) {
      if (!(key in shown)) return `${path}.${key} is not shown (${JSON.stringify((actual as Record<string, unknown>)[key])})`;
      const found = departure((actual as Record<string, unknown>)[key], (shown as Record<string, unknown>)[key], `${path}.${key}`);
      if (found) return found;
    }
    return undefined;
  }
  return Object.is(actual, shown) ? undefined : `${path} is ${JSON.stringify(actual)}, shown ${JSON.stringify(shown)}`;
}

const examples = pages.flatMap(examplesOf);

let t: TestGateway;

beforeAll(async () => {
  // As a newcomer runs them: with the default caches and rate governor.
  t = await startTestGateway({
    env: { ER_RATE_PER_SECOND: '5', ER_FINAL_JOB_CACHE_SIZE: '10000', ER_FRESHNESS_MS: '1000', ER_RESPONSE_CACHE_MB: '32' },
  });
});

test('the README and the docs pages have example queries, and show answers', () => {
  // The README keeps three examples; the rest moved to docs/, where they still run.
  expect(examples.filter((e) => e.page === 'README.md').length).toBeGreaterThanOrEqual(3);
  expect(examples.length).toBeGreaterThanOrEqual(13);
  expect(examples.filter((e) => e.shown !== undefined).length).toBeGreaterThanOrEqual(3);
});

test('an answer that departs from the one shown is caught, wherever it departs', () => {
  const shown = { data: { job: { id: '…', status: 'SUCCEEDED', metrics: [{ n: 1 }] } } };
  expect(departure({ data: { job: { id: 'x', status: 'SUCCEEDED', metrics: [{ n: 1 }] } } }, shown)).toBeUndefined();
  expect(departure({ data: { job: { id: 'x', status: 'FAILED', metrics: [{ n: 1 }] } } }, shown)).toMatch(/^\$\.data\.job\.status/);
  expect(departure({ data: { job: { id: 'x', status: 'SUCCEEDED', metrics: [{ n: 1 }, { n: 2 }] } } }, shown)).toMatch(/metrics/);
  expect(departure({ data: { job: { status: 'SUCCEEDED', metrics: [{ n: 1 }] } } }, shown)).toMatch(/id is missing/);
  expect(departure({ data: { job: { id: 'x', status: 'SUCCEEDED', metrics: [{ n: 1 }] } }, errors: [] }, shown)).toMatch(
    /errors is not shown/,
  );
});

test.each(examples.map((e) => [e.page, e.line, e]))('%s example at line %i answers as the page says', async (_page, _line, example) => {
  const { query, shown } = example as Example;
  if (/^\s*subscription\b/.test(query)) {
    const client = wsClient(t.gateway.url);
    const sub = new Subscription(client, query);
    const first = await sub.event(1);
    sub.unsubscribe();
    if (shown !== undefined) return expect(departure(first, shown)).toBeUndefined();
    expect(first.errors).toBeUndefined();
    for (const value of Object.values(first.data!)) expect(value).not.toBeNull();
    return;
  }
  const expected = /^# expect: (\w+)/.exec(query)?.[1];
  const res = await t.post(query);
  expect(res.status).toBe(200);
  if (shown !== undefined)
    expect(
      departure({ ...(res.data !== undefined ? { data: res.data } : {}), ...(res.errors ? { errors: res.errors } : {}) }, shown),
    ).toBeUndefined();
  if (expected) {
    // Every error the example shows carries the code (a second start refused, whether or not the first was).
    expect(codes(res).length).toBeGreaterThan(0);
    expect(new Set(codes(res))).toEqual(new Set([expected]));
  } else {
    expect(res.errors).toBeUndefined();
    for (const value of Object.values(res.data!)) expect(value).not.toBeNull();
  }
});

test('a GET with content-type application/json passes CSRF prevention, as the docs say', async () => {
  const res = await fetch(`${t.endpoint}?query=${encodeURIComponent('{ matchingWorkflows { nodes { workflowName } } }')}`, {
    headers: { 'content-type': 'application/json' },
  });
  expect(res.status).toBe(200);
});

test("the docs' policy example is deploy/policy.example.yaml, word for word", () => {
  const shown = /This is `deploy\/policy\.example\.yaml`:\n\n```yaml\n([\s\S]*?)```/.exec(read('docs/operators/securing.md'))?.[1];
  expect(shown).toBe(readFileSync(resolve(__dirname, '../deploy/policy.example.yaml'), 'utf8'));
});

test("the docs' codegen config, copied into a frontend's project, types DateTime as string and SafeInt as number", async () => {
  const config = [...read('docs/frontend/clients.md').matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((match) => match[1].replace(/^ {2}/gm, ''))
    .find((block) => block.includes("preset: 'client'"));
  expect(config).toBeDefined();
  // A frontend's project: the config, the gateway's schema, and its operations under src/.
  const project = mkdtempSync(join(tmpdir(), 'er-gateway-frontend-'));
  writeFileSync(join(project, 'codegen.ts'), config!);
  copyFileSync(resolve(__dirname, '../schema.graphql'), join(project, 'schema.graphql'));
  mkdirSync(join(project, 'src'));
  copyFileSync(resolve(__dirname, 'operations/jobs.graphql'), join(project, 'src/jobs.graphql'));
  const cli = resolve(__dirname, '../node_modules/@graphql-codegen/cli/cjs/bin.js');
  await promisify(execFile)(process.execPath, [cli, '--config', 'codegen.ts', '--silent'], {
    cwd: project,
    env: { ...process.env, NODE_PATH: resolve(__dirname, '../node_modules') },
  });
  const types = readFileSync(join(project, 'src/gql/graphql.ts'), 'utf8');
  // The operations' fields of those scalars come out typed, where an unmapped scalar would be `unknown` (or `any`).
  expect(types).toMatch(/startTime: string, endTime: string \| null/);
  expect(types).toMatch(/inputRecords: number \| null/);
}, 60_000);
