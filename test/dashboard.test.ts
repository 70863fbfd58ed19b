/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { newApiKey, writeTempFile } from './utils/auth';
import { launchTestBrowser, openRecordedPage } from './utils/browser';
import { CONTENT_SECURITY_POLICY } from '../src/server/dashboard';
import { documentHash } from '../src/server/trusted-documents';
import { codes, startTestGateway, type TestGateway } from './utils/gateway';

/** The one operation of the manifest in the trusted-documents test. */
const OTHER = '{ idMappingWorkflows { nodes { workflowName } } }';

/**
 * The dashboard as a person sees it: Chromium, headless, driven by
 * playwright-core, against a gateway with its embedded emulator. The browser is
 * Debian's when installed, else the one `npm ci` brings (test/utils/browser.ts,
 * ER_TEST_BROWSER). `npm test` builds the page first (`npm run dashboard`), as
 * `npm run build` does.
 */

/** Where the screenshot goes: the tests' output folder, not committed. */
const OUTPUT = process.env.TEST_OUTPUT_DIR ?? join(__dirname, 'output');

let browser: Browser;

// The first run on a machine without a browser unpacks the bundled one (a few seconds, longer under load).
beforeAll(async () => {
  browser = await launchTestBrowser();
}, 120_000);

afterAll(async () => {
  await browser.close();
});

/** A page that may reach the gateway only, recording what it asked for and every error. */
const openPage = (t: TestGateway) => openRecordedPage(browser, t.gateway.url);

