import { describe, expect, it } from 'vitest';
import { ExactSummary } from './exact-summary.js';
import { KllSketch, kllNormalizedRankError } from './kll.js';
import { createRandom, nextFloat, nextInt, nextNormal } from './random.js';
import type { RandomSource } from './types.js';

const STREAMS = ['uniform', 'normal', 'lognormal', 'duplicates', 'sorted', 'reversed'] as const;
type StreamKind = (typeof STREAMS)[number];

function makeStream(kind: StreamKind, n: number, r: RandomSource): Float64Array {
  const xs = new Float64Array(n);
  switch (kind) {
    case 'uniform':
      for (let i = 0; i < n; i++) xs[i] = nextFloat(r);
      break;
    case 'normal':
      for (let i = 0; i < n; i++) xs[i] = 10 + 3 * nextNormal(r);
      break;
    case 'lognormal':
      for (let i = 0; i < n; i++) xs[i] = Math.exp(1.5 * nextNormal(r));
      break;
    case 'duplicates':
      // Seven distinct values with skewed frequencies: ranks jump in large steps.
      for (let i = 0; i < n; i++) xs[i] = Math.floor(7 * nextFloat(r) ** 2);
      break;
    case 'sorted':
      for (let i = 0; i < n; i++) xs[i] = nextFloat(r);
      xs.sort();
      break;
    case 'reversed':
      for (let i = 0; i < n; i++) xs[i] = nextFloat(r);
      xs.sort().reverse();
      break;
  }
  return xs;
}

const GRID = Array.from({ length: 999 }, (_, i) => (i + 1) / 1000);

/**
 * Largest rank error over the grid, measured two ways: the distance from q to the exact rank interval of
 * quantile(q) (ties make it an interval), and |rank(x) - exact rank(x)| at the exact q-quantiles.
 */
function maxRankError(sketch: KllSketch, exact: ExactSummary): number {
  let worst = 0;
  for (const q of GRID) {
    const v = sketch.quantile(q);
    const below = exact.rankExclusive(v);
    const upTo = exact.rank(v);
    worst = Math.max(worst, q < below ? below - q : q > upTo ? q - upTo : 0);
    const x = exact.quantile(q);
    worst = Math.max(worst, Math.abs(sketch.rank(x) - exact.rank(x)));
  }
  return worst;
}

const K = 200;
const EPS = kllNormalizedRankError(K);
/** Every run's maximum error, pooled across the describe blocks below for the 1% criterion. */
const runs: { label: string; error: number }[] = [];

