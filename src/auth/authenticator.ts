import { hash } from 'node:crypto';
import { errors as joseErrors, importSPKI, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type KeyLike } from 'jose';
import type { Logger } from 'pino';
import type { ApiKeyEntry } from './api-keys';
import { SettingError } from '../settings/files';
import { KeySetUnavailable, RemoteKeySet, type KeysUsed } from './jwks';
import { ANONYMOUS, type Principal } from './principal';
import { VerifiedCredentials } from './verified-credentials';

/** What a request presents: a bearer token, an API key, or neither. */
export interface Credentials {
  bearer?: string;
  apiKey?: string;
}

export type AuthMode = 'jwt' | 'apikey';

/** Whether `name` (lower case) is a header or `connection_init` field that carries credentials, as `credentialsFrom` reads them. */
export const isCredentialName = (name: string): boolean => name === 'authorization' || name === 'x-api-key';

/**
 * The credentials among a request's headers, or a websocket's
 * `connection_init` payload read as headers: `Authorization: Bearer <token>`
 * and `X-API-Key: <key>`. An Authorization of another scheme counts as a bad token.
 */
export function credentialsFrom(header: (name: string) => unknown): Credentials {
  const authorization = header('authorization');
  const apiKey = header('x-api-key');
  return {
    bearer: typeof authorization === 'string' ? bearerOf(authorization) : undefined,
    apiKey: typeof apiKey === 'string' ? apiKey : undefined,
  };
}

