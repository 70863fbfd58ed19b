import picomatch from 'picomatch';

/** One entry of the list: its scheme, and tests of a URL's host (with its port, if not the scheme's default) and path. */
interface Entry {
  protocol: string;
  host: (host: string) => boolean;
  path: (path: string) => boolean;
}

/** Characters that make an entry's host a glob rather than a host name. */
const GLOB = /[*?{}()!+]/;

/**
 * Which callback URLs the gateway may POST to (ER_CALLBACK_URL_ALLOW). A
 * callback URL comes from the request, so without this list any client
 * could make the gateway call any address it can reach (SSRF): with none
 * listed, callback mode is off.
 *
 * An entry is `scheme://host[:port][/path]`, where host and path may be
 * globs (picomatch); without a path (or with `/` alone) it allows any path.
 * The host is matched without regard to case, a label at a time (`*` is one
 * label: `*.routers.internal` does not allow `a.b.routers.internal`; `**`
 * allows several); the scheme's default port is the same as none; the path
 * is matched as written, case included, `*` stopping at `/`. A URL is
 * compared as the WHATWG URL parser reads it, so user info, a query or a
 * fragment cannot make it pass for another host; only http and https are
 * ever allowed.
 *
 * The list is matched on the URL, never on the address its host resolves to:
 * a name the operator lists is trusted to keep pointing at a router (DNS
 * rebinding and internal names are the operator's to rule out).
 */
export class CallbackUrls {
  private readonly entries: readonly Entry[];

  /** @param allowed the entries; empty: callback mode is refused. */
  constructor(readonly allowed: readonly string[]) {
    this.entries = allowed.map(entryOf);
  }

  /** Whether `entry` can be an entry of the list (config.ts checks each before the list is made). */
  static readable(entry: string): boolean {
    try {
      entryOf(entry);
      return true;
    } catch {
      return false;
    }
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
    const host = labels(url.host);
    return this.entries.some((entry) => entry.protocol === url.protocol && entry.host(host) && entry.path(url.pathname)) ? url : undefined;
  }
}

function entryOf(entry: string): Entry {
  const [, scheme, rest] = /^(https?):\/\/(.*)$/i.exec(entry) ?? [];
  if (scheme === undefined) throw new Error(`ER_CALLBACK_URL_ALLOW: ${entry} is not an http(s) URL or glob`);
  const protocol = `${scheme.toLowerCase()}:`;
  const slash = rest.indexOf('/');
  const hostPart = slash < 0 ? rest : rest.slice(0, slash);
  if (hostPart === '' || hostPart.includes('@')) throw new Error(`ER_CALLBACK_URL_ALLOW: ${entry} names no host, or user info`);
  const pathPart = slash < 0 ? '' : rest.slice(slash);
  const host = GLOB.test(hostPart)
    ? // As the URL parser has it: lower case, and the scheme's default port left out.
      picomatch(labels(hostPart.toLowerCase().replace(protocol === 'https:' ? /:443$/ : /:80$/, '')))
    : exactly(labels(new URL(`${protocol}//${hostPart}`).host));
  const path = pathPart === '' || pathPart === '/' ? () => true : picomatch(pathPart);
  return { protocol, host, path };
}

/** A host with its labels as picomatch's segments, so that `*` stands for one label. */
function labels(host: string): string {
  return host.replaceAll('.', '/');
}

function exactly(expected: string): (value: string) => boolean {
  return (value) => value === expected;
}
