import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { badInput } from '../upstream/errors';

/** AES-256-GCM: a 32-byte key, a fresh 12-byte nonce per cursor, a 16-byte tag. */
const ALGORITHM = 'aes-256-gcm';
export const CURSOR_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Plaintexts are padded to a multiple of this, so a cursor's length says next to nothing of the token's. */
const PAD_TO = 64;
/** Longer cursors are refused unread: a service token of 1024 characters seals to about 1.5 KB. */
const MAX_CURSOR_LENGTH = 2048;

/** Where a page starts upstream: the page token, and how many of its items were already seen. */
export interface ListPosition {
  nextToken?: string;
  skip: number;
}

/**
 * The cursors of one list for one principal. `open` throws BAD_USER_INPUT
 * for anything `seal` did not make for this very list and principal.
 */
export interface ListCursors {
  seal(position: ListPosition): string;
  open(cursor: string): ListPosition;
}

/**
 * The keys cursors are sealed with. The first seals; every one opens, so a
 * replica that adopts the deployment's shared key after start-up still
 * opens the cursors it sealed before.
 */
export class CursorKeyRing {
  private ring: Buffer[];

  constructor(key: Buffer) {
    this.ring = [key];
  }

  get keys(): readonly Buffer[] {
    return this.ring;
  }

  /** Seals with `key` from now on, and keeps opening with the keys before it. */
  adopt(key: Buffer): void {
    if (!key.equals(this.ring[0])) this.ring = [key, ...this.ring.filter((old) => !old.equals(key))];
  }

  /** A new random key, for a deployment that names none. */
  static randomKey(): Buffer {
    return randomBytes(CURSOR_KEY_BYTES);
  }
}

/**
 * Opaque cursors: the service's page token and the place within its page,
 * encrypted and authenticated (AES-256-GCM) under the deployment's key, with
 * the principal and the list as additional data. A client learns nothing
 * from one (not the token, not how many items it may not see came before),
 * and a cursor changed by one byte, given by another principal or used on
 * another list opens to nothing: BAD_USER_INPUT.
 */
export class Cursors {
  constructor(private readonly keys: CursorKeyRing) {}

  /** The cursors of `list` (e.g. `matching:jobs:customer-matching`) for `principalId`. */
  of(principalId: string, list: string): ListCursors {
    const context = Buffer.from(JSON.stringify(['er-gateway cursor v1', principalId, list]));
    return {
      seal: (position) => this.seal(context, position),
      open: (cursor) => this.open(context, cursor),
    };
  }

  private seal(context: Buffer, position: ListPosition): string {
    const json = JSON.stringify([position.nextToken ?? null, position.skip]);
    // JSON ignores trailing spaces: padding needs no length of its own.
    const plaintext = Buffer.from(json.padEnd(Math.ceil((json.length + 1) / PAD_TO) * PAD_TO, ' '));
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.keys.keys[0], nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(context);
    const sealed = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return sealed.toString('base64url');
  }

  private open(context: Buffer, cursor: string): ListPosition {
    const invalid = badInput(
      'after',
      'after is not a cursor this gateway gave you for this list: use an endCursor or edge cursor of the same list, as the same caller.',
    );
    if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid;
    const sealed = Buffer.from(cursor, 'base64url');
    // Only the one spelling `seal` writes: a changed last character whose bits base64 drops is a change too.
    if (sealed.length < NONCE_BYTES + TAG_BYTES + PAD_TO || sealed.toString('base64url') !== cursor) throw invalid;
    const plaintext = this.decrypt(context, sealed);
    if (!plaintext) throw invalid;
    // Authentic, so made by `seal`: the shape is ours.
    const [token, skip] = JSON.parse(plaintext.toString('utf8')) as [string | null, number];
    return { nextToken: token ?? undefined, skip };
  }

  private decrypt(context: Buffer, sealed: Buffer): Buffer | undefined {
    const nonce = sealed.subarray(0, NONCE_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
    for (const key of this.keys.keys) {
      try {
        const decipher = createDecipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(context);
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]);
      } catch {
        // Not sealed under this key (or not at all): try the next.
      }
    }
    return undefined;
  }
}
