import { describe, expect, it } from 'vitest';
import { ExactSummary } from '../sketches/exact-summary.js';
import { createRandom, nextFloat, nextNormal } from '../sketches/random.js';
import type { FeatureSpec } from './feature-spec.js';
import {
  mergeProfiles,
  Profile,
  emptyFeatureSketch,
  type CategoricalFeatureSketch,
  type NumericFeatureSketch,
} from './profile.js';
import { Profiler } from './profiler.js';

const spec: FeatureSpec = {
  inputs: [{ kind: 'tabular', input: 'x', columns: ['a', 'b'] }],
  outputs: [{ kind: 'classifier', output: 'p', scores: 'probabilities', classes: ['n', 'y'] }],
};

/** Rows of (a, b) and class scores from a seeded generator. */
function batch(seed: number, rows: number) {
  const r = createRandom(seed);
  const x = new Float64Array(rows * 2);
  const p = new Float64Array(rows * 2);
  for (let i = 0; i < rows; i++) {
    x[2 * i] = nextNormal(r) * 3 + 1;
    x[2 * i + 1] = i % 17 === 0 ? NaN : Math.exp(nextNormal(r));
    const s = nextFloat(r);
    p[2 * i] = s;
    p[2 * i + 1] = 1 - s;
  }
  return { x, p, rows };
}

function profileOf(batches: ReturnType<typeof batch>[], seed: number): Profile {
  const profiler = Profiler.create(spec, { random: createRandom(seed) });
  if (!profiler.ok) throw new Error(profiler.message);
  for (const b of batches) {
    const r = profiler.value.observe(
      { x: { data: b.x, dims: [b.rows, 2] } },
      { p: { data: b.p, dims: [b.rows, 2] } },
    );
    if (!r.ok) throw new Error(r.message);
  }
  return profiler.value.snapshot();
}

const num = (p: Profile, n: string) => p.get(n) as NumericFeatureSketch;
const cat = (p: Profile, n: string) => p.get(n) as CategoricalFeatureSketch;

describe('mergeProfiles', () => {
  const parts = [batch(1, 3000), batch(2, 5000), batch(3, 4000), batch(4, 10)];
  const merged = mergeProfiles(
    parts.map((b, i) => profileOf([b], 100 + i)),
    createRandom(9),
  );
  const whole = profileOf(parts, 200);

  it('equals the profile of the concatenated data: summaries exactly, up to rounding', () => {
    expect(merged.ok).toBe(true);
    if (!merged.ok) return;
    for (const name of ['x.a', 'x.b', 'p.top_score']) {
      const m = num(merged.value, name).summary;
      const w = num(whole, name).summary;
      expect(m.count).toBe(w.count);
      expect(m.nans).toBe(w.nans);
      expect(m.min).toBe(w.min);
      expect(m.max).toBe(w.max);
      expect(m.mean).toBeCloseTo(w.mean, 12);
      expect(m.m2 / w.m2).toBeCloseTo(1, 12);
    }
    expect(cat(merged.value, 'p.class').items.toJSON()).toEqual(
      cat(whole, 'p.class').items.toJSON(),
    );
  });

  it('answers quantiles of the concatenated data within the KLL error bound', () => {
    if (!merged.ok) throw new Error('merge failed');
    const all = new ExactSummary(
      parts.flatMap((b) => Array.from(b.x).filter((_, i) => i % 2 === 0)),
    );
    const kll = num(merged.value, 'x.a').kll;
    expect(kll.n).toBe(all.n);
    const eps = kll.normalizedRankError();
    for (const q of [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]) {
      expect(Math.abs(all.rank(kll.quantile(q)) - q)).toBeLessThanOrEqual(eps);
    }
  });

  it('leaves its inputs unchanged', () => {
    const a = profileOf([parts[0]!], 1);
    const b = profileOf([parts[1]!], 2);
    const before = num(a, 'x.a').summary.toJSON();
    const kllBefore = num(a, 'x.a').kll.toBase64();
    const m = a.merge(b, createRandom(3));
    expect(m.ok).toBe(true);
    expect(num(a, 'x.a').summary.toJSON()).toEqual(before);
    expect(num(a, 'x.a').kll.toBase64()).toBe(kllBefore);
  });

  it('takes the union of features and spans the windows', () => {
    const a = new Profile([['f', emptyFeatureSketch('numeric')]], {
      start: '2024-05-01T10:00:00Z',
      end: '2024-05-01T10:01:00Z',
    });
    const b = new Profile([['g', emptyFeatureSketch('categorical')]], {
      start: '2024-05-01T09:59:00Z',
      end: '2024-05-01T10:00:30Z',
    });
    const m = mergeProfiles([a, b]);
    expect(m.ok && m.value.names).toEqual(['f', 'g']);
    expect(m.ok && m.value.window).toEqual({
      start: '2024-05-01T09:59:00Z',
      end: '2024-05-01T10:01:00Z',
    });
  });

  it('fails on a feature that is numeric in one profile and categorical in another', () => {
    const a = new Profile([['f', emptyFeatureSketch('numeric')]]);
    const b = new Profile([['f', emptyFeatureSketch('categorical')]]);
    const m = mergeProfiles([a, b]);
    expect(!m.ok && m.code).toBe('EF_MALFORMED');
  });

  it('fails on KLL sketches with different k, and keeps the smaller frequent-items capacity', () => {
    const a = new Profile([['f', emptyFeatureSketch('numeric', { kllK: 100 })]]);
    const b = new Profile([['f', emptyFeatureSketch('numeric', { kllK: 200 })]]);
    expect(mergeProfiles([a, b]).ok).toBe(false);
    const c = new Profile([['g', emptyFeatureSketch('categorical', { maxItems: 128 })]]);
    const d = new Profile([['g', emptyFeatureSketch('categorical', { maxItems: 32 })]]);
    const m = mergeProfiles([c, d]);
    expect(m.ok && (m.value.get('g') as CategoricalFeatureSketch).items.maxItems).toBe(32);
  });
});
