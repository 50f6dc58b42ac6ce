/**
 * Strict Ed25519 verification (RFC 8032) on node:crypto (`ed25519-backend.ts`).
 *
 * A signature whose scalar S is not reduced modulo the group order L would let anyone make a
 * second, different valid signature (S + L) from one valid signature. RFC 8032 §5.1.7 requires
 * rejecting S >= L. OpenSSL 3 does so itself, but pure-JavaScript implementations (tweetnacl, the
 * previous backend) do not, so we check it here whatever the backend: a signature is never malleable.
 */
import { verifyRaw } from './ed25519-backend.js';

export const PUBLIC_KEY_BYTES = 32;
export const SEED_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/** The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const ORDER_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

/** True if the little-endian 32-byte scalar is below L [RFC 8032 §5.1.7 step 1]. */
function isReducedScalar(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = s[i]!;
    const b = ORDER_LE[i]!;
    if (a !== b) return a < b;
  }
  return false;
}

/** Verify a detached Ed25519 signature, refusing non-canonical (malleated) ones. Never throws. */
export function verifyEd25519(
  message: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== PUBLIC_KEY_BYTES) return false;
  if (!isReducedScalar(signature.subarray(32))) return false;
  return verifyRaw(message, signature, publicKey);
}
