import { describe, expect, it } from 'vitest';
import { NumericSummary } from './numeric-summary.js';
import { createRandom, nextFloat, nextInt, nextNormal } from './random.js';

function summaryOf(values: readonly (number | null | undefined)[]): NumericSummary {
  const s = new NumericSummary();
  for (const x of values) s.update(x);
  return s;
}

function relClose(a: number, b: number, rel = 1e-9): boolean {
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-300);
}

describe('NumericSummary', () => {
  it('counts finite values, nulls, NaN and infinities separately', () => {
    const s = summaryOf([1, null, NaN, Infinity, -Infinity, undefined, 3, Infinity]);
    expect(s.count).toBe(2);
    expect(s.nulls).toBe(2);
    expect(s.nans).toBe(1);
    expect(s.posInf).toBe(2);
    expect(s.negInf).toBe(1);
    expect(s.infinities).toBe(3);
    expect(s.total).toBe(8);
    expect(s.min).toBe(1);
    expect(s.max).toBe(3);
    expect(s.mean).toBe(2);
    expect(s.m2).toBe(2);
    expect(s.variance).toBe(1);
    expect(s.sampleVariance).toBe(2);
    expect(s.std).toBe(1);
  });

  it('answers NaN for the moments of an empty summary', () => {
    const s = summaryOf([null, NaN]);
    expect(s.count).toBe(0);
    expect(s.min).toBeNaN();
    expect(s.max).toBeNaN();
    expect(s.mean).toBeNaN();
    expect(s.variance).toBeNaN();
    expect(s.m2).toBe(0);
  });

  it('is accurate where the naive sum-of-squares formula cancels', () => {
    const s = summaryOf([1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16]);
    expect(s.mean).toBe(1e9 + 10);
    expect(s.variance).toBeCloseTo(22.5, 6);
  });

  it('merges any split, in any order, to the one-pass result (1e-9 relative)', () => {
    for (let seed = 0; seed < 40; seed++) {
      const r = createRandom(seed);
      const n = 1 + nextInt(r, 5000);
      const offset = (nextFloat(r) - 0.5) * 1e6;
      const values: (number | null)[] = [];
      for (let i = 0; i < n; i++) {
        const u = nextFloat(r);
        values.push(u < 0.02 ? null : u < 0.03 ? NaN : offset + 100 * nextNormal(r));
      }
      const oneShot = summaryOf(values);
      // Split at random cut points, then merge the pieces in a random order or as a tree.
      const cuts = [0, ...Array.from({ length: nextInt(r, 20) }, () => nextInt(r, n + 1)), n];
      cuts.sort((a, b) => a - b);
      const pieces = cuts.slice(1).map((end, i) => summaryOf(values.slice(cuts[i], end)));
      for (let i = pieces.length - 1; i > 0; i--) {
        const j = nextInt(r, i + 1);
        [pieces[i], pieces[j]] = [pieces[j]!, pieces[i]!];
      }
      let level = pieces;
      if (seed % 2 === 0) {
        const merged = new NumericSummary();
        for (const p of pieces) merged.merge(p);
        level = [merged];
      }
      while (level.length > 1) {
        const next: NumericSummary[] = [];
        for (let i = 0; i < level.length; i += 2) {
          const a = level[i]!;
          if (level[i + 1]) a.merge(level[i + 1]!);
          next.push(a);
        }
        level = next;
      }
      const merged = level[0]!;
      expect(merged.count).toBe(oneShot.count);
      expect(merged.nulls).toBe(oneShot.nulls);
      expect(merged.nans).toBe(oneShot.nans);
      expect(merged.min).toBe(oneShot.min);
      expect(merged.max).toBe(oneShot.max);
      expect(relClose(merged.mean, oneShot.mean), `mean, seed ${seed}`).toBe(true);
      expect(relClose(merged.m2, oneShot.m2), `m2, seed ${seed}`).toBe(true);
    }
  });

  it('merges with empty summaries and with itself', () => {
    const s = summaryOf([1, 2, 3, null]);
    s.merge(new NumericSummary());
    expect(s.toJSON()).toEqual(summaryOf([1, 2, 3, null]).toJSON());
    const empty = new NumericSummary();
    empty.merge(s);
    expect(empty.toJSON()).toEqual(s.toJSON());
    s.merge(s);
    expect(s.toJSON()).toEqual(summaryOf([1, 2, 3, null, 1, 2, 3, null]).toJSON());
  });

  it('round-trips through JSON', () => {
    for (const values of [[], [null, NaN], [42], [1.5, -2, 1e100, Infinity, null]]) {
      const s = summaryOf(values);
      const json = JSON.parse(JSON.stringify(s)) as unknown;
      const back = NumericSummary.fromJSON(json);
      expect(back.ok).toBe(true);
      if (back.ok) expect(back.value.toJSON()).toEqual(s.toJSON());
    }
  });

  it('carries overflowed moments of huge values through JSON', () => {
    const s = summaryOf([1e300, -1e300, 1e300]);
    expect(s.m2).toBe(Infinity);
    const back = NumericSummary.fromJSON(JSON.parse(JSON.stringify(s)));
    expect(back.ok && back.value.m2).toBe(Infinity);
    expect(back.ok && back.value.max).toBe(1e300);
  });

  it('rejects hostile JSON', () => {
    const good = summaryOf([1, 2, 3]).toJSON();
    const bad: unknown[] = [
      null,
      'x',
      [],
      { ...good, count: -1 },
      { ...good, count: 1.5 },
      { ...good, nulls: '3' },
      { ...good, m2: -1 },
      { ...good, mean: NaN },
      { ...good, mean: Infinity },
      { ...good, min: 5 },
      { ...good, mean: 10 },
      { ...good, min: null },
      { ...good, count: 0 },
      { ...good, count: 1 },
      { ...good, count: 0, min: null, max: null, mean: null },
      { ...good, min: null, max: null, mean: null },
      { ...good, extra: 1 },
      { ...good, count: 2 ** 60 },
    ];
    for (const input of bad) {
      const r = NumericSummary.fromJSON(input);
      expect(r.ok, JSON.stringify(input)).toBe(false);
      if (!r.ok) expect(r.code).toBe('EF_MALFORMED');
    }
  });
});
