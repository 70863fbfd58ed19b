/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { AxeBuilder } from '@axe-core/playwright';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { seededJobId } from '../src/emulator/seed';
import { ServiceError } from '../src/emulator/state';
import { newApiKey, writeTempFile } from './utils/auth';
import { launchTestBrowser, openRecordedPage } from './utils/browser';
import { runningJob, startTestGateway, type TestGateway } from './utils/gateway';

/**
 * The dashboard as the job console people keep open, in headless Chromium:
 * its layout on a wide screen and a phone, each job's own view with its
 * numbers drawn, the run history, actions that match the viewer, and the
 * page while the gateway is away. test/dashboard.test.ts covers the live
 * list itself.
 */

/** Where screenshots go: the tests' output folder, not committed. */
const OUTPUT = process.env.TEST_OUTPUT_DIR ?? join(__dirname, 'output');
const WORKFLOWS = ['customer-id-map', 'loyalty-id-map', 'address-matching', 'customer-matching', 'household-matching'];

let browser: Browser;

beforeAll(async () => {
  browser = await launchTestBrowser();
}, 120_000);

afterAll(async () => {
  await browser.close();
});

/** Waits until every card has its jobs listed (or says it has none) and its history drawn. */
async function loaded(page: Page): Promise<void> {
  await page.waitForFunction(
    (count) => {
      const cards = [...document.querySelectorAll('section.workflow')];
      return (
        cards.length === count &&
        cards.every(
          (card) =>
            (card as HTMLElement).dataset.history === 'read' &&
            (card.querySelector('.state')!.textContent === 'No jobs yet.' || (card.querySelector('.job') && card.querySelector('.run'))),
        )
      );
    },
    WORKFLOWS.length,
    { timeout: 20_000 },
  );
}

/** axe-core's serious and critical findings on the page as it stands, as rule and the elements at fault. */
async function seriousViolations(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
}

