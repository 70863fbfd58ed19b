import { stringify } from 'yaml';
import { apiKeyEntry, apiKeyHash, newApiKeySecret, type ApiKeyEntry } from './api-keys';

/**
 * `npm run api-key -- <name> [group…]`: makes a new API key and prints it once,
 * with what the gateway stores in its place: the `ER_API_KEYS` entry
 * (`name:sha256`) and the `ER_API_KEYS_FILE` entry (with the groups). The key
 * is not kept anywhere; a name or group the gateway would refuse exits 2 and
 * prints nothing else.
 */
function main(argv: string[]): number {
  const [name, ...groups] = argv;
  if (name === undefined || name.startsWith('-')) {
    process.stderr.write(
      'usage: npm run api-key -- <name> [group…]\n  name: what the policy (apiKeys) and the audit log call the key\n  groups: groups the policy may grant to (ER_API_KEYS_FILE only)\n',
    );
    return 2;
  }
  const key = newApiKeySecret();
  const parsed = apiKeyEntry.safeParse({ name, sha256: apiKeyHash(key), ...(groups.length > 0 && { groups }) });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) process.stderr.write(`api-key: ${issue.path.join('.')}: ${issue.message}\n`);
    return 2;
  }
  process.stdout.write(report(key, parsed.data));
  return 0;
}

function report(key: string, entry: ApiKeyEntry): string {
  const fileEntry = stringify([entry]).trimEnd().replace(/^/gm, '  ');
  return [
    `The API key "${entry.name}" (shown this once; give it to its client, which sends it as X-API-Key):`,
    `  ${key}`,
    '',
    `For ER_API_KEYS (entries are comma-separated${entry.groups ? '; it takes no groups, the file does' : ''}):`,
    `  ${entry.name}:${entry.sha256}`,
    '',
    'Or for ER_API_KEYS_FILE, under keys:',
    fileEntry,
    '',
  ].join('\n');
}

process.exitCode = main(process.argv.slice(2));