describe('KllSketch basics', () => {
  it('answers NaN when empty', () => {
    const s = new KllSketch({ random: createRandom(1) });
    expect(s.isEmpty).toBe(true);
    expect(s.n).toBe(0);
    expect(s.min).toBeNaN();
    expect(s.max).toBeNaN();
    expect(s.quantile(0.5)).toBeNaN();
    expect(s.rank(0)).toBeNaN();
    expect(s.cdf([0, 1])).toEqual([NaN, NaN, NaN]);
  });

  it('ignores NaN and infinities', () => {
    const s = new KllSketch({ random: createRandom(1) });
    for (const x of [NaN, Infinity, -Infinity, 3, NaN]) s.update(x);
    expect(s.n).toBe(1);
    expect(s.min).toBe(3);
    expect(s.max).toBe(3);
    expect(s.quantile(0.5)).toBe(3);
  });

  it('is exact while nothing has been compacted (n <= k)', () => {
    const r = createRandom(2);
    const xs = makeStream('normal', K, r);
    const s = new KllSketch({ k: K, random: r });
    for (const x of xs) s.update(x);
    const exact = new ExactSummary(xs);
    expect(s.numLevels).toBe(1);
    for (const q of [0, 0.001, 0.1, 0.25, 0.5, 0.77, 0.999, 1]) {
      expect(s.quantile(q)).toBe(exact.quantile(q));
    }
    for (const x of xs) expect(s.rank(x)).toBe(exact.rank(x));
    expect(s.rank(exact.min - 1)).toBe(0);
    expect(s.rank(exact.max)).toBe(1);
  });

  it('keeps the exact min, max and n after many compactions', () => {
    const r = createRandom(3);
    const xs = makeStream('lognormal', 100_000, r);
    const s = new KllSketch({ random: r });
    for (const x of xs) s.update(x);
    const exact = new ExactSummary(xs);
    expect(s.n).toBe(100_000);
    expect(s.quantile(0)).toBe(exact.min);
    expect(s.quantile(1)).toBe(exact.max);
    expect(s.numRetained).toBeLessThan(3.2 * K);
  });

  it('answers cdf with m + 1 entries ending in 1, and a pmf that sums to 1', () => {
    const r = createRandom(4);
    const s = new KllSketch({ random: r });
    for (const x of makeStream('uniform', 10_000, r)) s.update(x);
    const cdf = s.cdf([0.25, 0.5, 0.75]);
    expect(cdf).toHaveLength(4);
    expect(cdf[3]).toBe(1);
    for (let i = 1; i < cdf.length; i++) expect(cdf[i]!).toBeGreaterThanOrEqual(cdf[i - 1]!);
    expect(cdf[1]!).toBeCloseTo(0.5, 1);
    const pmf = s.pmf([0.25, 0.5, 0.75]);
    expect(pmf.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(s.quantiles([0, 1])).toEqual([s.min, s.max]);
  });

  it('rejects bad arguments', () => {
    expect(() => new KllSketch({ k: 7 })).toThrow(RangeError);
    expect(() => new KllSketch({ k: 65536 })).toThrow(RangeError);
    expect(() => new KllSketch({ k: 20.5 })).toThrow(RangeError);
    const s = new KllSketch({ random: createRandom(1) });
    s.update(1);
    expect(() => s.quantile(1.5)).toThrow(RangeError);
    expect(() => s.quantile(NaN)).toThrow(RangeError);
    expect(() => s.cdf([1, 1])).toThrow(RangeError);
    expect(() => s.cdf([0, NaN])).toThrow(RangeError);
    expect(() => {
      s.merge(new KllSketch({ k: 100 }));
    }).toThrow(RangeError);
  });

  it('is reproducible from its seed', () => {
    const build = (): Uint8Array => {
      const s = new KllSketch({ random: createRandom(42) });
      for (const x of makeStream('normal', 50_000, createRandom(7))) s.update(x);
      return s.toBytes();
    };
    expect(build()).toEqual(build());
  });

  it('documents its error bound (single-sided 1.33% and double-sided 1.65% at k = 200)', () => {
    const s = new KllSketch();
    expect(s.k).toBe(200);
    expect(s.normalizedRankError()).toBeCloseTo(0.0133, 4);
    expect(s.normalizedRankError(true)).toBeCloseTo(0.0165, 4);
    expect(kllNormalizedRankError(400)).toBeLessThan(s.normalizedRankError());
  });

  it('answers a constant stream exactly', () => {
    const s = new KllSketch({ random: createRandom(5) });
    for (let i = 0; i < 20_000; i++) s.update(4.25);
    expect(s.quantile(0.3)).toBe(4.25);
    expect(s.rank(4.25)).toBe(1);
    expect(s.rank(4.24)).toBe(0);
  });
});

describe('KllSketch rank error within the k = 200 bound', () => {
  const SEEDS = 25;
  const N = 50_000;

  it.each(STREAMS)('on %s streams', (kind) => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const r = createRandom(1000 * seed + STREAMS.indexOf(kind));
      const xs = makeStream(kind, N, r);
      const s = new KllSketch({ k: K, random: r });
      for (const x of xs) s.update(x);
      const error = maxRankError(s, new ExactSummary(xs));
      runs.push({ label: `${kind}#${seed}`, error });
      expect(error, `${kind} seed ${seed}`).toBeLessThanOrEqual(2 * EPS);
    }
  });
});

