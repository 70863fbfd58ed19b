/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CONTENT_SECURITY_POLICY } from '../src/server/dashboard';
import { IDE_CONTENT_SECURITY_POLICY } from '../src/server/ide';
import { documentHash } from '../src/server/trusted-documents';
import { newApiKey, writeTempFile } from './utils/auth';
import { codes, startTestGateway, type TestGateway } from './utils/gateway';
import { launchTestBrowser, openRecordedPage, type RecordedPage } from './utils/browser';
import { startGatewayProcess } from './utils/process';

/**
 * The IDE as a person uses it: GraphiQL at /ide/, in headless Chromium driven
 * by playwright-core, against a gateway with its embedded emulator, with every
 * request that is not for the gateway refused (and recorded: none may be
 * tried). `npm test` bundles the IDE first (`npm run ide`), as `npm run build`
 * does.
 */

const OUTPUT = process.env.TEST_OUTPUT_DIR ?? join(__dirname, 'output');

/** The policy the IDE's files are served under, written out: a change to it must change this test too. */
const IDE_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; worker-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

let browser: Browser;

beforeAll(async () => {
  browser = await launchTestBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

/** /ide/ on a context of its own, with requests off the gateway's origin refused and everything recorded. */
async function openIde(t: TestGateway): Promise<RecordedPage> {
  const opened = await openRecordedPage(browser, t.gateway.url);
  await opened.page.goto(`${t.gateway.url}/ide/`);
  await opened.page.locator('.graphiql-query-editor .monaco-editor').waitFor();
  return opened;
}

/** Requests that were not for the gateway (its HTTP origin or its websocket). */
function elsewhere(t: TestGateway, requests: string[]): string[] {
  const origins = [`${t.gateway.url}/`, `${t.gateway.url.replace(/^http/, 'ws')}/`];
  return requests.filter((url) => !origins.some((origin) => url.startsWith(origin)));
}

/** Replaces the text of a Monaco editor as typing it would, without its auto-closed brackets and completions in the way. */
async function write(page: Page, editor: string, text: string): Promise<void> {
  await page.locator(`${editor} .monaco-editor .view-lines`).click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/**
 * The result pane's text as one line: Monaco draws spaces as no-break spaces and wraps long lines at a space, which it keeps
 * at the end of the first part, so dropping each line break with the indentation after it leaves the JSON it shows.
 */
async function resultText(page: Page): Promise<string> {
  return (await page.locator('section.result-window .view-lines').innerText()).replace(/\u00a0/g, ' ').replace(/\n\s*/g, '');
}

/**
 * Runs the operation editor's document and waits for its whole result (containing `until`) in the pane; returns it parsed.
 * Over HTTP it waits for the gateway's answer first (the pane may already show a like result: a failed introspection's);
 * a subscription's result is the first text that differs from what the pane showed before.
 */
async function run(page: Page, until = '', over: 'http' | 'websocket' = 'http'): Promise<Record<string, unknown>> {
  const before = await resultText(page);
  const answered =
    over === 'http'
      ? page.waitForResponse(
          (response) => response.url().endsWith('/graphql') && !response.request().postData()?.includes('IntrospectionQuery'),
        )
      : undefined;
  await page.locator('.graphiql-execute-button').click();
  await answered;
  const text = await page
    .waitForFunction(
      ([previous, wanted, anyText]) => {
        const shown = (document.querySelector<HTMLElement>('section.result-window .view-lines')?.innerText ?? '')
          .replace(/\u00a0/g, ' ')
          .replace(/\n\s*/g, '');
        return (anyText || shown !== previous) && shown.endsWith('}') && shown.includes(wanted) && shown;
      },
      [before, until, over === 'http'] as const,
      { timeout: 15_000 },
    )
    .catch(async (err: Error) => {
      throw new Error(`${err.message}; the result pane shows: ${await resultText(page)}`);
    });
  return JSON.parse((await text.jsonValue()) as string) as Record<string, unknown>;
}

const WORKFLOWS = '{ idMappingWorkflows { nodes { workflowName } } }';

describe('the IDE in Chromium, offline', () => {
  let t: TestGateway;

  beforeAll(async () => {
    // A job runs three seconds, polled every 100 ms: its subscription sends a handful of events.
    t = await startTestGateway({ env: { ER_EMULATOR_JOB_SECONDS: '3', ER_POLL_INTERVAL_MS: '100' } });
  });

  afterAll(async () => {
    await t.close();
  });

  test('a query typed in the editor shows its answer; a job subscription shows its events over the websocket until SUCCEEDED; nothing leaves the gateway', async () => {
    const { context, page, requests, errors } = await openIde(t);
    try {
      expect(await page.locator('#notice').isHidden()).toBe(true);
      await write(page, '.graphiql-query-editor', WORKFLOWS);
      const answer = await run(page);
      const expected = await t.post(WORKFLOWS);
      expect(answer).toEqual({ data: expected.data });

      // The docs come from introspection.
      await page.locator('[aria-label="Show Documentation Explorer"]').click();
      await page.locator('.graphiql-doc-explorer', { hasText: 'Query' }).waitFor();

      const started = await t.post<{ startIdMappingJob: { jobId: string } }>(
        'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }',
      );
      const { jobId } = started.data!.startIdMappingJob;
      // Every distinct result the pane shows, as it draws them.
      await page.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { seen: string[] }).seen = seen;
        const pane = document.querySelector('section.result-window')!;
        new MutationObserver(() => {
          const text = (pane.querySelector<HTMLElement>('.view-lines')?.innerText ?? '').replace(/\u00a0/g, ' ').replace(/\n\s*/g, '');
          if (text.includes('idMappingJobUpdated') && text !== seen.at(-1)) seen.push(text);
        }).observe(pane, { childList: true, subtree: true, characterData: true });
      });
      await write(
        page,
        '.graphiql-query-editor',
        `subscription { idMappingJobUpdated(workflowName: "customer-id-map", jobId: "${jobId}") { jobId status metrics { totalRecordsProcessed } } }`,
      );
      await run(page, '"SUCCEEDED"', 'websocket');
      const seen = (await page.evaluate(() => (window as unknown as { seen: string[] }).seen)).map(
        (text) =>
          (JSON.parse(text) as { data: { idMappingJobUpdated: { jobId: string; status: string; metrics: unknown } } }).data
            .idMappingJobUpdated,
      );
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen.every((event) => event.jobId === jobId)).toBe(true);
      const statuses = seen.map((event) => event.status).filter((status, i, all) => status !== all[i - 1]);
      expect(statuses.at(-1)).toBe('SUCCEEDED');
      expect(statuses.length).toBeGreaterThanOrEqual(2);
      // The last event is the job as the API reads it.
      const final = await t.post<{ idMappingJob: unknown }>(
        `{ idMappingJob(workflowName: "customer-id-map", jobId: "${jobId}") { jobId status metrics { totalRecordsProcessed } } }`,
      );
      expect(seen.at(-1)).toEqual(final.data!.idMappingJob);

      mkdirSync(OUTPUT, { recursive: true });
      await page.screenshot({ path: join(OUTPUT, 'ide.png') });

      expect(requests).toContain(`${t.gateway.url}/ide/graphql.worker.js`);
      expect(requests).toContain(`${t.gateway.url.replace(/^http/, 'ws')}/graphql`);
      expect(elsewhere(t, requests)).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

test('with API keys required, a query without one says UNAUTHENTICATED, and with X-API-Key in the headers editor it runs, subscriptions too', async () => {
  const viewer = newApiKey();
  const t = await startTestGateway({
    env: {
      ER_AUTH: 'apikey',
      ER_API_KEYS: `viewer:${viewer.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [{ to: { apiKeys: ['viewer'] }, workflows: ['*'], actions: ['read', 'subscribe'] }],
      }),
    },
  });
  const { context, page, requests, errors } = await openIde(t);
  try {
    await write(page, '.graphiql-query-editor', WORKFLOWS);
    const refused = await run(page);
    const bare = await t.post(WORKFLOWS);
    expect([bare.status, codes(bare)]).toEqual([401, ['UNAUTHENTICATED']]);
    expect(refused).toEqual({ errors: bare.errors });

    // The page opened its headers editor, as credentials are needed.
    await page.locator('.graphiql-editor-tool[aria-label="Headers"]').waitFor();
    await write(
      page,
      '.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden)',
      JSON.stringify({ 'X-API-Key': viewer.key }),
    );
    await write(page, '.graphiql-query-editor', WORKFLOWS);
    const answer = await run(page, '"data"');
    expect(answer).toEqual({ data: (await t.post(WORKFLOWS, {}, { 'X-API-Key': viewer.key })).data });

    // The same key goes in the websocket's connectionParams: a finished job's subscription answers it and ends.
    const job = await t.post<{ idMappingJobs: { nodes: { jobId: string; status: string }[] } }>(
      '{ idMappingJobs(workflowName: "customer-id-map", first: 1) { nodes { jobId status } } }',
      {},
      { 'X-API-Key': viewer.key },
    );
    const [{ jobId, status }] = job.data!.idMappingJobs.nodes;
    await write(
      page,
      '.graphiql-query-editor',
      `subscription { idMappingJobUpdated(workflowName: "customer-id-map", jobId: "${jobId}") { jobId status } }`,
    );
    const event = await run(page, 'idMappingJobUpdated', 'websocket');
    expect(event).toEqual({ data: { idMappingJobUpdated: { jobId, status } } });
    expect(elsewhere(t, requests)).toEqual([]);
    // The refused query is the one error the page logs (the browser reports the 401); nothing else.
    expect(errors.filter((error) => !/401 \(Unauthorized\)/.test(error))).toEqual([]);
  } finally {
    await context.close();
    await t.close();
  }
});

test('with introspection off the IDE says docs are unavailable and still runs queries; with trusted documents it says only those run', async () => {
  const manifest = writeTempFile('persisted-documents.json', JSON.stringify({ [documentHash(WORKFLOWS)]: WORKFLOWS }));
  const t = await startTestGateway({ env: { ER_INTROSPECTION: 'false', ER_TRUSTED_DOCUMENTS: manifest } });
  const { context, page, requests, errors } = await openIde(t);
  try {
    const notice = await page.locator('#notice').innerText();
    expect(notice).toMatch(/Introspection is off .*ER_INTROSPECTION=false.*docs and completion are unavailable; queries still run/);
    expect(notice).toMatch(/Trusted documents are on .*only the operations of the manifest run/);
    await write(page, '.graphiql-query-editor', WORKFLOWS);
    expect(await run(page)).toEqual({ data: (await t.post(WORKFLOWS)).data });
    // No introspection was asked for: the page knows it would be refused.
    expect(requests.filter((url) => url === `${t.gateway.url}/graphql`)).toHaveLength(1);
    expect(elsewhere(t, requests)).toEqual([]);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
    await t.close();
  }
});

describe('serving the IDE', () => {
  const browserGet = (url: string) =>
    fetch(url, { redirect: 'manual', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });

  test('/ide/ and its files are served under the IDE policy, the page loads only its own files, and /ide leads there', async () => {
    const t = await startTestGateway({
      env: {
        ER_AUTH: 'apikey',
        ER_API_KEYS: `viewer:${newApiKey().sha256}`,
        ER_POLICY_FILE: writeTempFile('policy.yaml', { grants: [] } as never),
      },
    });
    try {
      expect(IDE_CONTENT_SECURITY_POLICY).toBe(IDE_POLICY);
      const page = await fetch(`${t.gateway.url}/ide/`);
      expect([
        page.status,
        page.headers.get('content-type'),
        page.headers.get('content-security-policy'),
        page.headers.get('x-content-type-options'),
      ]).toEqual([200, 'text/html; charset=utf-8', IDE_POLICY, 'nosniff']);
      const html = await page.text();
      expect([...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1])).toEqual([
        '/favicon.svg',
        '/ide/main.css',
        '/ide/main.js',
      ]);
      // What the page is told of this gateway, before any credentials.
      expect(html).toContain('<html lang="en" data-introspection="true" data-trusted-documents="false" data-auth="apikey">');
      for (const [file, type] of [
        ['main.js', 'text/javascript; charset=utf-8'],
        ['main.css', 'text/css; charset=utf-8'],
        ['editor.worker.js', 'text/javascript; charset=utf-8'],
        ['json.worker.js', 'text/javascript; charset=utf-8'],
        ['graphql.worker.js', 'text/javascript; charset=utf-8'],
        ['codicon.ttf', 'font/ttf'],
      ]) {
        const response = await fetch(`${t.gateway.url}/ide/${file}`);
        expect([file, response.status, response.headers.get('content-type'), response.headers.get('content-security-policy')]).toEqual([
          file,
          200,
          type,
          IDE_POLICY,
        ]);
      }
      const bare = await fetch(`${t.gateway.url}/ide`, { redirect: 'manual' });
      expect([bare.status, bare.headers.get('location')]).toEqual([301, '/ide/']);
      expect((await fetch(`${t.gateway.url}/ide/`, { method: 'POST' })).status).toBe(405);
      const icon = await fetch(`${t.gateway.url}/favicon.svg`);
      expect([icon.status, icon.headers.get('content-type'), icon.headers.get('content-security-policy')]).toEqual([
        200,
        'image/svg+xml',
        CONTENT_SECURITY_POLICY,
      ]);
      expect(await icon.text()).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    } finally {
      await t.close();
    }
  });

  test("a browser at GET /graphql: ER_IDE=graphiql sends it to /ide/ (in production the plain page links it), sandbox is Apollo's, off the plain page and no /ide/", async () => {
    const ide = await startTestGateway({ env: { ER_IDE: 'graphiql' } });
    try {
      const response = await browserGet(`${ide.gateway.url}/graphql`);
      expect([response.status, response.headers.get('location')]).toEqual([302, '/ide/']);
      // A GraphQL client's GET is still GraphQL's.
      const query = await fetch(`${ide.gateway.url}/graphql?query=%7B__typename%7D`, {
        headers: { accept: 'application/json', 'content-type': 'application/json' },
      });
      expect(await query.json()).toEqual({ data: { __typename: 'Query' } });
    } finally {
      await ide.close();
    }

    const production = await startTestGateway({
      env: { NODE_ENV: 'production', ER_BACKEND: 'emulator', ER_AUTH: 'none', ER_IDE: 'graphiql' },
    });
    try {
      const response = await browserGet(`${production.gateway.url}/graphql`);
      expect([response.status, response.headers.get('content-security-policy')]).toEqual([200, CONTENT_SECURITY_POLICY]);
      expect([...(await response.text()).matchAll(/<a href="([^"]+)"/g)].map((match) => match[1])).toEqual(['/dashboard/', '/ide/']);
      const page = await fetch(`${production.gateway.url}/ide/`);
      expect([page.status, page.headers.get('content-security-policy')]).toEqual([200, IDE_POLICY]);
      expect(await page.text()).toContain('data-introspection="false"');
    } finally {
      await production.close();
    }

    const sandbox = await startTestGateway({ env: { ER_IDE: 'sandbox' } });
    try {
      const response = await browserGet(`${sandbox.gateway.url}/graphql`);
      expect([response.status, response.headers.get('content-security-policy')]).toEqual([200, null]);
      expect(await response.text()).toContain('https://embeddable-sandbox.cdn.apollographql.com/');
      const page = await fetch(`${sandbox.gateway.url}/ide/`);
      expect([page.status, codes((await page.json()) as never)]).toEqual([404, ['NOT_FOUND']]);
    } finally {
      await sandbox.close();
    }

    const off = await startTestGateway({ env: { ER_IDE: 'off' } });
    try {
      const response = await browserGet(`${off.gateway.url}/graphql`);
      expect([response.status, response.headers.get('content-security-policy')]).toEqual([200, CONTENT_SECURITY_POLICY]);
      const html = await response.text();
      expect(html).toContain('This is the GraphQL endpoint of er-gateway');
      expect([...html.matchAll(/<a href="([^"]+)"/g)].map((match) => match[1])).toEqual(['/dashboard/']);
      for (const path of ['/ide/', '/ide/main.js', '/ide']) {
        const refused = await fetch(`${off.gateway.url}${path}`, { redirect: 'manual' });
        expect([path, refused.status, codes((await refused.json()) as never)]).toEqual([path, 404, ['NOT_FOUND']]);
      }
    } finally {
      await off.close();
    }
  });

  test('the ready line still parses as before and names the dashboard and the IDE, in its text and as fields', async () => {
    const gateway = await startGatewayProcess({ LOG_LEVEL: 'info' });
    try {
      const ready = gateway.lines.find((line) => String(line.msg).startsWith('er-gateway ready at'))!;
      expect(ready).toMatchObject({ dashboard: `${gateway.url}/dashboard/`, ide: `${gateway.url}/ide/` });
      expect(ready.msg).toBe(
        `er-gateway ready at ${gateway.url}/graphql (metrics at ${gateway.metricsUrl}/metrics); dashboard at ${gateway.url}/dashboard/, IDE at ${gateway.url}/ide/`,
      );
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
    }
  });
});
