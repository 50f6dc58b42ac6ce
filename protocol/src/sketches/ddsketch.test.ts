import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DDSketch } from './ddsketch.js';
import { createRandom, nextFloat, nextNormal } from './random.js';
import type { RandomSource } from './types.js';

const QS = [0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

const STREAMS: Record<string, (r: RandomSource) => number> = {
  lognormal: (r) => Math.exp(3 + 1.2 * nextNormal(r)),
  uniform: (r) => 1000 * nextFloat(r),
  pareto: (r) => 1 / (1 - nextFloat(r)) ** (1 / 1.2), // Pareto(x_m = 1, shape 1.2): heavy tail
  mixed: (r) => {
    const u = nextFloat(r);
    return u < 0.1 ? 0 : u < 0.3 ? -Math.exp(nextNormal(r)) : Math.exp(2 * nextNormal(r));
  },
};

/** The exact value DDSketch targets for rank q: sorted[floor(q (n - 1))]. */
function exactQuantile(sorted: Float64Array, q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function maxRelativeError(s: DDSketch, sorted: Float64Array): number {
  let worst = 0;
  for (const q of QS) {
    const exact = exactQuantile(sorted, q);
    const est = s.quantile(q);
    const err = exact === 0 ? Math.abs(est) : Math.abs(est - exact) / Math.abs(exact);
    worst = Math.max(worst, err);
  }
  return worst;
}

function build(kind: string, n: number, seed: number, alpha = 0.01): [DDSketch, Float64Array] {
  const r = createRandom(seed);
  const gen = STREAMS[kind]!;
  const xs = Float64Array.from({ length: n }, () => gen(r));
  const s = new DDSketch({ alpha });
  for (const x of xs) s.update(x);
  return [s, xs.sort()];
}

describe('DDSketch', () => {
  it.each(Object.keys(STREAMS))(
    'keeps quantiles within relative error alpha on %s data',
    (kind) => {
      for (const alpha of [0.01, 0.05]) {
        for (let seed = 0; seed < 3; seed++) {
          const [s, sorted] = build(kind, 50_000, seed, alpha);
          expect(s.count).toBe(50_000);
          expect(maxRelativeError(s, sorted), `${kind} seed ${seed}`).toBeLessThanOrEqual(
            alpha * (1 + 1e-9),
          );
        }
      }
    },
  );

  it('tracks count, sum, min and max exactly and ignores non-finite values', () => {
    const s = new DDSketch();
    for (const x of [3, 0, -2, NaN, Infinity, 7.5]) s.update(x);
    expect(s.count).toBe(4);
    expect(s.sum).toBe(8.5);
    expect(s.min).toBe(-2);
    expect(s.max).toBe(7.5);
    expect(s.quantile(0)).toBe(-2);
    expect(s.quantile(1)).toBe(7.5);
    expect(new DDSketch().quantile(0.5)).toBeNaN();
    expect(() => s.quantile(2)).toThrow(RangeError);
    expect(() => new DDSketch({ alpha: 0 })).toThrow(RangeError);
    expect(() => new DDSketch({ maxBuckets: 4 })).toThrow(RangeError);
  });

  it('merges to exactly the sketch of the whole stream', () => {
    const r = createRandom(11);
    const whole = new DDSketch();
    const parts = Array.from({ length: 50 }, () => new DDSketch());
    for (let i = 0; i < 100_000; i++) {
      const x = STREAMS.mixed!(r);
      whole.update(x);
      parts[i % 50]!.update(x);
    }
    const merged = new DDSketch();
    for (const p of parts) merged.merge(p);
    const { sum: _a, ...mergedJson } = merged.toJSON();
    const { sum: _b, ...wholeJson } = whole.toJSON();
    expect(mergedJson).toEqual(wholeJson);
    expect(merged.sum).toBeCloseTo(whole.sum, 6);
    expect(merged.quantiles(QS)).toEqual(whole.quantiles(QS));
    merged.merge(merged);
    expect(merged.count).toBe(200_000);
    expect(() => {
      merged.merge(new DDSketch({ alpha: 0.02 }));
    }).toThrow(RangeError);
  });

  it('bounds its buckets by collapsing the lowest, keeping the high quantiles accurate', () => {
    const s = new DDSketch({ maxBuckets: 256 });
    const r = createRandom(12);
    // ln x spans about +-8: some 800 buckets of width ln(gamma) = 0.02, so the lowest ones collapse.
    const xs = Float64Array.from({ length: 20_000 }, () => Math.exp(2 * nextNormal(r)));
    for (const x of xs) s.update(x);
    const json = s.toJSON();
    expect(json.pos.counts.length).toBe(256);
    xs.sort();
    for (const q of [0.99, 0.999, 1]) {
      const exact = exactQuantile(xs, q);
      expect(Math.abs(s.quantile(q) - exact) / exact).toBeLessThanOrEqual(0.01 + 1e-12);
    }
    const low = exactQuantile(xs, 0.01);
    expect(Math.abs(s.quantile(0.01) - low) / low).toBeGreaterThan(0.01);
    // A collapsed sketch still merges and round-trips.
    const back = DDSketch.fromJSON(JSON.parse(JSON.stringify(s)));
    expect(back.ok && back.value.quantiles(QS)).toEqual(s.quantiles(QS));
    s.merge(s);
    expect(s.toJSON().pos.counts.length).toBeLessThanOrEqual(256);
  });

  it('round-trips through compact JSON with identical answers', () => {
    const [s] = build('lognormal', 100_000, 13);
    const text = JSON.stringify(s);
    console.info(`DDSketch alpha=1% lognormal n=1e5: ${text.length} bytes of JSON`);
    expect(text.length).toBeLessThan(4096);
    const back = DDSketch.fromJSON(JSON.parse(text));
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    expect(back.value.toJSON()).toEqual(s.toJSON());
    expect(back.value.quantiles(QS)).toEqual(s.quantiles(QS));
    const empty = DDSketch.fromJSON(JSON.parse(JSON.stringify(new DDSketch())));
    expect(empty.ok && empty.value.count).toBe(0);
  });

  it('rejects hostile JSON', () => {
    const s = new DDSketch();
    for (const x of [1, 2, 3, 0, -1]) s.update(x);
    const good = s.toJSON();
    expect(DDSketch.fromJSON(good).ok).toBe(true);
    const bad: unknown[] = [
      null,
      [],
      { ...good, alpha: 0 },
      { ...good, alpha: 2 },
      { ...good, maxBuckets: 1e9 },
      { ...good, pos: { offset: 0, counts: [-1] } },
      { ...good, pos: { offset: 0, counts: [1.5] } },
      { ...good, pos: { offset: 1e12, counts: [1] } },
      { ...good, pos: { offset: 0, counts: new Array<number>(3000).fill(1) } },
      { ...good, neg: { offset: 0, counts: [] } },
      { ...good, zero: -1 },
      { ...good, zero: 1, min: 0.5, neg: { offset: 0, counts: [] } },
      { ...good, min: null },
      { ...good, min: 5 },
      { ...good, sum: 'x' },
      { ...good, extra: 1 },
      { ...good, pos: { offset: 0, counts: [2 ** 53] } },
    ];
    for (const input of bad) {
      const r = DDSketch.fromJSON(input);
      expect(r.ok, JSON.stringify(input)).toBe(false);
      if (!r.ok) expect(r.code).toBe('EF_MALFORMED');
    }
  });

  it('never throws on arbitrary JSON values', () => {
    const good = new DDSketch();
    good.update(5);
    const base = good.toJSON();
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.jsonValue(),
        fc.constantFrom(...Object.keys(base)),
        (v, w, key) => {
          expect(typeof DDSketch.fromJSON(v).ok).toBe('boolean');
          const r = DDSketch.fromJSON({ ...base, [key]: w });
          if (r.ok) r.value.quantile(0.5);
        },
      ),
      { numRuns: 500, seed: 1 },
    );
  });
});
