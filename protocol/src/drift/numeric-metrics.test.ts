import { describe, expect, it } from 'vitest';
import { ExactSummary } from '../sketches/exact-summary.js';
import { createRandom, nextFloat, nextNormal } from '../sketches/random.js';
import {
  binBoth,
  jsDistance,
  ksDistance,
  normalizedWasserstein,
  psi,
  referenceBinEdges,
  wasserstein1,
} from './numeric-metrics.js';

// --- Reference math on raw samples, written independently of the summaries ---------------------

const sortedCopy = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
/** The inverse-CDF quantile: the smallest sample v with (count of samples <= v) / n >= q. */
function rawQuantile(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  for (let i = 0; i < n; i++) if ((i + 1) / n >= q) return sorted[i]!;
  return sorted[n - 1]!;
}
/** Fraction of samples <= x, by counting. */
function rawCdf(xs: readonly number[], x: number): number {
  let c = 0;
  for (const v of xs) if (v <= x) c++;
  return c / xs.length;
}
function rawEdges(ref: readonly number[], bins: number): number[] {
  const s = sortedCopy(ref);
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) {
    const e = rawQuantile(s, i / bins);
    if (edges.length === 0 || e > edges[edges.length - 1]!) edges.push(e);
  }
  return edges;
}
/** Counts of samples in (-inf, e1], (e1, e2], ..., (em, inf), as fractions. */
function rawBins(xs: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of xs) {
    let b = 0;
    while (b < edges.length && v > edges[b]!) b++;
    counts[b]!++;
  }
  return counts.map((c) => c / xs.length);
}
function rawPsi(ref: readonly number[], live: readonly number[], bins = 10): number {
  const edges = rawEdges(ref, bins);
  const p = rawBins(ref, edges);
  const q = rawBins(live, edges);
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]! < 1e-4 ? 1e-4 : p[i]!;
    const b = q[i]! < 1e-4 ? 1e-4 : q[i]!;
    s += (b - a) * Math.log(b / a);
  }
  return s;
}
function rawJs(ref: readonly number[], live: readonly number[], bins = 10): number {
  const edges = rawEdges(ref, bins);
  const p = rawBins(ref, edges);
  const q = rawBins(live, edges);
  const kl = (a: number[], m: number[]) =>
    a.reduce((s, ai, i) => (ai === 0 ? s : s + ai * Math.log2(ai / m[i]!)), 0);
  const m = p.map((pi, i) => (pi + q[i]!) / 2);
  return Math.sqrt(0.5 * kl(p, m) + 0.5 * kl(q, m));
}
function rawKsOnGrid(ref: readonly number[], live: readonly number[], grid = 200): number {
  const sr = sortedCopy(ref);
  const sl = sortedCopy(live);
  let d = 0;
  for (let i = 0; i <= grid; i++) {
    for (const x of [rawQuantile(sr, i / grid), rawQuantile(sl, i / grid)]) {
      d = Math.max(d, Math.abs(rawCdf(ref, x) - rawCdf(live, x)));
    }
  }
  return d;
}
/** The two-sample KS statistic: the supremum over every sample point. */
function rawKsExact(ref: readonly number[], live: readonly number[]): number {
  let d = 0;
  for (const x of [...ref, ...live]) d = Math.max(d, Math.abs(rawCdf(ref, x) - rawCdf(live, x)));
  return d;
}
function rawW1OnGrid(ref: readonly number[], live: readonly number[], steps = 1000): number {
  const sr = sortedCopy(ref);
  const sl = sortedCopy(live);
  let s = 0;
  for (let i = 0; i < steps; i++) {
    const q = (i + 0.5) / steps;
    s += Math.abs(rawQuantile(sr, q) - rawQuantile(sl, q));
  }
  return s / steps;
}
/** W1 as the integral of |F_ref - F_live| over x, exactly, between consecutive sample points. */
function rawW1Exact(ref: readonly number[], live: readonly number[]): number {
  const xs = sortedCopy([...ref, ...live]);
  let s = 0;
  for (let i = 0; i + 1 < xs.length; i++) {
    s += Math.abs(rawCdf(ref, xs[i]!) - rawCdf(live, xs[i]!)) * (xs[i + 1]! - xs[i]!);
  }
  return s;
}

function sample(seed: number, n: number, f: (r: ReturnType<typeof createRandom>) => number) {
  const r = createRandom(seed);
  return Array.from({ length: n }, () => f(r));
}

const normal = (mu: number, sigma: number) => (r: ReturnType<typeof createRandom>) =>
  mu + sigma * nextNormal(r);