/** The token of `Bearer <token>` (the scheme in any case, spaces around the token), read without a regular expression on every request; '' (a bad token) for another scheme. */
function bearerOf(authorization: string): string {
  if (authorization.length < 8 || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return '';
  let start = 7;
  while (authorization.charCodeAt(start) === 32) start++;
  let end = authorization.length;
  while (end > start && authorization.charCodeAt(end - 1) === 32) end--;
  // Whitespace within is left to the token's format check, which refuses it.
  return authorization.slice(start, end);
}

/** Why a request is not authenticated: `unavailable` is ours (the key set could not be fetched), the rest the client's. */
export type AuthFailure = 'missing' | 'invalid' | 'expired' | 'unavailable';

/** A request whose credentials do not name a principal: HTTP 401 (503 when `unavailable`), websocket close 4401. */
export class AuthenticationError extends Error {
  constructor(
    readonly reason: AuthFailure,
    message: string,
    /** Whether the credential at fault was a bearer token (its challenge then says `invalid_token`). */
    readonly ofToken = false,
  ) {
    super(message);
  }
}

export interface JwtSettings {
  /** A JWKS URL, fetched when a token names a key not yet seen (rotation), cached for ten minutes (see RemoteKeySet). */
  jwksUrl?: string;
  /** Or one public key (SPKI PEM). */
  publicKeyPem?: string;
  issuer?: string;
  audience?: string;
  /** Allowed signature algorithms. @default ['RS256', 'ES256'] */
  algorithms: string[];
  /** How far the issuer's clock may differ from ours, in seconds. @default 30 */
  clockSkewSeconds: number;
  /** The claim holding the user's groups (a list, or a space-separated string). @default 'groups' */
  groupsClaim: string;
  /** After a fetch of the JWKS, how long a token naming an unknown key waits before it may cause another. @default 30000 */
  jwksCooldownMs?: number;
  /** How long one fetch of the JWKS may take in all, headers and body. @default 5000 */
  jwksTimeoutMs?: number;
  /** Past its ten minutes, how long the last good JWKS still serves while fetches fail. @default 3600000 */
  jwksGraceMs?: number;
}

export interface AuthenticatorOptions {
  /** Empty: ER_AUTH=none, everyone is anonymous. */
  modes: readonly AuthMode[];
  jwt?: JwtSettings;
  apiKeys?: readonly ApiKeyEntry[];
  /** Epoch ms, for token expiry and the JWKS's age. @default Date.now */
  now?: () => number;
  /** Told when the JWKS cannot be fetched (once per episode). */
  logger?: Logger;
}

const JWKS_CACHE_MS = 10 * 60_000;
/** The longest token taken: a token is a few hundred bytes, a big one of many groups a few KB. @default 8 KiB */
export const MAX_TOKEN_CHARS = 8192;
/** A JWS in compact form, each part strict base64url: jose reads past junk in the signature part (`=`, `!`), which made one valid token any number of strings. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** A public key from a file: one generation, for the process's life. */
const FIXED_KEY = { generation: 0, freshUntil: Infinity };

/**
 * Turns credentials into a principal. Contract: with no mode (ER_AUTH=none)
 * everyone is ANONYMOUS whatever they send; otherwise a request must present
 * a credential of an enabled mode, and anything missing, malformed, expired,
 * badly signed or unknown is an AuthenticationError, never another error.
 * API keys are stored as SHA-256 hashes, looked up by the hash of the key
 * presented. A credential that passed its check is remembered (see
 * VerifiedCredentials): a token until it expires, and no longer than the
 * key set it was checked against is used without a fetch, nor past the next
 * fetch of the key set. An API key is not remembered: its hash is its lookup.
 */
export class Authenticator {
  private readonly modes: ReadonlySet<AuthMode>;
  private readonly now: () => number;
  /** The principal of each API key, by the key's SHA-256 in hex. */
  private readonly keyPrincipals: ReadonlyMap<string, Principal>;
  private readonly jwt?: JwtSettings;
  private readonly verifiedTokens: VerifiedCredentials;

  private constructor(
    options: AuthenticatorOptions,
    /** The key (or jose's lookup) for one check, which tells `used` the key set that answered. */
    private readonly jwtKey: ((used: (keys: KeysUsed) => void) => KeyLike | JWTVerifyGetKey) | undefined,
    /** The generation of the keys at hand: a token remembered from another is checked anew. */
    private readonly keysGeneration: () => number,
  ) {
    this.modes = new Set(options.modes);
    this.now = options.now ?? Date.now;
    this.jwt = options.jwt;
    this.keyPrincipals = new Map(
      (options.apiKeys ?? []).map((entry) => [
        entry.sha256,
        { id: `apiKey:${entry.name}`, kind: 'apiKey', apiKey: entry.name, groups: entry.groups ?? [], scopes: [] },
      ]),
    );
    this.verifiedTokens = new VerifiedCredentials(this.now);
  }

  static async create(options: AuthenticatorOptions): Promise<Authenticator> {
    let key: ((used: (keys: KeysUsed) => void) => KeyLike | JWTVerifyGetKey) | undefined;
    let keysGeneration = () => FIXED_KEY.generation;
    if (options.modes.includes('jwt')) {
      const jwt = options.jwt;
      if (jwt?.jwksUrl) {
        const keySet = new RemoteKeySet({
          url: jwt.jwksUrl,
          maxAgeMs: JWKS_CACHE_MS,
          cooldownMs: jwt.jwksCooldownMs,
          timeoutMs: jwt.jwksTimeoutMs,
          graceMs: jwt.jwksGraceMs,
          now: options.now,
          logger: options.logger,
        });
        key = (used) => keySet.keyLookup(used);
        keysGeneration = () => keySet.generation;
      } else if (jwt?.publicKeyPem) {
        try {
          const fixed = await importSPKI(jwt.publicKeyPem, jwt.algorithms[0]);
          key = (used) => {
            used(FIXED_KEY);
            return fixed;
          };
        } catch (err) {
          throw new SettingError(`ER_JWT_PUBLIC_KEY_FILE: not a public key (SPKI PEM) for ${jwt.algorithms[0]}: ${(err as Error).message}`);
        }
      } else {
        throw new SettingError('ER_AUTH=jwt needs ER_JWT_JWKS_URL or ER_JWT_PUBLIC_KEY_FILE.');
      }
    }
    if (options.modes.includes('apikey') && (options.apiKeys ?? []).length === 0) {
      throw new SettingError('ER_AUTH=apikey needs keys: set ER_API_KEYS_FILE or ER_API_KEYS.');
    }
    return new Authenticator(options, key, keysGeneration);
  }

  /** False with ER_AUTH=none. */
  get required(): boolean {
    return this.modes.size > 0;
  }

  /** Whether bearer tokens are accepted: `WWW-Authenticate` then names the Bearer scheme. */
  get acceptsTokens(): boolean {
    return this.modes.has('jwt');
  }

  /** The principal `credentials` name, or an AuthenticationError (rejected). */
  async authenticate(credentials: Credentials): Promise<Principal> {
    return this.principalOf(credentials);
  }

  /**
   * The same as `authenticate`, handed back at once when no check must wait
   * (ER_AUTH=none, an API key, a token remembered), so that the requests of
   * a client that sends the same credential each time wait on no promise;
   * else a promise. A credential refused at once is thrown.
   */
  principalOf(credentials: Credentials): Principal | Promise<Principal> {
    if (!this.required) return ANONYMOUS;
    if (credentials.bearer !== undefined && this.modes.has('jwt')) return this.verifyToken(credentials.bearer);
    if (credentials.apiKey !== undefined && this.modes.has('apikey')) return this.checkKey(credentials.apiKey);
    const accepted = [
      this.modes.has('jwt') ? 'a bearer token (Authorization: Bearer …)' : '',
      this.modes.has('apikey') ? 'an API key (X-API-Key)' : '',
    ]
      .filter(Boolean)
      .join(' or ');
    throw new AuthenticationError('missing', `Authentication required: send ${accepted}.`);
  }

  /** A remembered token's principal at once; any other token is checked in full (`checkToken`). */
  private verifyToken(token: string): Principal | Promise<Principal> {
    if (token.length > MAX_TOKEN_CHARS) throw invalidToken();
    const remembered = rememberedAs(token);
    // A token remembered passed the format check: one by the same name differs from it at most in its last character's unused bits.
    const known = remembered === undefined ? undefined : this.verifiedTokens.get(remembered, this.keysGeneration());
    if (known) return known;
    if (remembered === undefined || !COMPACT_JWS.test(token)) throw invalidToken();
    return this.checkToken(token, remembered);
  }

  private async checkToken(token: string, remembered: string): Promise<Principal> {
    const jwt = this.jwt!;
    let payload: JWTPayload;
    // The key set that answered the check, not the one at hand after it: a fetch that ends during the check lends it neither its generation nor its time.
    let used: KeysUsed | undefined;
    try {
      ({ payload } = await jwtVerify(token, this.jwtKey!((keys) => (used = keys)) as JWTVerifyGetKey, {
        issuer: jwt.issuer,
        audience: jwt.audience,
        algorithms: jwt.algorithms,
        clockTolerance: jwt.clockSkewSeconds,
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new AuthenticationError('expired', 'The token has expired.', true);
      if (err instanceof KeySetUnavailable || !(err instanceof joseErrors.JOSEError)) {
        throw new AuthenticationError(
          'unavailable',
          'The token could not be checked: the signing keys could not be fetched. Try again shortly.',
        );
      }
      throw invalidToken();
    }
    const expiresAt = (payload.exp as number) * 1000 + jwt.clockSkewSeconds * 1000;
    const principal: Principal = {
      id: `token:${payload.sub}`,
      kind: 'token',
      subject: payload.sub,
      groups: listClaim(payload[jwt.groupsClaim]),
      scopes: listClaim(payload.scope ?? payload.scp),
      expiresAt,
    };
    // Once the key set is due to be fetched again, or has been (a key may have been withdrawn), the token is checked anew.
    if (used) this.verifiedTokens.set(remembered, principal, Math.min(expiresAt, used.freshUntil), used.generation);
    return principal;
  }

  private checkKey(key: string): Principal {
    // Not remembered, so its text is kept nowhere: the one-shot hash (no Hash object for the GC) costs 0.5 µs in a loop, 6 to 8 µs as a step
    // of a request under load, nearly all that auth costs a cached answer (docs/performance.md, "Where auth's cost is").
    // Looked up by its hash: how long the lookup takes depends on the hash, which says nothing of any stored key.
    const principal = this.keyPrincipals.get(hash('sha256', key, 'hex'));
    if (!principal) throw new AuthenticationError('invalid', 'The API key is not valid for this gateway.');
    return principal;
  }
}

const invalidToken = () => new AuthenticationError('invalid', 'The token is not valid for this gateway.', true);

const BASE64URL_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Each base64url character's value; -1 for any other character. */
const BASE64URL = new Int8Array(128).fill(-1);
for (const [value, char] of [...BASE64URL_CHARS].entries()) BASE64URL[char.charCodeAt(0)] = value;
/** The bits read of the last character of a base64url text, by its length modulo 4: of 3 and 2 characters, 4 and 2 bits are never read. */
const LAST_CHAR_BITS = [0b111111, 0, 0b110000, 0b111100];

/**
 * What a token is remembered by: the SHA-256 of its text with the
 * signature's last character cleared of the bits decoding never reads (up
 * to 16 spellings of one token), so one valid token is one entry, and no
 * token's text is kept. Undefined for a signature no bytes encode (a length
 * of 4n + 1, or a last character outside base64url), which is no valid token.
 * One-shot `crypto.hash`, on the text as sent when it is already canonical
 * (nearly always): no Hash object, no copy.
 */
function rememberedAs(token: string): string | undefined {
  const signatureLength = token.length - token.lastIndexOf('.') - 1;
  const last = token.charCodeAt(token.length - 1);
  const value = last < 128 ? BASE64URL[last] : -1;
  const bits = LAST_CHAR_BITS[signatureLength % 4];
  if (value < 0 || bits === 0) return undefined;
  const canonical = value & bits;
  return hash('sha256', canonical === value ? token : token.slice(0, -1) + BASE64URL_CHARS[canonical], 'base64url');
}

function listClaim(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return [];
}
