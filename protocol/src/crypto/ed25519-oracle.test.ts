/**
 * Differential tests: the node:crypto backend against tweetnacl, the previous pure-JavaScript
 * backend, as an oracle. Same keys, byte-identical signatures, the same verdicts on valid, tampered
 * and random signatures (tweetnacl's verdict with our S < L check applied on top).
 */
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { verifyEd25519 } from './ed25519.js';
import { publicKeyBytes, SigningKey } from './keys.js';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** S < L, read little-endian from the second half of the signature. */
function reduced(sig: Uint8Array): boolean {
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
  return s < L;
}

/** What the strict verifier must say: tweetnacl's verdict, and S < L. */
function oracleVerify(message: Uint8Array, sig: Uint8Array, publicKey: Uint8Array): boolean {
  return reduced(sig) && nacl.sign.detached.verify(message, sig, publicKey);
}

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const messageArb = fc.uint8Array({ minLength: 0, maxLength: 300 });
// tweetnacl needs several milliseconds per operation: few runs, each checking several things.
const RUNS = { numRuns: 40 };

describe('Ed25519 on node:crypto agrees with tweetnacl', () => {
  it('derives the same public key and byte-identical signatures', () => {
    fc.assert(
      fc.property(seedArb, messageArb, (seed, message) => {
        const key = SigningKey.fromSeed(seed);
        const pair = nacl.sign.keyPair.fromSeed(seed);
        expect(publicKeyBytes(key.publicKey)).toEqual(pair.publicKey);
        expect(Array.from(key.sign(message))).toEqual(
          Array.from(nacl.sign.detached(message, pair.secretKey)),
        );
      }),
      RUNS,
    );
  });

  it('agrees on valid signatures and on tampered signatures, messages and keys', () => {
    fc.assert(
      fc.property(
        seedArb,
        messageArb,
        fc.nat(64 * 8 - 1),
        fc.nat(),
        seedArb,
        (seed, message, sigBit, messageByte, otherSeed) => {
          const key = SigningKey.fromSeed(seed);
          const pub = publicKeyBytes(key.publicKey);
          const sig = key.sign(message);
          expect(verifyEd25519(message, sig, pub)).toBe(true);
          expect(oracleVerify(message, sig, pub)).toBe(true);

          const flipped = sig.slice();
          flipped[sigBit >> 3]! ^= 1 << (sigBit & 7);
          expect(verifyEd25519(message, flipped, pub)).toBe(oracleVerify(message, flipped, pub));

          const other = message.length === 0 ? Uint8Array.of(0) : message.slice();
          if (message.length > 0) other[messageByte % other.length]! ^= 0x01;
          expect(verifyEd25519(other, sig, pub)).toBe(false);
          expect(oracleVerify(other, sig, pub)).toBe(false);

          const otherPub = nacl.sign.keyPair.fromSeed(otherSeed).publicKey;
          expect(verifyEd25519(message, sig, otherPub)).toBe(oracleVerify(message, sig, otherPub));
        },
      ),
      RUNS,
    );
  });

  it('agrees on random signatures and random public keys (points or not)', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (message, sig, pub) => {
          expect(verifyEd25519(message, sig, pub)).toBe(oracleVerify(message, sig, pub));
        },
      ),
      RUNS,
    );
  });
});
