import { LRUCache } from 'lru-cache';
import type { Principal } from './principal';

/** Tokens remembered at most, least recently used out first. @default 5000 */
export const VERIFIED_CREDENTIALS_MAX = 5000;

/**
 * Principals of credentials already checked, by the key the authenticator
 * names each by (a token's SHA-256, never its text), so
 * that a client sending the same token on every request pays for one
 * signature check, not one per request. Contract: an entry is stored only
 * after a full check succeeded, with the generation of the signing keys the
 * check began with, and is handed back only before its `until` (a token's
 * expiry with the clock skew allowed, and never later than those keys are
 * used without a fetch) and while the keys at hand are of that same
 * generation; otherwise the credential is checked anew, as on its first use.
 * Failures are never stored. At most `max` entries, least recently used out first.
 */
export class VerifiedCredentials {
  private readonly entries: LRUCache<string, { principal: Principal; until: number; generation: number }>;

  constructor(
    private readonly now: () => number,
    max = VERIFIED_CREDENTIALS_MAX,
  ) {
    this.entries = new LRUCache({ max });
  }

  /** The principal `credential` named when it was checked, while that check still holds with the keys of `generation`. */
  get(credential: string, generation = 0): Principal | undefined {
    const entry = this.entries.get(credential);
    if (!entry) return undefined;
    if (this.now() < entry.until && entry.generation === generation) return entry.principal;
    this.entries.delete(credential);
    return undefined;
  }

  /** Remembers a successful check of `credential`, begun with the keys of `generation`, until `until` (epoch ms, the authenticator's clock). */
  set(credential: string, principal: Principal, until: number, generation = 0): void {
    if (this.now() < until) this.entries.set(credential, { principal, until, generation });
  }
}
