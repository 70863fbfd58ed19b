/** Who is asking: what the policy decides on. */
export interface Principal {
  /**
   * `anonymous`, `token:<sub>` or `apiKey:<name>`: what the audit log names,
   * and the scope of idempotency keys.
   */
  id: string;
  kind: 'anonymous' | 'token' | 'apiKey';
  /** A token's `sub`. */
  subject?: string;
  /** A token's groups claim, or an API key's groups. */
  groups: readonly string[];
  /** A token's `scope` (or `scp`) claim. */
  scopes: readonly string[];
  /** An API key's name. */
  apiKey?: string;
  /** When the credential stops being valid (a token's `exp`), in epoch ms. */
  expiresAt?: number;
}

/** With ER_AUTH=none, everyone. */
export const ANONYMOUS: Principal = { id: 'anonymous', kind: 'anonymous', groups: [], scopes: [] };

/** Each principal's key, made once: a remembered credential hands back the same principal on every request (see VerifiedCredentials). */
const grantsKeys = new WeakMap<Principal, string>();

/**
 * Everything the policy's decisions depend on, as one string: two requests
 * with the same grants may share cached answers (a token refreshed for the
 * same user keeps its cache), any other two may not.
 */
export function grantsKey(principal: Principal): string {
  let key = grantsKeys.get(principal);
  if (key === undefined) {
    key = JSON.stringify([principal.id, [...principal.groups].sort(), [...principal.scopes].sort()]);
    grantsKeys.set(principal, key);
  }
  return key;
}
