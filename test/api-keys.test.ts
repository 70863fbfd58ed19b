import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { getHeapSnapshot } from 'node:v8';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { SettingError } from '../src/settings/files';
import { newApiKey, writeTempFile } from './utils/auth';
import { startTestGateway } from './utils/gateway';

/**
 * The first hour with API keys: `npm run api-key` (src/auth/make-key.ts, run
 * here as its own process) prints a key and the lines to paste, and those
 * lines, pasted as printed, let that key in; a hash pasted wrong stops
 * start-up with an error that quotes the part at fault and says the fix.
 */

const run = promisify(execFile);

/** Runs make-key as `npm run api-key -- …args` does, from source; resolves with its exit code and output. */
async function makeKey(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/auth/make-key.ts', ...args], {
      cwd: resolve(__dirname, '..'),
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** The three things make-key prints: the key, the ER_API_KEYS entry and the ER_API_KEYS_FILE entry (indented as printed). */
function printed(stdout: string): { key: string; inline: string; fileEntry: string } {
  const [keyPart, inlinePart, filePart] = stdout.trimEnd().split('\n\n');
  return {
    key: keyPart.split('\n')[1].trim(),
    inline: inlinePart.split('\n')[1].trim(),
    fileEntry: filePart.split('\n').slice(1).join('\n'),
  };
}

const READ_ID_MAP = '{ idMappingWorkflows { nodes { workflowName } } }';

/** POSTs `{ __typename }` with `key` as X-API-Key, written as bytes (no string of the key in this process); the answer's status. */
async function postWithKey(url: string, key: Buffer): Promise<number> {
  const { hostname, port } = new URL(url);
  const body = JSON.stringify({ query: '{ __typename }' });
  const socket = connect(Number(port), hostname);
  const head = `POST /graphql HTTP/1.1\r\nhost: ${hostname}:${port}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${body.length}\r\nx-api-key: `;
  socket.end(Buffer.concat([Buffer.from(head), key, Buffer.from(`\r\n\r\n${body}`)]));
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Number(/^HTTP\/1\.1 (\d+)/.exec(Buffer.concat(chunks).toString('latin1'))![1]);
}

async function heapSnapshot(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test("an API key that let requests in is kept nowhere on the gateway's heap, only its hash", async () => {
  // Made and sent as bytes: the test holds no string of it either, so the heap shows only what the gateway kept.
  const key = Buffer.from(randomBytes(32).toString('base64url'));
  const sha256 = createHash('sha256').update(key).digest('hex');
  const policy = writeTempFile('policy.yaml', { grants: [{ to: { apiKeys: ['ci'] }, workflows: ['*'], actions: ['read'] }] });
  const t = await startTestGateway({ env: { ER_AUTH: 'apikey', ER_API_KEYS: `ci:${sha256}`, ER_POLICY_FILE: policy } });
  for (let i = 0; i < 3; i++) expect(await postWithKey(t.gateway.url, key)).toBe(200);
  const heap = await heapSnapshot();
  expect(heap.includes(sha256)).toBe(true);
  expect(heap.includes(key)).toBe(false);
  await t.close();
  // A heap snapshot of the whole test process takes half a minute on a shared machine.
}, 120_000);
const READ_MATCHING = '{ matchingWorkflows { nodes { workflowName } } }';

test('npm run api-key prints a new key once, with the ER_API_KEYS entry and the ER_API_KEYS_FILE entry that let it in, groups and all', async () => {
  const [ci, ops] = await Promise.all([makeKey('ci'), makeKey('ops-console', 'operators')]);
  expect([ci.code, ci.stderr, ops.code, ops.stderr]).toEqual([0, '', 0, '']);
  const inline = printed(ci.stdout);
  const file = printed(ops.stdout);
  expect(inline.key).toMatch(/^[\w-]{43}$/);
  expect(inline.inline).toMatch(/^ci:[a-f0-9]{64}$/);
  expect(file.fileEntry).toMatch(/^ {2}- name: ops-console\n {4}sha256: [a-f0-9]{64}\n {4}groups:\n {6}- operators$/);
  expect(new Set([inline.key, file.key]).size).toBe(2);

  const t = await startTestGateway({
    env: {
      ER_AUTH: 'apikey',
      ER_API_KEYS: inline.inline,
      ER_API_KEYS_FILE: writeTempFile('keys.yaml', `keys:\n${file.fileEntry}\n`),
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [
          { to: { apiKeys: ['ci'] }, workflows: ['*-matching'], actions: ['read'] },
          { to: { groups: ['operators'] }, workflows: ['*-id-map'], actions: ['read'] },
        ],
      }),
    },
  });
  try {
    const names = (response: { data?: Record<string, { nodes: { workflowName: string }[] }> | null }) =>
      Object.values(response.data ?? {})[0]?.nodes.map((node) => node.workflowName);
    expect(names(await t.post(READ_MATCHING, undefined, { 'x-api-key': inline.key }))).toEqual([
      'address-matching',
      'customer-matching',
      'household-matching',
    ]);
    expect(names(await t.post(READ_ID_MAP, undefined, { 'x-api-key': inline.key }))).toEqual([]);
    // The file's entry brings its group: the policy grants the ID-mapping workflows to it.
    expect(names(await t.post(READ_ID_MAP, undefined, { 'x-api-key': file.key }))).toEqual(['customer-id-map', 'loyalty-id-map']);
    expect((await t.post(READ_ID_MAP)).status).toBe(401);
  } finally {
    await t.close();
  }
});

