import { hexToBytes } from '@noble/hashes/utils.js';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { verifyEd25519 } from './ed25519.js';
import { publicKeyBytes, SigningKey } from './keys.js';

const key = SigningKey.fromSeed(new Uint8Array(32).fill(3));
const pub = publicKeyBytes(key.publicKey);
const message = new TextEncoder().encode('release 7');
const sig = key.sign(message);

/** S + L in place of S: a second encoding of the same signature. */
function malleate(signature: Uint8Array): Uint8Array {
  const out = signature.slice();
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(out[i]!);
  s += L;
  for (let i = 32; i < 64; i++) {
    out[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return out;
}

describe('verifyEd25519', () => {
  it('accepts a valid signature', () => {
    expect(verifyEd25519(message, sig, pub)).toBe(true);
  });

  it('refuses a signature of another message', () => {
    expect(verifyEd25519(new TextEncoder().encode('release 8'), sig, pub)).toBe(false);
  });

  it('refuses a signature under another key', () => {
    const other = publicKeyBytes(SigningKey.fromSeed(new Uint8Array(32).fill(4)).publicKey);
    expect(verifyEd25519(message, sig, other)).toBe(false);
  });

  it('refuses a signature whose scalar is not reduced, which tweetnacl accepts', () => {
    const forged = malleate(sig);
    expect(nacl.sign.detached.verify(message, forged, pub)).toBe(true);
    expect(verifyEd25519(message, forged, pub)).toBe(false);
  });

  it('refuses a signature whose scalar equals the group order', () => {
    const forged = sig.slice();
    forged.set(hexToBytes('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010'), 32);
    expect(verifyEd25519(message, forged, pub)).toBe(false);
  });

  it('refuses signatures and keys of the wrong length without throwing', () => {
    expect(verifyEd25519(message, sig.subarray(0, 63), pub)).toBe(false);
    expect(verifyEd25519(message, sig, pub.subarray(0, 31))).toBe(false);
  });
});
