import { describe, expect, it } from 'vitest';
import { FrequentItems } from '../sketches/frequent-items.js';
import { createRandom, nextFloat } from '../sketches/random.js';
import {
  categoricalJsDistance,
  frequencyVectors,
  linfDistance,
  type FrequencySummary,
} from './categorical-metrics.js';

/** Exact counts of a list of labels. */
function counts(labels: readonly string[]): FrequencySummary & { map: Map<string, number> } {
  const map = new Map<string, number>();
  for (const l of labels) map.set(l, (map.get(l) ?? 0) + 1);
  return {
    map,
    n: labels.length,
    items: () => [...map].map(([item, estimate]) => ({ item, estimate })),
    estimate: (item) => map.get(item) ?? 0,
  };
}

const repeat = (spec: Record<string, number>) =>
  Object.entries(spec).flatMap(([label, k]) => new Array<string>(k).fill(label));

describe('categorical drift metrics', () => {
  it('compare exact relative frequencies on the reference items, plus "other"', () => {
    const ref = counts(repeat({ a: 500, b: 300, c: 200 }));
    const live = counts(repeat({ a: 400, b: 300, d: 300 }));
    const v = frequencyVectors(ref, live);
    expect(v.items).toEqual(['a', 'b', 'c']);
    expect(v.reference).toEqual([0.5, 0.3, 0.2, 0]);
    expect(v.live.map((x) => +x.toFixed(12))).toEqual([0.4, 0.3, 0, 0.3]);
    // Independent JS distance (base 2) and L-infinity of those vectors.
    const p = [0.5, 0.3, 0.2, 0];
    const q = [0.4, 0.3, 0, 0.3];
    let js = 0;
    p.forEach((pi, i) => {
      const m = (pi + q[i]!) / 2;
      if (pi > 0) js += 0.5 * pi * Math.log2(pi / m);
      if (q[i]! > 0) js += 0.5 * q[i]! * Math.log2(q[i]! / m);
    });
    expect(categoricalJsDistance(ref, live)).toBeCloseTo(Math.sqrt(js), 12);
    expect(linfDistance(ref, live)).toBeCloseTo(0.3, 12);
  });

  it('pools reference items expected fewer than 5 times in the live window', () => {
    const ref = counts(repeat({ a: 900, b: 95, c: 5 }));
    const live = counts(repeat({ a: 90, b: 10 }));
    // 100 live values: b is expected 9.5 times, c 0.5 times.
    expect(frequencyVectors(ref, live).items).toEqual(['a', 'b']);
    expect(frequencyVectors(ref, live, 0.1).items).toEqual(['a', 'b', 'c']);
  });

  it('gives zero for identical distributions and one for disjoint ones', () => {
    const ref = counts(repeat({ a: 50, b: 50 }));
    expect(categoricalJsDistance(ref, counts(repeat({ a: 5, b: 5 })))).toBe(0);
    expect(categoricalJsDistance(ref, counts(repeat({ x: 10 })))).toBeCloseTo(1, 12);
    expect(linfDistance(ref, counts(repeat({ x: 10 })))).toBe(1);
  });

  it('agree with exact counts when the frequent-items summary holds every item', () => {
    const r = createRandom(4);
    const labels = Array.from({ length: 5000 }, () => `k${Math.floor(nextFloat(r) ** 2 * 30)}`);
    const live = labels.slice(0, 800);
    const sketch = (xs: string[]) => {
      const f = new FrequentItems();
      for (const x of xs) f.update(x);
      return f;
    };
    expect(categoricalJsDistance(sketch(labels), sketch(live))).toBeCloseTo(
      categoricalJsDistance(counts(labels), counts(live)),
      12,
    );
  });

  it('compares approximate summaries on heavy items with corrected counts', () => {
    const r = createRandom(5);
    // 200 classes, Zipf-like: more than the 16 counters of these summaries.
    const draw = () => `k${Math.floor(200 * nextFloat(r) ** 3)}`;
    const ref = new FrequentItems({ maxItems: 16 });
    for (let i = 0; i < 50_000; i++) ref.update(draw());
    const live = new FrequentItems({ maxItems: 16 });
    for (let i = 0; i < 5000; i++) live.update(draw());
    expect(ref.maxError).toBeGreaterThan(0);
    const v = frequencyVectors(ref, live);
    // Only items well above the per-item error get a bucket; the heaviest class is k0.
    expect(v.items.length).toBeGreaterThan(0);
    expect(v.items).toContain('k0');
    expect(v.reference[v.items.indexOf('k0')]).toBeCloseTo(
      (ref.estimate('k0') + ref.maxError) / ref.n,
      12,
    );
    // Same distribution: a small distance, where raw counts would differ by their error budgets.
    expect(categoricalJsDistance(ref, live)).toBeLessThan(0.1);
  });
});
