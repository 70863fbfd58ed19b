import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { emulatorSettings } from '../src/emulator/settings';
import { configurationPage, renderConfigurationReference, settingRows } from '../src/server/config-reference';
import { settingsSchema } from '../src/server/config';

/**
 * Every setting is written once, in its zod schema: the configuration
 * reference is generated from the schemas, and the docs may name no setting
 * the schemas do not read.
 */

const root = resolve(__dirname, '..');
const settings = new Set([...Object.keys(settingsSchema.shape), ...Object.keys(emulatorSettings.shape)]);

/** ER_ names the docs may use that no schema reads, each with why. */
const notSettings: Record<string, string> = {
  // The test suite's choice of browser (test/utils/browser.ts), for contributors: not the gateway's or the emulator's.
  ER_TEST_BROWSER: 'read by the page tests only',
};

/** README.md and every page under docs/, as paths from the root. */
function docPages(): string[] {
  const pages = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) pages.push(relative(root, path));
    }
  };
  if (existsSync(join(root, 'docs'))) walk(join(root, 'docs'));
  return pages.sort();
}

/** The ER_ names `text` mentions that are no setting; a name ending in `_` (as in `ER_JWT_*`) must begin one. */
function unknownSettings(text: string): string[] {
  const named = new Set((text.match(/\bER_[A-Z0-9_]+\b/g) ?? []).filter((name) => !(name in notSettings)));
  return [...named].filter((name) =>
    name.endsWith('_') ? ![...settings].some((setting) => setting.startsWith(name)) : !settings.has(name),
  );
}

test('docs/operators/configuration.md is the page the schemas make', () => {
  const file = join(root, configurationPage);
  const onDisk = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (onDisk !== renderConfigurationReference()) throw new Error(`${configurationPage} is stale: run npm run config-reference`);
});

test('every variable the gateway and the emulator read has a row on the page', () => {
  const page = renderConfigurationReference();
  const rows = new Set([...page.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((match) => match[1]));
  expect([...settings].filter((name) => !rows.has(name))).toEqual([]);
  // The page names nothing else either.
  expect([...rows].filter((name) => !settings.has(name))).toEqual([]);
});

test('a setting without a description or a readable type cannot be rendered', () => {
  expect(() => settingRows(z.object({ ER_UNDESCRIBED: z.string() }))).toThrow('ER_UNDESCRIBED: no description');
  expect(() => settingRows(z.object({ ER_OPAQUE: z.union([z.string(), z.number()]).meta({ description: 'x' }) }))).toThrow(
    'ER_OPAQUE: its type',
  );
});

test('README.md and docs/**/*.md name only settings that exist', () => {
  // The check itself: a made-up name is caught, a prefix of real ones is not.
  expect(unknownSettings('set ER_NOT_A_SETTING=1, or any of ER_JWT_*')).toEqual(['ER_NOT_A_SETTING']);
  const pages = docPages();
  expect(pages).toContain(configurationPage);
  const unknown = pages.flatMap((page) => unknownSettings(readFileSync(join(root, page), 'utf8')).map((name) => `${page}: ${name}`));
  expect(unknown).toEqual([]);
});