test("the docs' example of npm run api-key is what it prints, but for the key and its hash", async () => {
  const readme = readFileSync(resolve(__dirname, '../docs/operators/securing.md'), 'utf8');
  const shown = /```text\n {2}\$ npm run -s api-key -- ci operators\n([\s\S]*?) {2}```/.exec(readme)![1].replace(/^ {2}/gm, '');
  const { code, stdout } = await makeKey('ci', 'operators');
  expect(code).toBe(0);
  const escaped = shown.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = escaped.replace('<key: 43 characters>', '[\\w-]{43}').replaceAll('<sha256: 64 hex digits>', '[a-f0-9]{64}');
  expect(stdout).toMatch(new RegExp(`^${pattern}$`));
});

test('npm run api-key refuses a name the gateway would refuse, and one missing, with nothing on stdout', async () => {
  const bad = await makeKey('my key');
  expect([bad.code, bad.stdout, bad.stderr]).toEqual([
    2,
    '',
    `api-key: name: the name "my key" has ' ' at character 3: names are letters, digits and _.@-\n`,
  ]);
  const none = await makeKey();
  expect([none.code, none.stdout]).toEqual([2, '']);
  expect(none.stderr).toMatch(/^usage: npm run api-key -- <name> \[group…\]/);
});

describe('a hash pasted wrong stops start-up, quoting what is wrong and saying the fix', () => {
  const { key, sha256 } = newApiKey();
  const policy = writeTempFile('policy.yaml', { grants: [] } as never);
  /** A gateway with API keys required and these key settings. */
  const startWithKeys = (keys: Record<string, string>) => startTestGateway({ env: { ER_AUTH: 'apikey', ER_POLICY_FILE: policy, ...keys } });

  test.each([
    [
      'what `sha256sum` prints',
      `${sha256}  -`,
      `ER_API_KEYS: entry 1 ("ci"): the hash has trailing '  -' (what sha256sum prints after the hash): paste only the 64 hex digits.`,
    ],
    ['uppercase hex', sha256.toUpperCase(), 'ER_API_KEYS: entry 1 ("ci"): the hash is in uppercase hex: write it in lowercase.'],
    [
      'a sha256: prefix',
      `sha256:${sha256}`,
      `ER_API_KEYS: entry 1 ("ci"): the hash starts with 'sha256:': paste only the 64 hex digits after it.`,
    ],
    ['a hash cut short', sha256.slice(0, 40), 'ER_API_KEYS: entry 1 ("ci"): the hash has 40 hex digits, where a SHA-256 has 64.'],
  ])('in ER_API_KEYS: %s', async (_, hash, message) => {
    const started = startWithKeys({ ER_API_KEYS: `ci:${hash}` });
    await expect(started).rejects.toBeInstanceOf(SettingError);
    await expect(started).rejects.toThrow(message);
  });

  test('the key itself where its hash goes: the error says so, and quotes one character of it, not the key', async () => {
    const pasted = `zz${key}`;
    const started = startWithKeys({ ER_API_KEYS: `ci:${pasted}` });
    const message = await started.then(
      () => '',
      (err: Error) => err.message,
    );
    expect(message).toBe(
      `ER_API_KEYS: entry 1 ("ci"): the hash has 'z' at character 1, where only hex digits (0-9, a-f) go; if this is the key itself, the gateway takes its SHA-256 instead (npm run api-key prints both).`,
    );
    expect(message).not.toContain(key.slice(0, 8));
  });

  test('an entry without a name is named by its place, and not quoted', async () => {
    await expect(startWithKeys({ ER_API_KEYS: `ci:${sha256},${key}` })).rejects.toThrow(
      /^ER_API_KEYS: entry 2 has no ':': each entry is name:sha256 \(npm run api-key prints one\)\.$/,
    );
  });

  test('in ER_API_KEYS_FILE: the entry is named by its path in the file', async () => {
    const file = writeTempFile('keys.yaml', `keys:\n  - name: ci\n    sha256: "${sha256}  -"\n`);
    await expect(startWithKeys({ ER_API_KEYS_FILE: file })).rejects.toThrow(
      `ER_API_KEYS_FILE: ${file} is not a valid key file:\n  keys.0.sha256: the hash has trailing '  -' (what sha256sum prints after the hash): paste only the 64 hex digits`,
    );
  });
});
