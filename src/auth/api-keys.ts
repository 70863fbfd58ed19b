import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { SettingError, readSettingDocument } from '../settings/files';

/** One API key: its name (what the policy and the audit log use), the SHA-256 of the key, and groups the policy may grant to. */
export interface ApiKeyEntry {
  name: string;
  sha256: string;
  groups?: string[];
}

const NAME = /^[\w.@-]{1,128}$/;
const HASH = /^[a-f0-9]{64}$/;

/** At most this much of a value is quoted back: enough to recognise it, never a whole pasted secret. */
const QUOTE = 16;

function quoted(text: string): string {
  return `'${text.length > QUOTE ? `${text.slice(0, QUOTE)}…` : text}'`;
}

/**
 * What is wrong with `value` as a key's name, quoting the part at fault, or
 * undefined when it is 1 to 128 letters, digits and `_.@-`.
 */
export function nameProblem(value: string): string | undefined {
  if (NAME.test(value)) return undefined;
  if (value.length === 0) return 'the name is empty: names are 1 to 128 letters, digits and _.@-';
  if (value.length > 128) return `the name has ${value.length} characters: names have at most 128`;
  const bad = [...value].findIndex((char) => !/[\w.@-]/.test(char));
  return `the name "${value}" has ${quoted(value[bad])} at character ${bad + 1}: names are letters, digits and _.@-`;
}

/**
 * What is wrong with `value` as the SHA-256 of a key, in words that quote the
 * part at fault and say the fix, or undefined when it is 64 lowercase hex
 * digits. What is quoted stops at the first bad character and at 16
 * characters: a value that is no hash may be the key itself, pasted by mistake.
 */
export function hashProblem(value: string): string | undefined {
  if (HASH.test(value)) return undefined;
  const hex = /^[a-fA-F0-9]*/.exec(value)![0];
  const rest = value.slice(hex.length);
  if (hex.length === 64 && rest === '') return 'the hash is in uppercase hex: write it in lowercase';
  if (hex.length === 64) {
    // sha256sum and shasum print "<hex>  -" for their standard input.
    const mark = /^\s+-?\s*$/.test(rest) ? ' (what sha256sum prints after the hash)' : '';
    return `the hash has trailing ${quoted(rest)}${mark}: paste only the 64 hex digits`;
  }
  if (/^sha-?256[:=]/i.test(value))
    return `the hash starts with ${quoted(value.slice(0, value.search(/[:=]/) + 1))}: paste only the 64 hex digits after it`;
  if (rest === '') return `the hash has ${hex.length} hex digits, where a SHA-256 has 64`;
  const hint = value.length >= 32 ? '; if this is the key itself, the gateway takes its SHA-256 instead (npm run api-key prints both)' : '';
  return `the hash has ${quoted(rest[0])} at character ${hex.length + 1}, where only hex digits (0-9, a-f) go${hint}`;
}

function checked(problem: (value: string) => string | undefined) {
  return z.string().superRefine((value, ctx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: 'custom', message });
  });
}

/** An entry of ER_API_KEYS_FILE's `keys`, or of ER_API_KEYS (without groups): the rules `npm run api-key` checks too. */
export const apiKeyEntry = z
  .object({
    name: checked(nameProblem),
    sha256: checked(hashProblem),
    groups: z.array(z.string().min(1)).optional(),
  })
  .strict();
const keyFile = z.object({ keys: z.array(apiKeyEntry).min(1) }).strict();

/** The SHA-256 of a key in lowercase hex: what the gateway stores in its place. */
export function apiKeyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new API key: 32 random bytes in base64url (43 characters that need no quoting in a header, a shell or YAML). */
export function newApiKeySecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The API keys of `ER_API_KEYS_FILE` (YAML or JSON: `keys: [{ name, sha256, groups }]`) and `ER_API_KEYS` (`name:sha256,…`). */
export async function loadApiKeys(file: string | undefined, inline: string | undefined): Promise<ApiKeyEntry[]> {
  const entries: ApiKeyEntry[] = [];
  if (file !== undefined) {
    entries.push(...(await readSettingDocument('ER_API_KEYS_FILE', file, keyFile, 'key file')).keys);
  }
  const items = (inline ?? '').split(',').map((item) => item.trim());
  for (const [i, item] of items.entries()) {
    if (item === '') continue;
    const colon = item.indexOf(':');
    // An entry without a colon may be a key pasted alone: it is not quoted.
    if (colon < 0)
      throw new SettingError(`ER_API_KEYS: entry ${i + 1} has no ':': each entry is name:sha256 (npm run api-key prints one).`);
    const name = item.slice(0, colon);
    const parsed = apiKeyEntry.safeParse({ name, sha256: item.slice(colon + 1) });
    if (!parsed.success)
      throw new SettingError(`ER_API_KEYS: entry ${i + 1}${NAME.test(name) ? ` ("${name}")` : ''}: ${parsed.error.issues[0].message}.`);
    entries.push(parsed.data);
  }
  const names = entries.map((entry) => entry.name);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated) throw new SettingError(`API key name "${repeated}" is given twice: each key needs its own name.`);
  return entries;
}