describe('the dashboard in Chromium', () => {
  let t: TestGateway;

  beforeAll(async () => {
    // A job runs six seconds (the first 0.6 s QUEUED), polled every 200 ms: its bar moves a few dozen times.
    t = await startTestGateway({ env: { ER_EMULATOR_JOB_SECONDS: '6', ER_POLL_INTERVAL_MS: '200' } });
  });

  afterAll(async () => {
    await t.close();
  });

  test('a job started from the page goes QUEUED, RUNNING with a moving bar, then SUCCEEDED, and no request leaves the machine', async () => {
    const { context, page, requests, errors } = await openPage(t);
    try {
      await page.goto(`${t.gateway.url}/`);
      expect(page.url()).toBe(`${t.gateway.url}/dashboard/`);
      const workflow = page.locator('section[data-workflow="customer-id-map"]');
      await workflow.locator('.job').first().waitFor();
      // Every workflow of the emulator, each with its newest jobs; a FAILED job says why.
      expect(await page.locator('section.workflow h2').allTextContents()).toEqual([
        'customer-id-map',
        'loyalty-id-map',
        'address-matching',
        'customer-matching',
        'household-matching',
      ]);
      await expect(workflow.locator('.job').count()).resolves.toBe(5);
      await workflow.locator('.error', { hasText: 'Access denied to s3://er-demo-input/' }).waitFor();
      expect(await page.locator('button.start:disabled').count()).toBe(0);

      // From here on, every state the new job's row shows, as the page draws it.
      const before = await workflow.locator('.job').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.jobId));
      await workflow.evaluate((section, known) => {
        const seen: { jobId: string; status: string; value: number | null; max: number }[] = [];
        (window as unknown as { seen: typeof seen }).seen = seen;
        const record = () => {
          const row = [...section.querySelectorAll<HTMLElement>('.job')].find((candidate) => !known.includes(candidate.dataset.jobId));
          if (!row) return;
          const bar = row.querySelector('progress')!;
          const state = {
            jobId: row.dataset.jobId!,
            status: row.querySelector('.badge')!.textContent!,
            value: bar.hasAttribute('value') ? bar.value : null,
            max: bar.max,
          };
          const last = seen.at(-1);
          if (!last || last.status !== state.status || last.value !== state.value) seen.push(state);
        };
        new MutationObserver(record).observe(section, { childList: true, subtree: true, attributes: true });
      }, before);

      await workflow.locator('button.start').click();
      await workflow.locator('button.confirm').click();
      // While it runs, no ID-mapping workflow can start a job (the service runs one of a kind per region); matching ones can.
      await page.waitForFunction(
        () => document.querySelector<HTMLButtonElement>('section[data-workflow="loyalty-id-map"] button.start')!.disabled,
      );
      expect(await page.locator('section[data-workflow="customer-matching"] button.start').isDisabled()).toBe(false);
      type Seen = { jobId: string; status: string; value: number | null; max: number }[];
      await page.waitForFunction(
        () => (window as unknown as { seen: Seen }).seen.some((state) => state.status === 'SUCCEEDED'),
        undefined,
        { timeout: 20_000 },
      );
      // The full bar is the job's final counts, as the API reports them (the list may say SUCCEEDED a moment before the counts arrive).
      const jobId = (await page.evaluate(() => (window as unknown as { seen: Seen }).seen[0].jobId)) as string;
      const final = await t.post<{ idMappingJob: { metrics: { inputRecords: number; totalRecordsProcessed: number } } }>(
        `{ idMappingJob(workflowName: "customer-id-map", jobId: "${jobId}") { metrics { inputRecords totalRecordsProcessed } } }`,
      );
      const { totalRecordsProcessed, inputRecords } = final.data!.idMappingJob.metrics;
      await page.waitForFunction(
        ([value, max]) => {
          const last = (window as unknown as { seen: Seen }).seen.at(-1)!;
          return last.status === 'SUCCEEDED' && last.value === value && last.max === max;
        },
        [totalRecordsProcessed, inputRecords],
      );
      const seen = await page.evaluate(() => (window as unknown as { seen: Seen }).seen);

      const statuses = seen.map((state) => state.status).filter((status, i, all) => status !== all[i - 1]);
      expect(statuses).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
      const running = seen.filter(
        (state) => state.status === 'RUNNING' && state.value !== null && state.value > 0 && state.value < state.max,
      );
      expect(new Set(running.map((state) => state.value)).size).toBeGreaterThanOrEqual(3);
      expect(running.map((state) => state.value)).toEqual([...running.map((state) => state.value)].sort((a, b) => a! - b!));
      // Idle again: the buttons are back.
      await page.waitForFunction(() => document.querySelectorAll('button.start:disabled').length === 0);

      // A job started by another client appears by itself.
      const matching = page.locator('section[data-workflow="customer-matching"]');
      const started = await t.post<{ startMatchingJob: { jobId: string } }>(
        'mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }',
      );
      await matching.locator(`.job[data-job-id="${started.data!.startMatchingJob.jobId}"]`).waitFor();

      mkdirSync(OUTPUT, { recursive: true });
      await page.screenshot({ path: join(OUTPUT, 'dashboard.png'), fullPage: true });

      expect(requests.length).toBeGreaterThan(0);
      expect(requests.filter((url) => !url.startsWith(t.gateway.url) && !url.startsWith(t.gateway.url.replace('http', 'ws')))).toEqual([]);
      expect(requests).toContain(`${t.gateway.url.replace('http', 'ws')}/graphql`);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

test('with API keys required, the page asks for one and then shows what it may read', async () => {
  const viewer = newApiKey();
  const t = await startTestGateway({
    env: {
      ER_AUTH: 'apikey',
      ER_API_KEYS: `viewer:${viewer.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [{ to: { apiKeys: ['viewer'] }, workflows: ['*-matching'], actions: ['read', 'subscribe'] }],
      }),
    },
  });
  const { context, page } = await openPage(t);
  try {
    await page.goto(`${t.gateway.url}/dashboard/`);
    await page.locator('form.credential', { hasText: 'needs an API key or a token' }).waitFor();
    await page.fill('input.secret', viewer.key);
    await page.click('button.sign-in');
    await page.locator('section[data-workflow="customer-matching"] .job').first().waitFor();
    expect(await page.locator('section.workflow h2').allTextContents()).toEqual([
      'address-matching',
      'customer-matching',
      'household-matching',
    ]);
  } finally {
    await context.close();
    await t.close();
  }
});

test("with trusted documents on, the page runs on the dashboard's own documents, and other operations are still refused", async () => {
  const manifest = writeTempFile('persisted-documents.json', JSON.stringify({ [documentHash(OTHER)]: OTHER }));
  const t = await startTestGateway({ env: { ER_TRUSTED_DOCUMENTS: manifest } });
  const { context, page, errors } = await openPage(t);
  try {
    await page.goto(`${t.gateway.url}/dashboard/`);
    await page.locator('section[data-workflow="customer-id-map"] .job .error').first().waitFor();
    expect(errors).toEqual([]);
    const refused = await t.post('{ matchingWorkflows { nodes { workflowName } } }');
    expect([refused.status, codes(refused)]).toEqual([403, ['FORBIDDEN']]);
    expect((await t.post(OTHER)).errors).toBeUndefined();
  } finally {
    await context.close();
    await t.close();
  }
});

test('the page is served with a policy that keeps it to its own files and this gateway, and ER_DASHBOARD=false turns it off', async () => {
  const on = await startTestGateway();
  try {
    const root = await fetch(`${on.gateway.url}/`, { redirect: 'manual' });
    expect([root.status, root.headers.get('location')]).toEqual([302, '/dashboard/']);
    const page = await fetch(`${on.gateway.url}/dashboard/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await page.text();
    // Everything it loads is its own: no CDN.
    expect([...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1])).toEqual([
      '/favicon.svg',
      '/dashboard/main.css',
      '/dashboard/main.js',
    ]);
    for (const file of ['main.js', 'main.css']) expect((await fetch(`${on.gateway.url}/dashboard/${file}`)).status).toBe(200);
    const wrongMethod = await fetch(`${on.gateway.url}/dashboard/`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
  } finally {
    await on.close();
  }
  const off = await startTestGateway({ env: { ER_DASHBOARD: 'false' } });
  try {
    for (const path of ['/', '/dashboard/', '/dashboard/main.js']) {
      const response = await fetch(`${off.gateway.url}${path}`, { redirect: 'manual' });
      expect([
        path,
        response.status,
        ((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code,
      ]).toEqual([path, 404, 'NOT_FOUND']);
    }
  } finally {
    await off.close();
  }
});

test("in production a browser at /graphql gets our own landing page: its text, the dashboard's policy, and no request but to the gateway", async () => {
  const t = await startTestGateway({
    env: {
      NODE_ENV: 'production',
      ER_BACKEND: 'emulator',
      ER_AUTH: 'apikey',
      ER_API_KEYS: `viewer:${newApiKey().sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', { grants: [] } as never),
    },
  });
  const { context, page, requests, errors } = await openPage(t);
  try {
    // Before authentication: a person who opens the endpoint learns what it is without a key.
    const response = await page.goto(`${t.gateway.url}/graphql`);
    expect([response!.status(), response!.headers()['content-type'], response!.headers()['content-security-policy']]).toEqual([
      200,
      'text/html; charset=utf-8',
      CONTENT_SECURITY_POLICY,
    ]);
    expect(CONTENT_SECURITY_POLICY).toMatch(/^default-src 'none'; script-src 'self'; /);
    await page.locator('h1', { hasText: 'er-gateway' }).waitFor();
    expect(await page.locator('main').innerText()).toMatch(
      /This is the GraphQL endpoint of er-gateway[\s\S]*POST \/graphql[\s\S]*\/graphql\/stream[\s\S]*README/,
    );
    expect(await page.locator('a').evaluateAll((links) => links.map((link) => (link as HTMLAnchorElement).href))).toEqual([
      `${t.gateway.url}/dashboard/`,
    ]);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((url) => !url.startsWith(`${t.gateway.url}/`))).toEqual([]);
    expect(errors).toEqual([]);
    // A GraphQL client's GET is still GraphQL's, and still needs credentials.
    const query = await fetch(`${t.gateway.url}/graphql?query=%7B__typename%7D`, { headers: { 'content-type': 'application/json' } });
    expect(query.status).toBe(401);
  } finally {
    await context.close();
    await t.close();
  }
});
