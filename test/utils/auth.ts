import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload, type KeyLike } from 'jose';
import { stringify } from 'yaml';
import type { PolicyDocument } from '../../src/auth/policy';

/**
 * How a JWKS fails: it sends its headers and then nothing (the body never
 * comes), answers 500, or answers 200 with a body that is not JSON.
 */
export type JwksFault = 'stall' | 'error' | 'garbage';

/** An identity provider as the gateway sees one: a JWKS served over real HTTP, and tokens signed with its keys. */
export interface TestIssuer {
  /** e.g. http://127.0.0.1:PORT/.well-known/jwks.json */
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** How many times the JWKS was fetched. */
  readonly fetches: number;
  /** A token for `sub` with these claims; `exp` in epoch seconds (default an hour from now). */
  sign(sub: string, claims?: JWTPayload & { exp?: number }): Promise<string>;
  /** A token signed with a key the JWKS does not publish. */
  forge(sub: string, claims?: JWTPayload): Promise<string>;
  /** Publishes a new key and signs with it from now on (the old one stays published). */
  rotate(): Promise<void>;
  /** Stops publishing every key but the newest (a withdrawn key), while `sign` goes on with the newest; `signWithdrawn` still signs with the first. */
  withdrawOld(): void;
  /** A token signed with the first key, even once withdrawn (a token issued before, or with a stolen key). */
  signWithdrawn(sub: string, claims?: JWTPayload & { exp?: number }): Promise<string>;
  /** How the JWKS answers from now on: with `fault`, or (undefined) with its keys again. */
  fail(fault: JwksFault | undefined): void;
  /** Waits until every answer held open by a `stall` has been closed by its client. */
  stallsClosed(): Promise<void>;
  close(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateKey: KeyLike;
  jwk: Record<string, unknown>;
}

async function newKey(kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

export async function startIssuer(): Promise<TestIssuer> {
  const keys = [await newKey('k1')];
  const first = keys[0];
  let named = keys.length;
  let fetches = 0;
  let fault: JwksFault | undefined;
  const stalled = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    fetches++;
    if (fault === 'error') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
    if (fault === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>maintenance</html>');
    const body = JSON.stringify({ keys: keys.map((key) => key.jwk) });
    if (fault === 'stall') return void stall(res, body);
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  /** Headers and the body's first bytes, then nothing until the client gives up. */
  function stall(res: ServerResponse, body: string): void {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
    res.write(body.slice(0, 10));
    stalled.add(new Promise((resolve) => res.once('close', resolve)));
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${base}/`;
  const audience = 'er-gateway';
  const signWith = (key: SigningKey, sub: string, claims: JWTPayload = {}) =>
    new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid })
      .setSubject(sub)
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 3600)
      .sign(key.privateKey);
  return {
    jwksUrl: `${base}/.well-known/jwks.json`,
    issuer,
    audience,
    get fetches() {
      return fetches;
    },
    sign: (sub, claims) => signWith(keys.at(-1)!, sub, claims),
    forge: async (sub, claims) => signWith(await newKey(keys.at(-1)!.kid), sub, claims),
    rotate: async () => void keys.push(await newKey(`k${++named}`)),
    withdrawOld: () => void keys.splice(0, keys.length - 1),
    signWithdrawn: (sub, claims) => signWith(first, sub, claims),
    fail: (next) => void (fault = next),
    stallsClosed: async () => void (await Promise.all(stalled)),
    close: () => {
      // A stalled answer the gateway never closed would hold the server open.
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A new API key and the SHA-256 the gateway stores for it. */
export function newApiKey(): { key: string; sha256: string } {
  const key = randomBytes(24).toString('base64url');
  return { key, sha256: createHash('sha256').update(key).digest('hex') };
}

/** Writes `content` (YAML for objects) to a file of its own in a temporary folder, and returns its path. */
export function writeTempFile(name: string, content: string | PolicyDocument | Record<string, unknown>): string {
  const path = join(mkdtempSync(join(tmpdir(), 'er-gateway-')), name);
  writeFileSync(path, typeof content === 'string' ? content : stringify(content));
  return path;
}

/** The env of a test gateway with this policy and no auth (ER_AUTH=none): the policy alone decides. */
export function openPolicyEnv(policy: PolicyDocument): Record<string, string> {
  return { ER_POLICY_FILE: writeTempFile('policy.yaml', policy) };
}
