import { describe, expect, it } from 'vitest';
import { FrequentItems } from './frequent-items.js';
import { createRandom, nextFloat, nextInt } from './random.js';
import type { RandomSource } from './types.js';

/** Zipf-like item ids over `distinct` items (item i has weight about 1 / (i + 1)^s). */
function zipfStream(n: number, distinct: number, s: number, r: RandomSource): string[] {
  const cum: number[] = [];
  let total = 0;
  for (let i = 0; i < distinct; i++) cum.push((total += 1 / (i + 1) ** s));
  return Array.from({ length: n }, () => {
    const u = nextFloat(r) * total;
    let lo = 0;
    let hi = distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return `item-${lo}`;
  });
}

function truth(items: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const it of items) m.set(it, (m.get(it) ?? 0) + 1);
  return m;
}

/** The guarantee: f - maxError <= estimate <= f, and every item with f > maxError is tracked. */
function expectGuarantee(fi: FrequentItems, exact: Map<string, number>): void {
  let n = 0;
  for (const f of exact.values()) n += f;
  expect(fi.n).toBe(n);
  expect(fi.size).toBeLessThanOrEqual(fi.maxItems);
  expect(fi.maxError).toBeLessThanOrEqual(n / (fi.maxItems + 1) + 1e-9);
  const violations: string[] = [];
  for (const [item, f] of exact) {
    const est = fi.estimate(item);
    if (est > f || est < f - fi.maxError - 1e-9) violations.push(`${item}: ${est} vs ${f}`);
    if (fi.lowerBound(item) > f || fi.upperBound(item) < f) violations.push(`${item}: bounds`);
    if (f > fi.maxError && est === 0) violations.push(`${item}: missing (f = ${f})`);
  }
  expect(violations).toEqual([]);
}

describe('FrequentItems', () => {
  it('is exact while the items fit', () => {
    const fi = new FrequentItems({ maxItems: 4 });
    for (const x of ['a', 'b', 'a', 'c', 'a', 'b']) fi.update(x);
    expect(fi.maxError).toBe(0);
    expect(fi.top()).toEqual([
      { item: 'a', estimate: 3, lowerBound: 3, upperBound: 3 },
      { item: 'b', estimate: 2, lowerBound: 2, upperBound: 2 },
      { item: 'c', estimate: 1, lowerBound: 1, upperBound: 1 },
    ]);
    expect(fi.top(1).map((f) => f.item)).toEqual(['a']);
    expect(fi.estimate('zzz')).toBe(0);
  });

  it('keeps every item above the error bound on skewed streams', () => {
    for (let seed = 0; seed < 6; seed++) {
      const r = createRandom(seed);
      const stream = zipfStream(50_000, 2000, 0.8 + 0.1 * seed, r);
      const fi = new FrequentItems();
      for (const x of stream) fi.update(x);
      expectGuarantee(fi, truth(stream));
    }
  });

  it('keeps the guarantee with weighted updates', () => {
    const r = createRandom(10);
    const fi = new FrequentItems({ maxItems: 16 });
    const exact = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const item = `w${Math.floor(60 * nextFloat(r) ** 3)}`;
      const w = 1 + nextInt(r, 10);
      fi.update(item, w);
      exact.set(item, (exact.get(item) ?? 0) + w);
    }
    expectGuarantee(fi, exact);
  });

  it('keeps the guarantee after merges, in sequence and as a tree', () => {
    for (let seed = 0; seed < 4; seed++) {
      const r = createRandom(100 + seed);
      const parts = Array.from({ length: 64 }, (_, p) =>
        // Each part has its own skew, so the heavy hitters differ between parts.
        zipfStream(500 + nextInt(r, 1000), 500, 0.6 + (p % 5) * 0.2, r).map((x) =>
          p % 3 === 0 ? `${x}-p` : x,
        ),
      );
      const exact = truth(parts.flat());
      const sketches = parts.map((part) => {
        const fi = new FrequentItems({ maxItems: 32 });
        for (const x of part) fi.update(x);
        return fi;
      });
      const sequential = new FrequentItems({ maxItems: 32 });
      for (const s of sketches) sequential.merge(s);
      expectGuarantee(sequential, exact);
      let level = sketches;
      while (level.length > 1) {
        const next: FrequentItems[] = [];
        for (let i = 0; i < level.length; i += 2) {
          level[i]!.merge(level[i + 1]!);
          next.push(level[i]!);
        }
        level = next;
      }
      expectGuarantee(level[0]!, exact);
    }
  });

  it('merges into itself and refuses a summary with fewer counters', () => {
    const fi = new FrequentItems({ maxItems: 8 });
    for (const x of ['a', 'b', 'a']) fi.update(x);
    fi.merge(fi);
    expect(fi.estimate('a')).toBe(4);
    expect(fi.n).toBe(6);
    expect(() => {
      fi.merge(new FrequentItems({ maxItems: 4 }));
    }).toThrow(RangeError);
    fi.merge(new FrequentItems({ maxItems: 100 }));
    expect(fi.n).toBe(6);
  });

  it('rejects bad weights and options; truncates very long items', () => {
    const fi = new FrequentItems();
    expect(() => {
      fi.update('a', 0);
    }).toThrow(RangeError);
    expect(() => {
      fi.update('a', 1.5);
    }).toThrow(RangeError);
    expect(() => new FrequentItems({ maxItems: 0 })).toThrow(RangeError);
    const long = 'x'.repeat(1000);
    fi.update(long);
    expect(fi.estimate(long)).toBe(1);
    expect(fi.top()[0]!.item).toHaveLength(256);
  });

  it('round-trips through JSON', () => {
    const r = createRandom(5);
    const fi = new FrequentItems({ maxItems: 16 });
    for (const x of zipfStream(5000, 300, 1, r)) fi.update(x);
    const back = FrequentItems.fromJSON(JSON.parse(JSON.stringify(fi)));
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    expect(back.value.toJSON()).toEqual(fi.toJSON());
    expect(back.value.maxError).toBe(fi.maxError);
    expect(back.value.top(5)).toEqual(fi.top(5));
  });

  it('rejects hostile JSON', () => {
    const good = { maxItems: 2, n: 10, items: [['a', 5] as [string, number]] };
    expect(FrequentItems.fromJSON(good).ok).toBe(true);
    const bad: unknown[] = [
      null,
      { ...good, maxItems: 0 },
      { ...good, maxItems: 1e9 },
      { ...good, n: -1 },
      {
        ...good,
        items: [
          ['a', 5],
          ['b', 1],
          ['c', 1],
        ],
      },
      {
        ...good,
        items: [
          ['a', 5],
          ['a', 1],
        ],
      },
      { ...good, items: [['a', 11]] },
      { ...good, items: [['a', 0]] },
      { ...good, items: [['a', 1.5]] },
      { ...good, items: [[1, 1]] },
      { ...good, items: [['x'.repeat(300), 1]] },
      { ...good, more: true },
    ];
    for (const input of bad) {
      const r = FrequentItems.fromJSON(input);
      expect(r.ok, JSON.stringify(input)).toBe(false);
      if (!r.ok) expect(r.code).toBe('EF_MALFORMED');
    }
  });
});
