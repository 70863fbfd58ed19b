/** Hosts a browser may reach the gateway by when ER_ALLOWED_HOSTS is unset: this machine only. */
const LOOPBACK = ['localhost', '127.0.0.1', '::1'];
const MAX_SEEN_HOSTS = 256;

export interface OriginRules {
  /** Origins whose pages may call the gateway beside its own; `*` any. Unset: pages on localhost. */
  allowedOrigins?: readonly string[];
  /** Host names the gateway answers to (port left out); `*` any. */
  allowedHosts: readonly string[];
}

/**
 * Which browsers' requests the gateway serves, on HTTP and on websocket
 * upgrades alike. The Host check stops DNS rebinding (a page whose own name
 * resolves to this gateway); the Origin check stops another site's page from
 * using a visitor's browser (and its network position, or its credentials)
 * to call the gateway. A request without Origin is not a browser's
 * cross-origin request and passes the Origin check.
 */
export class OriginGuard {
  private readonly hosts: ReadonlySet<string>;
  private readonly anyHost: boolean;
  private readonly origins?: ReadonlySet<string>;
  private readonly anyOrigin: boolean;
  /** Host headers seen, and whether each is allowed: clients use a few names, and parsing one on every request shows. */
  private readonly seenHosts = new Map<string, boolean>();

  constructor(rules: OriginRules) {
    this.anyHost = rules.allowedHosts.includes('*');
    this.hosts = new Set(rules.allowedHosts.map((host) => host.toLowerCase().replace(/^\[(.*)\]$/, '$1')));
    this.anyOrigin = rules.allowedOrigins?.includes('*') ?? false;
    this.origins = rules.allowedOrigins && new Set(rules.allowedOrigins.map((origin) => origin.toLowerCase()));
  }

  /** The default Host allow-list: loopback names, and the address the gateway listens on when it is a specific one. */
  static defaultHosts(listenHost: string): string[] {
    const specific = !['0.0.0.0', '::', ''].includes(listenHost);
    return specific && !LOOPBACK.includes(listenHost) ? [...LOOPBACK, listenHost] : LOOPBACK;
  }

  /** Why a request with these headers is refused, or undefined when it is served. */
  refusal(host: string | undefined, origin: string | undefined): string | undefined {
    if (!this.hostAllowed(host)) return `This gateway does not answer to the host name ${JSON.stringify(host ?? '')}.`;
    if (!this.originAllowed(origin, host!)) return `Pages from ${origin} may not call this gateway.`;
    return undefined;
  }

  /** Whether a page of `origin` may call the gateway, reached as `host`: same-origin, listed, or (unlisted) on localhost. */
  originAllowed(origin: string | undefined, host: string): boolean {
    if (origin === undefined) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.host === host.toLowerCase() || this.anyOrigin) return true;
    if (this.origins) return this.origins.has(url.origin);
    return LOOPBACK.includes(url.hostname.replace(/^\[(.*)\]$/, '$1'));
  }

  private hostAllowed(host: string | undefined): boolean {
    if (this.anyHost) return true;
    if (!host) return false;
    let allowed = this.seenHosts.get(host);
    if (allowed === undefined) {
      allowed = this.parseHost(host);
      // Bounded: a client sending endless made-up names only stops being remembered.
      if (this.seenHosts.size < MAX_SEEN_HOSTS) this.seenHosts.set(host, allowed);
    }
    return allowed;
  }

  private parseHost(host: string): boolean {
    let hostname: string;
    try {
      hostname = new URL(`http://${host}`).hostname;
    } catch {
      return false;
    }
    return this.hosts.has(hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1'));
  }
}
