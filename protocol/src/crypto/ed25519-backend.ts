/**
 * The Ed25519 backend: node:crypto (OpenSSL). Internal to the crypto module (not exported from the
 * package); `ed25519.ts` and `keys.ts` build the public API on it.
 *
 * OpenSSL signs and verifies about 100x faster than a pure-JavaScript Ed25519 such as tweetnacl,
 * which the directive rate of a large rollout needs (docs/design-notes.md). Keys are imported into
 * `KeyObject`s from their raw 32 bytes by prefixing the fixed DER header of a PKCS#8 private key or
 * an SPKI public key (RFC 8410). Public keys are cached, so verifying many messages under the same
 * few trusted keys imports each key once.
 */
import {
  createPrivateKey,
  createPublicKey,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';

const RAW_KEY_BYTES = 32;

/** DER header of a PKCS#8 Ed25519 private key (RFC 8410 §7): the 32-byte seed follows. */
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** DER header of an SPKI Ed25519 public key (RFC 8410 §4): the 32-byte public key follows. */
const SPKI_PREFIX = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);

function withPrefix(prefix: Uint8Array, raw: Uint8Array): Buffer {
  const der = Buffer.alloc(prefix.length + raw.length);
  der.set(prefix);
  der.set(raw, prefix.length);
  return der;
}

/** The private key for a 32-byte RFC 8032 seed (the caller checks the length). */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  const der = withPrefix(PKCS8_PREFIX, seed);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

/** The raw 32-byte public key of a private key. */
export function rawPublicKeyOf(privateKey: KeyObject): Uint8Array {
  const der = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return Uint8Array.from(der.subarray(der.length - RAW_KEY_BYTES));
}

/** A detached signature of `message` (deterministic, RFC 8032 §5.1.6). */
export function signRaw(message: Uint8Array, privateKey: KeyObject): Uint8Array {
  const sig = nodeSign(null, message, privateKey);
  return new Uint8Array(sig.buffer, sig.byteOffset, sig.length);
}

/** Imported public keys by their raw bytes (as a latin1 string). Bounded: cleared when it fills. */
const publicKeys = new Map<string, KeyObject>();
const PUBLIC_KEY_CACHE_MAX = 1024;

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('latin1');
  let key = publicKeys.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: withPrefix(SPKI_PREFIX, raw), format: 'der', type: 'spki' });
    if (publicKeys.size >= PUBLIC_KEY_CACHE_MAX) publicKeys.clear();
    publicKeys.set(id, key);
  }
  return key;
}

/**
 * The backend's verdict on a 64-byte signature under a 32-byte public key (lengths checked by the
 * caller). No strictness beyond OpenSSL's own; `verifyEd25519` adds ours. Never throws.
 */
export function verifyRaw(
  message: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  try {
    return nodeVerify(null, message, publicKeyFromRaw(publicKey), signature);
  } catch {
    return false;
  }
}
