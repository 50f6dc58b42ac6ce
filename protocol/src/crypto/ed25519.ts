/**
 * Strict Ed25519 verification on top of tweetnacl.
 *
 * tweetnacl accepts a signature whose scalar S is not reduced modulo the group order L, so from one
 * valid signature anyone can make a second, different valid one (S + L). RFC 8032 §5.1.7 requires
 * rejecting S >= L; we do, so a signature is never malleable.
 */
import nacl from 'tweetnacl';

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
  return nacl.sign.detached.verify(message, signature, publicKey);
}
