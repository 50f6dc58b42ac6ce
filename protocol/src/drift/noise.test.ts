import { describe, expect, it } from 'vitest';
import {
  chiSquareQuantile,
  effectiveSampleSize,
  jsNoise,
  ksNoise,
  linfNoise,
  normalCdf,
  normalQuantile,
  psiNoise,
} from './noise.js';

describe('noise allowances', () => {
  it('computes normal quantiles to about 1e-6', () => {
    expect(normalCdf(-5)).toBeCloseTo(2.866516e-7, 12);
    expect(normalCdf(-2.6)).toBeCloseTo(0.004661188, 9);
    expect(normalCdf(-2.4)).toBeCloseTo(0.008197536, 9);
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalQuantile(0.999)).toBeCloseTo(3.090232, 5);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 6);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326348, 5);
  });

  it('approximates chi-square quantiles within 1.5%, on the safe side in the far tail', () => {
    // Reference values from statistical tables.
    const table: [number, number, number][] = [
      [0.999, 9, 27.877],
      [0.99, 9, 21.666],
      [0.999, 20, 45.315],
      [0.999, 64, 104.716],
    ];
    for (const [p, df, expected] of table) {
      const q = chiSquareQuantile(p, df);
      expect(q).toBeGreaterThanOrEqual(expected * 0.999);
      expect(q / expected).toBeLessThan(1.015);
    }
    expect(Math.abs(chiSquareQuantile(0.95, 3) / 7.815 - 1)).toBeLessThan(0.015);
  });

  it('shrinks allowances like 1/n (PSI) and 1/sqrt(n) (JS, KS, L-infinity)', () => {
    expect(psiNoise(10, 2000, 0.001) / psiNoise(10, 200, 0.001)).toBeCloseTo(0.1, 9);
    expect(jsNoise(10, 800, 0.001) / jsNoise(10, 200, 0.001)).toBeCloseTo(0.5, 9);
    expect(ksNoise(800, 0.001) / ksNoise(200, 0.001)).toBeCloseTo(0.5, 9);
    expect(linfNoise(5, 800, 0.001) / linfNoise(5, 200, 0.001)).toBeCloseTo(0.5, 9);
    expect(jsNoise(10, 0, 0.001)).toBe(Infinity);
  });

  it('gives the textbook KS critical value', () => {
    // P(sqrt(n) D > 1.628) ~ 1% (Kolmogorov distribution).
    expect(ksNoise(1, 0.01)).toBeCloseTo(1.628, 2);
  });

  it('treats the reference as a sample too', () => {
    expect(effectiveSampleSize(1000, 1000)).toBe(500);
    expect(effectiveSampleSize(1e12, 200)).toBeCloseTo(200, 6);
    expect(effectiveSampleSize(0, 200)).toBe(0);
  });
});
