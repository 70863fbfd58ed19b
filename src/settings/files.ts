import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

/**
 * A setting, or a file a setting names (a policy, keys, a manifest), that
 * stops start-up; its message names the setting, the file and the entry at
 * fault.
 */
export class SettingError extends Error {}

/** The text of the file a setting names; one that cannot be read is a SettingError naming the setting. */
export async function readSettingFile(setting: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new SettingError(`${setting}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
}

/** A YAML or JSON file a setting names, checked against `schema`; each entry at fault is named by its path in the file. */
export async function readSettingDocument<T>(setting: string, path: string, schema: z.ZodType<T>, what: string): Promise<T> {
  const text = await readSettingFile(setting, path);
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err) {
    throw new SettingError(`${setting}: ${path} is not YAML or JSON: ${(err as Error).message.split('\n', 1)[0]}`);
  }
  const parsed = schema.safeParse(document);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    throw new SettingError(`${setting}: ${path} is not a valid ${what}:\n${problems.join('\n')}`);
  }
  return parsed.data;
}
