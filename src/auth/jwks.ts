import {
  createLocalJWKSet,
  errors as joseErrors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type KeyLike,
} from 'jose';
import type { Logger } from 'pino';

/** The signing keys could not be had: the fetch timed out, failed, or brought something that is not a key set. */
export class KeySetUnavailable extends Error {}

export interface RemoteKeySetOptions {
  url: string;
  /** How long one fetch may take in all, headers and body: past it the fetch is abandoned. @default 5000 */
  timeoutMs?: number;
  /** How long a fetched key set is used before it is fetched again. @default 600000 */
  maxAgeMs?: number;
  /** After a fetch, how long a token naming an unknown key waits before it may cause another. @default 30000 */
  cooldownMs?: number;
  /** Past its max age, how long the last good key set still serves while new fetches fail. @default 3600000 */
  graceMs?: number;
  /** Epoch ms: the age of the key set, the cooldown, the pause after a failed fetch. @default Date.now */
  now?: () => number;
  /** Told once per episode of failed fetches (warn), and when it ends. */
  logger?: Logger;
}

/** After a failed fetch, requests that need one wait this long before they may cause another: a key set that answers 500 at once is not asked for it per request. */
const FAILED_FETCH_PAUSE_MS = 1000;

type LocalKeys = ReturnType<typeof createLocalJWKSet>;

/** The key set a token was checked against: its generation, and until when (epoch ms) it is used without a fetch. */
export interface KeysUsed {
  generation: number;
  freshUntil: number;
}

function usedOf(keys: { fetchedAt: number; generation: number }, maxAgeMs: number): KeysUsed {
  return { generation: keys.generation, freshUntil: keys.fetchedAt + maxAgeMs };
}

/**
 * An issuer's JWKS, fetched with Node's fetch and read by jose's local key
 * set. Contract: `keyLookup` answers from the key set at hand while it is
 * younger than its max age; past it, while within the grace period, it still
 * answers from it and fetches a new one beside; with none, or an older one,
 * it waits for a fetch. A token naming a key the set lacks causes a fetch
 * (then waits for it) unless one happened within the cooldown. One fetch runs
 * at a time and is shared; it is bounded as a whole (headers and body) by the
 * timeout and abandoned past it, never shared again. Whatever goes wrong with
 * a fetch (timeout, refused connection, a status other than 200, a body that
 * is not a key set) is a KeySetUnavailable when no usable key set is at hand,
 * never a verdict on the token.
 *
 * Written here rather than jose's createRemoteJWKSet, whose timeout covers the
 * response's headers only: a key set that sends its headers and stalls held
 * every request, and the stuck fetch was shared until its connection died.
 */
export class RemoteKeySet {
  private readonly url: URL;
  private readonly timeoutMs: number;
  private readonly maxAgeMs: number;
  private readonly cooldownMs: number;
  private readonly graceMs: number;
  private readonly now: () => number;
  private readonly logger?: Logger;
  private keys?: { local: LocalKeys; fetchedAt: number; generation: number };
  private pending?: Promise<void>;
  /** The last failed fetch: when, and why (the error the requests it stops get). */
  private failed?: { at: number; error: KeySetUnavailable };
  /** Failed fetches since the last good one; the episode's first is logged. */
  private failures = 0;
  private graceOverLogged = false;

  constructor(options: RemoteKeySetOptions) {
    this.url = new URL(options.url);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.graceMs = options.graceMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
  }

  /** The generation of the key set at hand: a new one on every good fetch (a key may have gone since); 0 before the first. */
  get generation(): number {
    return this.keys?.generation ?? 0;
  }

