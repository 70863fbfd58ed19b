import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type LaunchOptions, type Page } from 'playwright-core';

/**
 * Browsers a machine may already have, in the order they are tried: Debian's
 * Chromium (what CI has when apt ran), then the usual installs on macOS.
 */
const LOCAL_BROWSERS = [
  '/usr/bin/chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
];

/** Where the binary inside `@sparticuz/chromium` is unpacked, once per version, and kept for the next runs. */
function bundledHome(): { packageEntry: string; dir: string } {
  const packageEntry = require.resolve('@sparticuz/chromium');
  // The package's exports hide its package.json; it sits two folders above the CommonJS entry (build/cjs/index.cjs).
  const { version } = JSON.parse(readFileSync(join(dirname(packageEntry), '..', '..', 'package.json'), 'utf8')) as { version: string };
  return { packageEntry, dir: join(tmpdir(), `er-gateway-chromium-${version}`) };
}

/**
 * The `@sparticuz/chromium` binary, unpacked on first use. The package unpacks
 * into its TMPDIR and takes any file already there as complete, so it runs in a
 * child with a TMPDIR of its own and the finished folder is renamed into place:
 * test files starting at once (or two checkouts) never launch a half-written
 * binary.
 */
async function bundledChromium(): Promise<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `@sparticuz/chromium runs on Linux x64 only (this is ${process.platform} ${process.arch}): install Chrome or Chromium and set ER_TEST_BROWSER to its executable`,
    );
  }
  const { packageEntry, dir } = bundledHome();
  const binary = join(dir, 'chromium');
  if (existsSync(binary)) return binary;
  const staging = mkdtempSync(join(tmpdir(), 'er-gateway-chromium-unpacking-'));
  try {
    const script = `require(${JSON.stringify(packageEntry)}).executablePath().then((path) => process.stdout.write(path))`;
    await promisify(execFile)(process.execPath, ['-e', script], { env: { ...process.env, TMPDIR: staging } });
    renameSync(staging, dir);
  } catch (err) {
    // Another process may have finished first: its copy is as good as ours.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(binary)) throw err;
  }
  return binary;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The executable the page tests drive, chosen by `ER_TEST_BROWSER`:
 * - unset or `auto`: the first of Debian's `/usr/bin/chromium`, macOS's
 *   Google Chrome or Chromium app that is installed, else `bundled`;
 * - `bundled`: the Chromium that `npm ci` brings (`@sparticuz/chromium`, Linux
 *   x64 only), unpacked on first use into `$TMPDIR/er-gateway-chromium-<version>`
 *   (about 200 MB, a few seconds) and reused after; this is how to run the
 *   tests as on a machine without a browser, though one is installed;
 * - `system`: `/usr/bin/chromium`, and an error if it is missing;
 * - anything else: the path of a Chrome or Chromium executable.
 *
 * @default auto
 */
export async function testBrowserExecutable(choice = process.env.ER_TEST_BROWSER ?? 'auto'): Promise<string> {
  switch (choice) {
    case 'auto':
    case '':
      return LOCAL_BROWSERS.find(isExecutable) ?? bundledChromium();
    case 'bundled':
      return bundledChromium();
    case 'system':
      if (!isExecutable(LOCAL_BROWSERS[0]))
        throw new Error(
          "ER_TEST_BROWSER=system, but /usr/bin/chromium is missing: install Debian's chromium, or leave ER_TEST_BROWSER unset to use the bundled one",
        );
      return LOCAL_BROWSERS[0];
    default:
      if (!isExecutable(choice))
        throw new Error(
          `ER_TEST_BROWSER=${choice}: no executable there; give the path of a Chrome or Chromium binary, or auto, bundled or system`,
        );
      return choice;
  }
}

/**
 * A headless Chromium for a page test (see {@link testBrowserExecutable} for
 * which one), where nothing but loopback resolves: a request meant for the
 * internet fails here rather than leaving the machine. `args` are added to
 * that. The caller closes it (`browser.close()`), in its `afterAll`.
 *
 * @default args []
 */
export async function launchTestBrowser(
  options: { args?: string[] } & Omit<LaunchOptions, 'executablePath' | 'args'> = {},
): Promise<Browser> {
  const { args = [], ...rest } = options;
  return chromium.launch({
    ...rest,
    executablePath: await testBrowserExecutable(),
    args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1', ...args],
  });
}

/** A page on a context of its own, and what it did: every request (websockets included) and every error it logged. */
export interface RecordedPage {
  context: BrowserContext;
  page: Page;
  requests: string[];
  errors: string[];
}

/**
 * Opens a page that may reach `origin` only: any other request is refused
 * (and recorded, so a test asserts none was tried), and console errors,
 * page errors and Content-Security-Policy violations are recorded as errors.
 */
export async function openRecordedPage(browser: Browser, origin: string): Promise<RecordedPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const requests: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    requests.push(url);
    return url.startsWith(`${origin}/`) ? route.continue() : route.abort();
  });
  await context.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (event) =>
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`),
    ),
  );
  const page = await context.newPage();
  page.on('websocket', (socket) => requests.push(socket.url()));
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
  page.on('pageerror', (err) => errors.push(err.message));
  return { context, page, requests, errors };
}
