import { CallbackUrls } from '../src/server/callback-urls';
import { loadConfig } from '../src/server/config';

/** ER_CALLBACK_URL_ALLOW as the gateway reads it: which callback URLs each kind of entry lets through. */

const allows = (entries: string[], url: string) => new CallbackUrls(entries).check(url) !== undefined;

test('an entry without a path allows any path on its origin; the default port is the same as none, in the entry as in the URL', () => {
  for (const entry of ['https://router.internal:443', 'https://router.internal', 'https://ROUTER.internal/']) {
    expect({ entry, ok: allows([entry], 'https://router.internal/callback/1') }).toEqual({ entry, ok: true });
    expect({ entry, ok: allows([entry], 'https://router.internal:443/callback/1') }).toEqual({ entry, ok: true });
    expect({ entry, ok: allows([entry], 'https://router.internal:4000/callback/1') }).toEqual({ entry, ok: false });
  }
  expect(allows(['http://router.internal:80/callback/**'], 'http://router.internal/callback/1')).toBe(true);
  expect(allows(['http://*.routers.internal:80/callback/**'], 'http://a.routers.internal/callback/1')).toBe(true);
});

test('the host is matched in any case, the path as written', () => {
  expect(allows(['https://router.internal/cb/**'], 'https://ROUTER.Internal/cb/1')).toBe(true);
  expect(allows(['https://router.internal/cb/**'], 'https://router.internal/CB/1')).toBe(false);
  expect(allows(['https://*.routers.internal/cb/**'], 'https://A.routers.internal/CB/1')).toBe(false);
});

test("a host's * is one label, ** several: * lets no deeper subdomain through", () => {
  const entries = ['https://*.routers.internal/callback/**'];
  expect(allows(entries, 'https://a.routers.internal/callback/1')).toBe(true);
  expect(allows(entries, 'https://a.b.routers.internal/callback/1')).toBe(false);
  expect(allows(entries, 'https://evil.example/.routers.internal/callback/1')).toBe(false);
  expect(allows(['https://**.routers.internal/callback/**'], 'https://a.b.routers.internal/callback/1')).toBe(true);
  expect(allows(['http://127.0.0.1:*/callback/**'], 'http://127.0.0.1:4100/callback/1')).toBe(true);
});

test('an entry with user info or no host stops start-up naming the setting', () => {
  for (const entry of ['https://user@router.internal', 'https:///callback']) {
    expect(() => loadConfig({ ER_CALLBACK_URL_ALLOW: entry })).toThrow(/ER_CALLBACK_URL_ALLOW/);
  }
  expect(loadConfig({ ER_CALLBACK_URL_ALLOW: 'https://router.internal:443' }).callbackUrlAllow).toEqual(['https://router.internal:443']);
});