describe('the console with authentication off', () => {
  let t: TestGateway;

  beforeAll(async () => {
    t = await startTestGateway({ env: { ER_POLL_INTERVAL_MS: '200', ER_EMULATOR_JOB_SECONDS: '4' } });
  });

  afterAll(async () => {
    await t.close();
  });

  test('at 1280 × 800, 390 × 844 and 360 × 740 nothing scrolls sideways, every Start button is on screen, and axe finds nothing serious', async () => {
    const { context, page, errors } = await openRecordedPage(browser, t.gateway.url);
    // A job of each kind running, as the console is usually seen (and the README's screenshot shows).
    const idMapping = t.emulator.state.holdRunning('idMapping', 'loyalty-id-map');
    const matching = t.emulator.state.holdRunning('matching', 'customer-matching');
    try {
      mkdirSync(OUTPUT, { recursive: true });
      for (const [width, height, name] of [
        [1280, 800, 'console-wide.png'],
        [390, 844, 'console-phone.png'],
        [360, 740, undefined],
      ] as const) {
        await page.setViewportSize({ width, height });
        await page.goto(`${t.gateway.url}/dashboard/`);
        await loaded(page);
        expect(await page.locator('section.workflow h2').allTextContents()).toEqual(WORKFLOWS);
        const layout = await page.evaluate(() => ({
          scrollWidth: document.documentElement.scrollWidth,
          viewport: window.innerWidth,
          starts: [...document.querySelectorAll('button.start')].map((button) => {
            const box = button.getBoundingClientRect();
            return { left: box.left, right: box.right };
          }),
        }));
        expect(layout.scrollWidth).toBeLessThanOrEqual(layout.viewport);
        expect(layout.starts).toHaveLength(WORKFLOWS.length);
        for (const box of layout.starts) expect([box.left >= 0, box.right <= layout.viewport]).toEqual([true, true]);
        if (name) await page.screenshot({ path: join(OUTPUT, name), fullPage: true });
      }
      // Each job's type and "as of" are on its row; a workflow without jobs says so.
      const customer = page.locator('section[data-workflow="customer-id-map"]');
      await expect(customer.locator('.job .job-type').first().textContent()).resolves.toMatch(/^(BATCH|DELETE_ONLY)$/);
      await expect(customer.locator('.job .as-of').first().textContent()).resolves.toMatch(/^as of /);
      await expect(page.locator('section[data-workflow="address-matching"] .state').textContent()).resolves.toBe('No jobs yet.');
      await expect(page.locator('#who').textContent()).resolves.toContain('Authentication is off');
      // While they run, no other job of their kinds may start, and each Start says so beside it.
      await expect(page.locator('section[data-workflow="customer-id-map"] .reason').textContent()).resolves.toBe(
        'An ID-mapping job is running on loyalty-id-map: the service runs one of a kind at a time in a region.',
      );
      expect(await page.locator('button.start:disabled').count()).toBe(WORKFLOWS.length);
      expect(await seriousViolations(page)).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      t.emulator.state.failJob('idMapping', idMapping.workflowName, idMapping.jobId, 'Ended by the test.');
      t.emulator.state.failJob('matching', matching.workflowName, matching.jobId, 'Ended by the test.');
    }
  });

  test('the keyboard reaches Start, opens its form with a visible focus ring, and Cancel or Escape gives focus back to Start', async () => {
    const { context, page } = await openRecordedPage(browser, t.gateway.url);
    try {
      await page.goto(`${t.gateway.url}/dashboard/`);
      await loaded(page);
      const start = page.locator('section[data-workflow="loyalty-id-map"] button.start');
      await start.focus();
      await page.keyboard.press('Tab');
      await page.keyboard.press('Shift+Tab');
      expect(await start.evaluate((button) => button === document.activeElement && getComputedStyle(button).outlineStyle)).toBe('solid');
      await page.keyboard.press('Enter');
      const select = page.locator('section[data-workflow="loyalty-id-map"] select.job-type');
      await select.waitFor();
      expect(await select.evaluate((node) => node === document.activeElement)).toBe(true);
      // A workflow set to run incrementally offers all three types; customer-id-map does not run incrementally.
      expect(await select.locator('option').allTextContents()).toEqual(['INCREMENTAL', 'BATCH', 'DELETE_ONLY']);
      expect(await page.locator('section[data-workflow="customer-id-map"] select.job-type option').allTextContents()).toEqual([
        'BATCH',
        'DELETE_ONLY',
      ]);
      await page.locator('section[data-workflow="loyalty-id-map"] button.cancel').click();
      expect(await start.evaluate((button) => button === document.activeElement)).toBe(true);
      const form = page.locator('section[data-workflow="loyalty-id-map"] form.start-form');
      await expect(form.isHidden()).resolves.toBe(true);
      // Escape closes it too.
      await page.keyboard.press('Enter');
      await select.waitFor();
      await page.keyboard.press('Escape');
      await expect(form.isHidden()).resolves.toBe(true);
      expect(await start.evaluate((button) => button === document.activeElement)).toBe(true);
    } finally {
      await context.close();
    }
  });

  test("a finished job's own view shows each metric with the value the API returns, its times, type and output; a failed one its message", async () => {
    const { context, page, errors } = await openRecordedPage(browser, t.gateway.url);
    try {
      const jobId = seededJobId('customer-id-map', 98);
      const answer = await t.post<{
        idMappingJob: { jobType: string; metrics: Record<string, number | null>; outputSourceConfig: { outputS3Path: string }[] };
      }>(
        `{ idMappingJob(workflowName: "customer-id-map", jobId: "${jobId}") { jobType outputSourceConfig { outputS3Path } metrics {
          inputRecords totalRecordsProcessed recordsNotProcessed deleteRecordsProcessed totalMappedRecords totalMappedSourceRecords
          totalMappedTargetRecords uniqueRecordsLoaded newMappedRecords newMappedSourceRecords newMappedTargetRecords newUniqueRecordsLoaded
          mappedRecordsRemoved mappedSourceRecordsRemoved mappedTargetRecordsRemoved } } }`,
      );
      const { metrics, jobType, outputSourceConfig } = answer.data!.idMappingJob;
      await page.goto(`${t.gateway.url}/dashboard/#/idmapping/customer-id-map/${jobId}`);
      await page.locator('.detail tr.metric').first().waitFor();
      const drawn = await page
        .locator('.detail tr.metric')
        .evaluateAll((rows) =>
          rows.map((row) => [
            (row as HTMLElement).dataset.metric,
            Number((row as HTMLElement).dataset.value),
            row.querySelector('.value')!.textContent,
          ]),
        );
      const reported = Object.entries(metrics).filter(([, value]) => value !== null);
      expect(drawn.map(([field, value]) => [field, value])).toEqual(reported);
      for (const [, value, text] of drawn) expect(text).toBe((value as number).toLocaleString('en-US'));
      // Each bar is drawn to scale: the largest is full width.
      expect(await page.locator('.detail tr.metric[data-metric="inputRecords"] rect').getAttribute('width')).toBe('100');
      const facts = await page.locator('.detail .facts').innerText();
      expect(facts).toContain(`Job type\n${jobType}`);
      expect(facts).toContain('Duration\n1 h 30 min');
      expect(facts).toContain(outputSourceConfig[0].outputS3Path);
      await expect(page.locator('.detail .as-of').textContent()).resolves.toMatch(/^as of /);
      expect(await page.locator('.detail .stale').count()).toBe(0);
      expect(await seriousViolations(page)).toEqual([]);
      await page.screenshot({ path: join(OUTPUT, 'console-detail.png'), fullPage: true });
      // On a phone too, nothing of it scrolls sideways.
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      await page.setViewportSize({ width: 1280, height: 900 });

      await page.goto(`${t.gateway.url}/dashboard/#/idmapping/customer-id-map/${seededJobId('customer-id-map', 97)}`);
      await page
        .locator('.detail .error', { hasText: 'Failed: Access denied to s3://er-demo-input/crm/customers/part-00042.parquet' })
        .waitFor();
      await expect(page.locator('.detail .badge').textContent()).resolves.toBe('FAILED');
      // A matching job's view draws its match IDs.
      const matchingJob = seededJobId('customer-matching', 0);
      const matchIDs = await t.post<{ matchingJob: { metrics: { matchIDs: number } } }>(
        `{ matchingJob(workflowName: "customer-matching", jobId: "${matchingJob}") { metrics { matchIDs } } }`,
      );
      await page.goto(`${t.gateway.url}/dashboard/#/matching/customer-matching/${matchingJob}`);
      await expect(page.locator('.detail tr.metric[data-metric="matchIDs"]').getAttribute('data-value')).resolves.toBe(
        String(matchIDs.data!.matchingJob.metrics.matchIDs),
      );

      // Back to the list, linked from a row.
      await page.locator('.detail a.back').click();
      await page.locator(`section[data-workflow="customer-id-map"] a[href$="${seededJobId('customer-id-map', 99)}"]`).click();
      await page.locator(`.detail code.job-id`, { hasText: seededJobId('customer-id-map', 99) }).waitFor();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test('the history chart has one mark per listed job, failed ones marked, and gains one when a job is started elsewhere', async () => {
    const { context, page } = await openRecordedPage(browser, t.gateway.url);
    try {
      await page.goto(`${t.gateway.url}/dashboard/`);
      await loaded(page);
      const listed = await t.post<{ matchingWorkflow: { jobs: { nodes: { jobId: string; status: string }[] } } }>(
        '{ matchingWorkflow(workflowName: "household-matching") { jobs(first: 10) { nodes { jobId status } } } }',
      );
      const jobs = listed.data!.matchingWorkflow.jobs.nodes;
      const household = page.locator('section[data-workflow="household-matching"]');
      const marks = () =>
        household
          .locator('.history .run')
          .evaluateAll((runs) => runs.map((run) => [run.getAttribute('data-job-id'), run.classList.contains('failed')]));
      expect((await marks()).sort()).toEqual(jobs.map((job) => [job.jobId, job.status === 'FAILED']).sort());
      expect(await household.locator('.history .run.failed .cross').count()).toBe(jobs.filter((job) => job.status === 'FAILED').length);

      const started = await t.post<{ startMatchingJob: { jobId: string } }>(
        'mutation { startMatchingJob(input: { workflowName: "household-matching" }) { jobId } }',
      );
      const jobId = started.data!.startMatchingJob.jobId;
      await household.locator(`.history .run[data-job-id="${jobId}"]`).waitFor();
      expect(await household.locator('.history .run').count()).toBe(jobs.length + 1);
      // The newest run is drawn last (rightmost).
      expect((await marks()).at(-1)).toEqual([jobId, false]);
    } finally {
      await context.close();
    }
  });
});

test('a job marked stale, its polls failing, shows the stale marker, and loses it when the service answers again', async () => {
  const t = await startTestGateway({ env: { ER_POLL_INTERVAL_MS: '200' } });
  const { context, page } = await openRecordedPage(browser, t.gateway.url);
  try {
    const job = runningJob(t.emulator);
    await page.goto(`${t.gateway.url}/dashboard/#/idmapping/${job.workflowName}/${job.jobId}`);
    await page.locator('.detail .badge', { hasText: 'RUNNING' }).waitFor();
    expect(await page.locator('.detail .stale').count()).toBe(0);
    t.emulator.setFaults({ internalErrorRate: 1 });
    await page.locator('.detail .stale', { hasText: 'stale' }).waitFor({ timeout: 20_000 });
    t.emulator.setFaults({});
    await page.locator('.detail .stale').waitFor({ state: 'detached', timeout: 20_000 });
    await expect(page.locator('.detail .badge').textContent()).resolves.toBe('RUNNING');
  } finally {
    await context.close();
    await t.close();
  }
});

describe('actions that match the viewer', () => {
  const reader = newApiKey();
  const operator = newApiKey();
  let t: TestGateway;

  beforeAll(async () => {
    t = await startTestGateway({
      env: {
        ER_POLL_INTERVAL_MS: '200',
        ER_EMULATOR_JOB_SECONDS: '3',
        ER_AUTH: 'apikey',
        ER_API_KEYS_FILE: writeTempFile('keys.yaml', {
          keys: [
            { name: 'reader', sha256: reader.sha256, groups: ['analysts'] },
            { name: 'operator', sha256: operator.sha256, groups: ['analysts', 'data-ops'] },
          ],
        }),
        ER_POLICY_FILE: writeTempFile('policy.yaml', {
          grants: [
            { to: { groups: ['analysts'] }, workflows: ['*'], actions: ['read', 'subscribe'] },
            { to: { groups: ['data-ops'] }, workflows: ['*'], actions: ['start'] },
          ],
        }),
      },
    });
  });

  afterAll(async () => {
    await t.close();
  });

  async function signIn(page: Page, key: string): Promise<void> {
    await page.goto(`${t.gateway.url}/dashboard/`);
    await page.locator('form.credential', { hasText: 'needs an API key or a token' }).waitFor();
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'console-sign-in.png') });
    await page.getByLabel('API key or token (JWT)').fill(key);
    await page.keyboard.press('Enter');
    await loaded(page);
  }

  test('a reader-only key is shown signed in with its groups, is offered no Start, and signs out', async () => {
    const { context, page, errors } = await openRecordedPage(browser, t.gateway.url);
    try {
      await signIn(page, reader.key);
      await page.screenshot({ path: join(OUTPUT, 'console-reader.png') });
      expect(await page.locator('#who').innerText()).toMatch(/Signed in as apiKey:reader[\s\S]*groups: analysts/);
      expect(await page.locator('button.start, form.start-form').count()).toBe(0);
      expect(await page.locator('section.workflow .note', { hasText: 'Read only' }).count()).toBe(WORKFLOWS.length);
      await page.locator('button.sign-out').click();
      await page.locator('form.credential', { hasText: 'needs an API key or a token' }).waitFor();
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
      // The browser logs each unauthenticated answer (the first load's, and the one after signing out) as a failed resource.
      expect(errors.filter((error) => !error.includes('status of 401'))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test('an operator starts an INCREMENTAL job from the form, sees it at once and until SUCCEEDED; refused starts say why in words', async () => {
    const { context, page } = await openRecordedPage(browser, t.gateway.url);
    try {
      await signIn(page, operator.key);
      const loyalty = page.locator('section[data-workflow="loyalty-id-map"]');
      const before = await loyalty.locator('.job').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.jobId));
      await loyalty.locator('button.start').click();
      await loyalty.locator('select.job-type').selectOption('INCREMENTAL');
      await loyalty.locator('button.confirm').click();
      const row = loyalty.locator('.job').first();
      await page.waitForFunction(
        (known) => !known.includes(document.querySelector<HTMLElement>('section[data-workflow="loyalty-id-map"] .job')!.dataset.jobId!),
        before,
      );
      await expect(row.locator('.job-type').textContent()).resolves.toBe('INCREMENTAL');
      const jobId = await row.getAttribute('data-job-id');
      await loyalty.locator(`.job[data-job-id="${jobId}"] .badge`, { hasText: 'SUCCEEDED' }).waitFor({ timeout: 20_000 });
      const answer = await t.post<{ idMappingJob: { jobType: string; status: string } }>(
        `{ idMappingJob(workflowName: "loyalty-id-map", jobId: "${jobId}") { jobType status } }`,
        {},
        { 'x-api-key': operator.key },
      );
      expect(answer.data!.idMappingJob).toEqual({ jobType: 'INCREMENTAL', status: 'SUCCEEDED' });
      await page.waitForFunction(() => document.querySelectorAll('button.start:disabled').length === 0);

      // The service's refusals, inline beside the form, in words.
      const matching = page.locator('section[data-workflow="customer-matching"]');
      t.emulator.failNext(
        'StartMatchingJob',
        new ServiceError('ExceedsLimitException', 'Too many jobs.', { quotaName: 'Concurrent matching jobs', quotaValue: 1 }),
      );
      await matching.locator('button.start').click();
      await matching.locator('button.confirm').click();
      await matching
        .locator('.refusal', { hasText: 'Not started: a limit was reached. The quota "Concurrent matching jobs" is 1.' })
        .waitFor();
      t.emulator.failNext('StartMatchingJob', 'ConflictException');
      await matching.locator('button.confirm').click();
      await matching.locator('.refusal', { hasText: 'Not started: another job blocks this one.' }).waitFor();
      expect(await matching.locator('.refusal').getAttribute('role')).toBe('alert');
    } finally {
      await context.close();
    }
  });
});

test('with the gateway stopped the page says it is reconnecting and disables every action; when it is back the page recovers without a reload', async () => {
  const first = await startTestGateway({ env: { ER_POLL_INTERVAL_MS: '200' } });
  const port = new URL(first.gateway.url).port;
  const { context, page } = await openRecordedPage(browser, first.gateway.url);
  let second: TestGateway | undefined;
  try {
    await page.goto(`${first.gateway.url}/dashboard/`);
    await loaded(page);
    expect(await page.locator('button.act:disabled').count()).toBe(0);
    await page.evaluate(() => ((window as unknown as { samePage: boolean }).samePage = true));

    await first.close();
    await page.locator('#banner', { hasText: 'Reconnecting to the gateway' }).waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLButtonElement>('button.act')].every((button) => button.disabled));
    expect(await page.locator('button.act').count()).toBeGreaterThanOrEqual(WORKFLOWS.length * 2);
    expect(await page.locator('section.workflow .reason', { hasText: 'Reconnecting' }).count()).toBe(WORKFLOWS.length);
    expect(await page.locator('section.workflow .state.offline').count()).toBe(WORKFLOWS.length);

    second = await startTestGateway({ env: { PORT: port, ER_POLL_INTERVAL_MS: '200' } });
    await page.locator('#banner').waitFor({ state: 'hidden', timeout: 20_000 });
    await page.waitForFunction(() => document.querySelectorAll('button.start:disabled').length === 0);
    // The live lists came back too: a job started now appears by itself.
    const started = await second.post<{ startMatchingJob: { jobId: string } }>(
      'mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }',
    );
    await page.locator(`section[data-workflow="customer-matching"] .job[data-job-id="${started.data!.startMatchingJob.jobId}"]`).waitFor();
    expect(await page.evaluate(() => (window as unknown as { samePage?: boolean }).samePage)).toBe(true);
  } finally {
    await context.close();
    await first.close();
    await second?.close();
  }
});