describe('KllSketch merge within the bound', () => {
  const PARTS = 1000;

  /** 1000 sketches of 500..1500 values each; each part has its own shift, as devices would. */
  function parts(seed: number): { sketches: KllSketch[]; exact: ExactSummary } {
    const r = createRandom(seed);
    const sketches: KllSketch[] = [];
    const all: number[] = [];
    for (let p = 0; p < PARTS; p++) {
      const s = new KllSketch({ k: K, random: createRandom(seed * 100_000 + p) });
      const shift = nextNormal(r);
      const size = 500 + nextInt(r, 1001);
      for (let i = 0; i < size; i++) {
        const x = p % 3 === 0 ? Math.exp(nextNormal(r)) : shift + nextNormal(r);
        s.update(x);
        all.push(x);
      }
      sketches.push(s);
    }
    return { sketches, exact: new ExactSummary(all) };
  }

  function shuffled<T>(xs: readonly T[], r: RandomSource): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = nextInt(r, i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  function mergeTree(sketches: readonly KllSketch[], r: RandomSource): KllSketch {
    let level = sketches.map((s) => {
      const copy = new KllSketch({ k: K, random: createRandom(r.nextUint32()) });
      copy.merge(s);
      return copy;
    });
    while (level.length > 1) {
      const next: KllSketch[] = [];
      for (let i = 0; i < level.length; i += 2) {
        const a = level[i]!;
        const b = level[i + 1];
        if (b !== undefined) a.merge(b);
        next.push(a);
      }
      level = next;
    }
    return level[0]!;
  }

  it('merging 1000 sketches in random order, sequentially and as a tree', () => {
    for (let seed = 1; seed <= 3; seed++) {
      const { sketches, exact } = parts(seed);
      const r = createRandom(seed + 77);
      const sequential = new KllSketch({ k: K, random: createRandom(seed) });
      for (const s of shuffled(sketches, r)) sequential.merge(s);
      const tree = mergeTree(shuffled(sketches, r), r);
      for (const [how, merged] of [
        ['sequential', sequential],
        ['tree', tree],
      ] as const) {
        expect(merged.n).toBe(exact.n);
        expect(merged.min).toBe(exact.min);
        expect(merged.max).toBe(exact.max);
        const error = maxRankError(merged, exact);
        runs.push({ label: `merge-${how}#${seed}`, error });
        expect(error, `${how} seed ${seed}`).toBeLessThanOrEqual(2 * EPS);
      }
    }
  });

  it('merging a sketch into itself doubles n and keeps the distribution', () => {
    const r = createRandom(9);
    const xs = makeStream('normal', 30_000, r);
    const s = new KllSketch({ random: r });
    for (const x of xs) s.update(x);
    s.merge(s);
    expect(s.n).toBe(60_000);
    expect(maxRankError(s, new ExactSummary(xs))).toBeLessThanOrEqual(2 * EPS);
  });

  it('merging an empty sketch changes nothing, and merging into an empty one copies', () => {
    const r = createRandom(10);
    const s = new KllSketch({ random: createRandom(1) });
    for (const x of makeStream('uniform', 5_000, r)) s.update(x);
    const bytes = s.toBytes();
    s.merge(new KllSketch({ random: createRandom(2) }));
    expect(s.toBytes()).toEqual(bytes);
    const copy = new KllSketch({ random: createRandom(3) });
    copy.merge(s);
    expect(copy.n).toBe(s.n);
    expect(copy.quantiles(GRID)).toEqual(s.quantiles(GRID));
  });
});

describe('KllSketch error summary', () => {
  it('exceeds the bound in at most 1% of runs', () => {
    expect(runs.length).toBeGreaterThanOrEqual(150);
    const over = runs.filter((r) => r.error > EPS);
    const worst = runs.reduce((a, b) => (b.error > a.error ? b : a));
    const byKind = new Map<string, number>();
    for (const { label, error } of runs) {
      const kind = label.split('#')[0]!;
      byKind.set(kind, Math.max(byKind.get(kind) ?? 0, error));
    }
    console.info(
      `KLL k=${K}: bound ${EPS.toFixed(5)}, ${runs.length} runs, ${over.length} over the bound, ` +
        `worst ${worst.error.toFixed(5)} (${worst.label}); max by stream: ` +
        [...byKind].map(([k, e]) => `${k} ${e.toFixed(5)}`).join(', '),
    );
    expect(over.length / runs.length).toBeLessThanOrEqual(0.01);
  });
});
