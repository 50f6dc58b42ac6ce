import { describe, expect, it } from 'vitest';
import { ExactSummary } from './exact-summary.js';

describe('ExactSummary', () => {
  const s = new ExactSummary([3, 1, 2, 2, NaN, 5, Infinity, -Infinity]);

  it('keeps the finite values, sorted', () => {
    expect(s.n).toBe(5);
    expect([...s.values]).toEqual([1, 2, 2, 3, 5]);
    expect(s.min).toBe(1);
    expect(s.max).toBe(5);
  });

  it('answers quantile(q) = sorted[ceil(q n) - 1], with quantile(0) = min', () => {
    expect(s.quantiles([0, 0.1, 0.2, 0.21, 0.4, 0.6, 0.61, 0.8, 1])).toEqual([
      1, 1, 1, 2, 2, 2, 3, 3, 5,
    ]);
    expect(() => s.quantile(-0.1)).toThrow(RangeError);
  });

  it('answers inclusive and exclusive ranks', () => {
    expect(s.rank(0)).toBe(0);
    expect(s.rank(2)).toBe(0.6);
    expect(s.rankExclusive(2)).toBe(0.2);
    expect(s.rank(2.5)).toBe(0.6);
    expect(s.rank(5)).toBe(1);
    for (let q = 0.05; q < 1; q += 0.05) expect(s.rank(s.quantile(q))).toBeGreaterThanOrEqual(q);
  });

  it('answers cdf and pmf at split points', () => {
    expect(s.cdf([1, 2, 4])).toEqual([0.2, 0.6, 0.8, 1]);
    const pmf = s.pmf([1, 2, 4]);
    expect(pmf[0]).toBeCloseTo(0.2, 12);
    expect(pmf[1]).toBeCloseTo(0.4, 12);
    expect(pmf[2]).toBeCloseTo(0.2, 12);
    expect(pmf[3]).toBeCloseTo(0.2, 12);
    expect(() => s.cdf([2, 1])).toThrow(RangeError);
  });

  it('answers NaN when empty', () => {
    const e = new ExactSummary([NaN]);
    expect(e.n).toBe(0);
    expect(e.min).toBeNaN();
    expect(e.quantile(0.5)).toBeNaN();
    expect(e.rank(1)).toBeNaN();
    expect(e.cdf([1])).toEqual([NaN, NaN]);
  });
});