  /**
   * jose's key lookup (`jwtVerify`'s second argument), telling `used` which
   * key set answered: its generation, and until when (epoch ms) it is used as
   * it is, without a fetch. A check against it holds no longer than either.
   */
  keyLookup(used: (keys: KeysUsed) => void): (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<KeyLike> {
    return async (header, token) => {
      const age = this.keys ? this.now() - this.keys.fetchedAt : Infinity;
      if (age >= this.maxAgeMs + this.graceMs) {
        if (this.keys) this.graceOver();
        await this.refresh();
      } else if (age >= this.maxAgeMs) {
        // Stale but within the grace: this request goes on with the keys at hand, the fetch runs beside (its failure is logged there).
        this.refresh().catch(() => undefined);
      }
      let keys = this.keys!;
      try {
        const key = await keys.local(header, token);
        used(usedOf(keys, this.maxAgeMs));
        return key;
      } catch (err) {
        if (!(err instanceof joseErrors.JWKSNoMatchingKey) || this.now() < keys.fetchedAt + this.cooldownMs) throw err;
        // A key not seen yet: the issuer may have rotated.
        await this.refresh();
        keys = this.keys!;
        const key = await keys.local(header, token);
        used(usedOf(keys, this.maxAgeMs));
        return key;
      }
    };
  }

  /** Fetches the key set, or joins the fetch under way; rejects with KeySetUnavailable when it fails (or failed within the pause). */
  private refresh(): Promise<void> {
    if (this.pending) return this.pending;
    if (this.failed && this.now() - this.failed.at < FAILED_FETCH_PAUSE_MS) return Promise.reject(this.failed.error);
    this.pending = this.fetchKeys().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async fetchKeys(): Promise<void> {
    const abandon = new AbortController();
    const timer = setTimeout(() => abandon.abort(), this.timeoutMs);
    timer.unref();
    let local: LocalKeys;
    try {
      // Node's fetch aborts the body's reading too, and closes a connection left mid-response: nothing stuck is reused.
      const res = await fetch(this.url, {
        signal: abandon.signal,
        redirect: 'manual',
        headers: { accept: 'application/json', 'user-agent': 'er-gateway' },
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`the key set answered HTTP ${res.status}`);
      }
      local = createLocalJWKSet((await res.json()) as JSONWebKeySet);
    } catch (err) {
      throw this.failure(abandon.signal.aborted ? `no whole answer within ${this.timeoutMs} ms` : describe(err));
    } finally {
      clearTimeout(timer);
    }
    if (this.failures > 0) this.logger?.info({ url: this.url.href, failures: this.failures }, 'JWT signing keys fetched again');
    this.keys = { local, fetchedAt: this.now(), generation: (this.keys?.generation ?? 0) + 1 };
    this.failed = undefined;
    this.failures = 0;
    this.graceOverLogged = false;
  }

  private failure(reason: string): KeySetUnavailable {
    const error = new KeySetUnavailable(`The JWKS at ${this.url.href} could not be fetched: ${reason}.`);
    this.failed = { at: this.now(), error };
    if (this.failures++ === 0) {
      const serving = this.keys && this.now() - this.keys.fetchedAt < this.maxAgeMs + this.graceMs;
      this.logger?.warn(
        { url: this.url.href, reason, graceMs: this.graceMs },
        serving
          ? 'JWT signing keys could not be fetched: tokens are checked against the last key set while its grace lasts'
          : 'JWT signing keys could not be fetched: requests with tokens are answered 503 until they can',
      );
    }
    return error;
  }

  private graceOver(): void {
    if (this.failures === 0 || this.graceOverLogged) return;
    this.graceOverLogged = true;
    this.logger?.warn(
      { url: this.url.href, graceMs: this.graceMs },
      'JWT signing keys: the last key set is past its grace; requests with tokens are answered 503 until a fetch succeeds',
    );
  }
}

/** A fetch's failure in a line: undici hides the network's reason (ECONNREFUSED…) in `cause`. */
function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if (err instanceof joseErrors.JWKSInvalid || err instanceof SyntaxError) return 'the answer is not a JSON Web Key Set';
  return (err as Error).message;
}
