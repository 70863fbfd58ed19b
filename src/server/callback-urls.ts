import picomatch from 'picomatch';

/**
 * Which callback URLs the gateway may POST to (ER_CALLBACK_URL_ALLOW). A
 * callback URL comes from the request, so without this list any client
 * could make the gateway call any address it can reach (SSRF): with none
 * listed, callback mode is off.
 *
 * An entry is an origin (`https://router.internal:4000`: any path on it) or
 * a glob over the URL's origin and path (`https://*.routers.internal/callback/**`,
 * picomatch: `*` stops at `/`). A URL is compared as the WHATWG URL parser
 * reads it, origin then path, so user info, a query or a fragment cannot
 * make it pass for another host; only http and https are ever allowed.
 */
export class CallbackUrls {
  private readonly origins: ReadonlySet<string>;
  private readonly patterns?: (url: string) => boolean;

  /** @param allowed origins and globs; empty: callback mode is refused. */
  constructor(readonly allowed: readonly string[]) {
    const origins = allowed.filter(isOrigin);
    const patterns = allowed.filter((entry) => !isOrigin(entry));
    this.origins = new Set(origins.map((origin) => new URL(origin).origin));
    this.patterns = patterns.length > 0 ? picomatch(patterns, { nocase: true }) : undefined;
  }

  /** Whether callback mode is on at all. */
  get enabled(): boolean {
    return this.allowed.length > 0;
  }

  /** The URL to call, as parsed, or undefined when it is not one the list allows. */
  check(callbackUrl: string): URL | undefined {
    let url: URL;
    try {
      url = new URL(callbackUrl);
    } catch {
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (url.username !== '' || url.password !== '') return undefined;
    if (this.origins.has(url.origin)) return url;
    return this.patterns?.(url.origin + url.pathname) ? url : undefined;
  }
}

/** `scheme://host[:port]` and nothing more. */
export function isOrigin(entry: string): boolean {
  return URL.canParse(entry) && new URL(entry).origin === entry.replace(/\/$/, '').toLowerCase();
}
