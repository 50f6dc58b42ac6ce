import { describe, expect, it } from 'vitest';
import { createRandom, createUnseededRandom, nextFloat, nextInt, nextNormal } from './random.js';

describe('createRandom', () => {
  it('gives the same sequence for the same seed and different ones for nearby seeds', () => {
    const draw = (seed: number): number[] => {
      const r = createRandom(seed);
      return Array.from({ length: 8 }, () => r.nextUint32());
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
    expect(draw(0)).not.toEqual(draw(2 ** 32)); // the high half of a 53-bit seed counts
    for (const x of draw(3)) expect(Number.isInteger(x) && x >= 0 && x < 2 ** 32).toBe(true);
  });

  it('produces evenly spread 32-bit words (every bit about half the time)', () => {
    const r = createRandom(4);
    const ones = new Array<number>(32).fill(0);
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const x = r.nextUint32();
      for (let b = 0; b < 32; b++) ones[b]! += (x >>> b) & 1;
    }
    // 5 standard deviations of a fair coin over n draws.
    for (const c of ones) expect(Math.abs(c - n / 2)).toBeLessThan(5 * Math.sqrt(n / 4));
  });

  it('rejects a non-finite seed', () => {
    expect(() => createRandom(NaN)).toThrow(RangeError);
    expect(createUnseededRandom().nextUint32()).toBeGreaterThanOrEqual(0);
  });
});

describe('nextFloat, nextInt, nextNormal', () => {
  it('nextFloat is uniform in [0, 1)', () => {
    const r = createRandom(5);
    const n = 50_000;
    const buckets = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const x = nextFloat(r);
      if (!(x >= 0 && x < 1)) outside++;
      else buckets[Math.floor(x * 10)]! += 1;
    }
    expect(outside).toBe(0);
    // Chi-square with 9 degrees of freedom: 27.9 is its 0.999 quantile.
    const chi2 = buckets.reduce((s, c) => s + (c - n / 10) ** 2 / (n / 10), 0);
    expect(chi2).toBeLessThan(27.9);
  });

  it('nextInt stays in [0, bound) and hits every value', () => {
    const r = createRandom(6);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const x = nextInt(r, 7);
      expect(Number.isInteger(x) && x >= 0 && x < 7).toBe(true);
      seen.add(x);
    }
    expect(seen.size).toBe(7);
    expect(nextInt(r, 1)).toBe(0);
    expect(() => nextInt(r, 0)).toThrow(RangeError);
    expect(() => nextInt(r, 2.5)).toThrow(RangeError);
  });

  it('nextNormal has mean 0 and variance 1', () => {
    const r = createRandom(7);
    const n = 50_000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const x = nextNormal(r);
      sum += x;
      sq += x * x;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.03);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.03);
  });
});
