/**
 * Ed25519 keys in the TUF key format.
 *
 * A public key travels as `{keytype: 'ed25519', scheme: 'ed25519', keyval: {public: <hex>}}` and is
 * named by its key id, the hex SHA-256 of that object's canonical JSON bytes (TUF spec §4.2).
 * A private key lives only inside a `SigningKey`, which never shows it: not in JSON, not in
 * `util.inspect`, not in `String(key)`, not among its own properties. The one way out is
 * `encodeSigningKeyFile`, whose caller writes the file (mode 0600).
 */
import { randomBytes as nodeRandomBytes, type KeyObject } from 'node:crypto';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { canonicalBytes, canonicalize } from '../canonical-json.js';
import { EdgefleetError, fail, ok, type Result } from '../errors.js';
import { privateKeyFromSeed, rawPublicKeyOf, signRaw } from './ed25519-backend.js';
import { PUBLIC_KEY_BYTES, SEED_BYTES } from './ed25519.js';
import { Sha256HexSchema, sha256Hex } from './sha256.js';

const KEY_HEX = /^[0-9a-f]{64}$/;

/** A public key in the TUF format. */
export const PublicKeyObjectSchema = z.strictObject({
  keytype: z.literal('ed25519'),
  scheme: z.literal('ed25519'),
  keyval: z.strictObject({
    public: z.string().regex(KEY_HEX, 'must be 64 lower-case hex digits (32 bytes)'),
  }),
});

export type PublicKeyObject = z.infer<typeof PublicKeyObjectSchema>;

/** The key id of a public key: hex SHA-256 of its canonical JSON bytes. */
export function keyIdOf(key: PublicKeyObject): string {
  return sha256Hex(canonicalBytes(key));
}

/** The public key object for raw Ed25519 public key bytes. */
export function publicKeyObject(publicKey: Uint8Array): PublicKeyObject {
  if (publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new EdgefleetError('EF_MALFORMED', `an Ed25519 public key has ${PUBLIC_KEY_BYTES} bytes`);
  }
  return { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: bytesToHex(publicKey) } };
}

/** The raw 32 bytes of a public key object. */
export function publicKeyBytes(key: PublicKeyObject): Uint8Array {
  return hexToBytes(key.keyval.public);
}

/** What a SigningKey holds: its seed (for the key file) and the imported OpenSSL key (for signing). */
interface Secret {
  readonly seed: Uint8Array;
  readonly privateKey: KeyObject;
}

// Secrets are kept off the SigningKey objects themselves, so no reflection or serialiser can reach them.
const secretKeys = new WeakMap<SigningKey, Secret>();

const INSPECT: unique symbol = Symbol.for('nodejs.util.inspect.custom');

/** An Ed25519 private key. Shows its key id and public key only; the secret never leaves it. */
export class SigningKey {
  readonly keyid: string;
  readonly publicKey: PublicKeyObject;

  private constructor(secret: Secret, publicKey: Uint8Array) {
    this.publicKey = publicKeyObject(publicKey);
    this.keyid = keyIdOf(this.publicKey);
    secretKeys.set(this, secret);
    Object.freeze(this);
  }

  /** The key whose RFC 8032 private key (seed) is these 32 bytes. */
  static fromSeed(seed: Uint8Array): SigningKey {
    if (seed.length !== SEED_BYTES) {
      throw new EdgefleetError('EF_MALFORMED', `an Ed25519 seed has ${SEED_BYTES} bytes`);
    }
    const privateKey = privateKeyFromSeed(seed);
    return new SigningKey({ seed: Uint8Array.from(seed), privateKey }, rawPublicKeyOf(privateKey));
  }

  /** A detached Ed25519 signature of `message`. */
  sign(message: Uint8Array): Uint8Array {
    return signRaw(message, secretOf(this).privateKey);
  }

  toJSON(): { keyid: string; publicKey: PublicKeyObject } {
    return { keyid: this.keyid, publicKey: this.publicKey };
  }

  toString(): string {
    return `SigningKey(ed25519 ${this.keyid})`;
  }

  [INSPECT](): string {
    return this.toString();
  }
}

function secretOf(key: SigningKey): Secret {
  const secret = secretKeys.get(key);
  if (secret === undefined) throw new EdgefleetError('EF_INTERNAL', 'not a SigningKey');
  return secret;
}

/**
 * A new signing key. `randomBytes` is injectable for deterministic tests; by default node:crypto's
 * CSPRNG supplies the 32-byte seed.
 */
export function generateSigningKey(
  randomBytes: (n: number) => Uint8Array = (n) => Uint8Array.from(nodeRandomBytes(n)),
): SigningKey {
  return SigningKey.fromSeed(randomBytes(SEED_BYTES));
}

/** The JSON key file: TUF-style key object with the 32-byte seed as `keyval.private`. */
export const SigningKeyFileSchema = z.strictObject({
  _type: z.literal('edgefleet-signing-key'),
  keytype: z.literal('ed25519'),
  scheme: z.literal('ed25519'),
  keyid: Sha256HexSchema,
  keyval: z.strictObject({
    public: z.string().regex(KEY_HEX),
    private: z.string().regex(KEY_HEX),
  }),
});

export type SigningKeyFile = z.infer<typeof SigningKeyFileSchema>;

/** Key files are a few hundred bytes; anything far larger is not one. */
export const MAX_KEY_FILE_CHARS = 4096;

/**
 * The key file text for `key` (canonical JSON and a newline). It holds the private key: the caller
 * writes it with mode 0600 and never logs it.
 */
export function encodeSigningKeyFile(key: SigningKey): string {
  const file: SigningKeyFile = {
    _type: 'edgefleet-signing-key',
    keytype: 'ed25519',
    scheme: 'ed25519',
    keyid: key.keyid,
    keyval: {
      public: key.publicKey.keyval.public,
      private: bytesToHex(secretOf(key).seed),
    },
  };
  return `${canonicalize(file)}\n`;
}

/** Read a key file, checking that its public key and key id belong to its private key. Never throws. */
export function decodeSigningKeyFile(text: string): Result<SigningKey> {
  if (text.length > MAX_KEY_FILE_CHARS) {
    return fail('EF_TOO_LARGE', `a key file is at most ${MAX_KEY_FILE_CHARS} characters`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail('EF_MALFORMED', 'key file is not valid JSON');
  }
  const parsed = SigningKeyFileSchema.safeParse(raw);
  if (!parsed.success) {
    return fail('EF_MALFORMED', 'key file does not match the Ed25519 key file schema', {
      issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    });
  }
  const file = parsed.data;
  const key = SigningKey.fromSeed(hexToBytes(file.keyval.private));
  if (key.publicKey.keyval.public !== file.keyval.public) {
    return fail('EF_MALFORMED', 'key file public key does not match its private key');
  }
  if (key.keyid !== file.keyid) {
    return fail('EF_MALFORMED', 'key file key id does not match its public key');
  }
  return ok(key);
}
