/**
 * Seeded pseudo-random numbers for sketches and test-data generators.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's "small fast counting" generator from PractRand: 128 bits
 * of state, passes PractRand and BigCrush, period at least 2^32 thanks to its counter word), with its
 * state expanded from the seed by splitmix32 so that nearby seeds (0, 1, 2, ...) give unrelated streams.
 * It is not cryptographic: sketches only need unbiased, independent coin flips.
 */
import type { RandomSource } from './types.js';

/** 2^32, as a number. */
const TWO_32 = 4294967296;

/** splitmix32 step: a Weyl sequence passed through a 32-bit finaliser (MurmurHash3 `fmix32` constants). */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

class Sfc32 implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(a: number, b: number, c: number, d: number) {
    this.a = a | 0;
    this.b = b | 0;
    this.c = c | 0;
    this.d = d | 0;
    // The state words come from splitmix32 already; a few rounds decorrelate them further.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
}

/**
 * A seeded 32-bit generator (sfc32). The same seed always gives the same sequence.
 *
 * @param seed any finite number; its integer part is used (up to 53 bits: both 32-bit halves are mixed in).
 * @throws RangeError if `seed` is not finite (a programming error).
 */
export function createRandom(seed: number): RandomSource {
  if (!Number.isFinite(seed)) throw new RangeError(`random seed must be finite, got ${seed}`);
  const whole = Math.trunc(seed);
  const lo = whole >>> 0;
  const hi = Math.floor(whole / TWO_32) >>> 0;
  const state = { s: lo };
  const a = splitmix32(state);
  const b = splitmix32(state) ^ hi;
  const c = splitmix32(state);
  // The counter word starts at 1 as in the reference seeding; it guarantees the minimum period.
  return new Sfc32(a, b, c, 1);
}

/** A generator seeded from `Math.random()`: for sketches whose coin flips need not be reproducible. */
export function createUnseededRandom(): RandomSource {
  return createRandom(Math.floor(Math.random() * 2 ** 53));
}

/** A uniform float in [0, 1) with 53 random bits (two 32-bit draws). */
export function nextFloat(r: RandomSource): number {
  const hi = r.nextUint32() >>> 5; // 27 bits
  const lo = r.nextUint32() >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

/** A uniform integer in [0, bound), for 1 <= bound <= 2^32 (rejection sampling: no modulo bias). */
export function nextInt(r: RandomSource, bound: number): number {
  if (!Number.isInteger(bound) || bound < 1 || bound > TWO_32) {
    throw new RangeError(`bound must be an integer in [1, 2^32], got ${bound}`);
  }
  // Accept only draws below the largest multiple of `bound` that fits in 32 bits.
  const limit = TWO_32 - (TWO_32 % bound);
  for (;;) {
    const x = r.nextUint32();
    if (x < limit) return x % bound;
  }
}

/** A standard normal deviate (Box-Muller; one of the pair is used, so calls stay independent). */
export function nextNormal(r: RandomSource): number {
  const u1 = 1 - nextFloat(r); // (0, 1]: log(u1) is finite
  const u2 = nextFloat(r);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