describe('numeric drift metrics on exact summaries', () => {
  // Sample sizes are powers of two so that q * n is computed without rounding: the raw-sample
  // reference below and the summary then pick the same order statistic at every grid rank.
  const cases = [
    { name: 'no drift', ref: sample(1, 2048, normal(0, 1)), live: sample(2, 512, normal(0, 1)) },
    {
      name: 'mean shift',
      ref: sample(3, 2048, normal(0, 1)),
      live: sample(4, 1024, normal(0.4, 1)),
    },
    { name: 'wider', ref: sample(5, 1024, normal(5, 2)), live: sample(6, 2048, normal(5, 3)) },
    {
      name: 'point masses',
      ref: sample(7, 1024, (r) => Math.floor(nextFloat(r) * 4)),
      live: sample(8, 512, (r) => Math.floor(nextFloat(r) * 5)),
    },
  ];

  for (const c of cases) {
    const ref = new ExactSummary(c.ref);
    const live = new ExactSummary(c.live);

    it(`bins at the reference quantiles (${c.name})`, () => {
      const b = binBoth(ref, live);
      expect(b.edges).toEqual(rawEdges(c.ref, 10));
      const p = rawBins(c.ref, b.edges);
      const q = rawBins(c.live, b.edges);
      b.reference.forEach((v, i) => {
        expect(v).toBeCloseTo(p[i]!, 12);
      });
      b.live.forEach((v, i) => {
        expect(v).toBeCloseTo(q[i]!, 12);
      });
    });

    it(`PSI and JS distance equal the raw-sample computation (${c.name})`, () => {
      expect(psi(ref, live)).toBeCloseTo(rawPsi(c.ref, c.live), 12);
      expect(jsDistance(ref, live)).toBeCloseTo(rawJs(c.ref, c.live), 12);
      expect(psi(ref, live, 20)).toBeCloseTo(rawPsi(c.ref, c.live, 20), 12);
    });

    it(`KS distance equals the grid definition and is within 1/G of the exact statistic (${c.name})`, () => {
      const d = ksDistance(ref, live);
      expect(d).toBeCloseTo(rawKsOnGrid(c.ref, c.live), 12);
      const exact = rawKsExact(c.ref, c.live);
      expect(d).toBeLessThanOrEqual(exact + 1e-12);
      expect(exact - d).toBeLessThanOrEqual(1 / 200 + 1e-9);
    });

    it(`Wasserstein-1 equals the midpoint rule and the exact integral (${c.name})`, () => {
      const w = wasserstein1(ref, live);
      expect(w).toBeCloseTo(rawW1OnGrid(c.ref, c.live), 12);
      expect(Math.abs(w - rawW1Exact(c.ref, c.live))).toBeLessThan(0.02 * (ref.max - ref.min));
    });
  }

  it('puts the reference in equiprobable bins when it has no ties', () => {
    const b = binBoth(new ExactSummary(sample(9, 1000, normal(0, 1))), new ExactSummary([0]));
    expect(b.edges).toHaveLength(9);
    for (const p of b.reference) expect(p).toBeCloseTo(0.1, 12);
  });

  it('gives zero for identical samples and grows with the shift', () => {
    const xs = sample(10, 2000, normal(0, 1));
    const ref = new ExactSummary(xs);
    expect(psi(ref, ref)).toBe(0);
    expect(jsDistance(ref, ref)).toBe(0);
    expect(ksDistance(ref, ref)).toBe(0);
    expect(wasserstein1(ref, ref)).toBe(0);
    let previous = 0;
    for (const shift of [0.1, 0.3, 1, 3]) {
      const live = new ExactSummary(xs.map((x) => x + shift));
      const d = jsDistance(ref, live);
      expect(d).toBeGreaterThan(previous);
      previous = d;
      expect(wasserstein1(ref, live)).toBeCloseTo(shift, 9);
    }
  });

  it('floors empty bins so that PSI stays finite', () => {
    const ref = new ExactSummary(sample(11, 1000, normal(0, 1)));
    const live = new ExactSummary(sample(12, 500, normal(100, 1)));
    const v = psi(ref, live);
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeCloseTo(rawPsi(Array.from(ref.values), Array.from(live.values)), 9);
    // All live mass lands in the reference's top bin, which holds 10% of the reference.
    expect(jsDistance(ref, live)).toBeCloseTo(
      rawJs(Array.from(ref.values), Array.from(live.values)),
      12,
    );
  });

  it('normalises Wasserstein-1 by the reference standard deviation', () => {
    const ref = new ExactSummary(sample(13, 1000, normal(0, 2)));
    const live = new ExactSummary(sample(13, 1000, normal(1, 2)));
    expect(normalizedWasserstein(ref, live, 2)).toBeCloseTo(0.5, 9);
    const constant = new ExactSummary([3, 3, 3]);
    expect(normalizedWasserstein(constant, constant, 0)).toBe(0);
    expect(normalizedWasserstein(constant, new ExactSummary([4]), 0)).toBe(Infinity);
  });

  it('answers zero distances and no edges for empty summaries', () => {
    const empty = new ExactSummary([]);
    const some = new ExactSummary([1, 2, 3]);
    expect(referenceBinEdges(empty)).toEqual([]);
    expect(ksDistance(empty, some)).toBe(0);
    expect(wasserstein1(some, empty)).toBe(0);
  });
});
