import { describe, expect, it } from 'vitest';
import { Profile, emptyFeatureSketch, type FeatureSketch } from '../profiles/profile.js';
import { ExactSummary } from '../sketches/exact-summary.js';
import { KllSketch } from '../sketches/kll.js';
import { createRandom, nextNormal } from '../sketches/random.js';
import type { RandomSource } from '../sketches/types.js';
import { jsDistance, ksDistance, psi, wasserstein1 } from './numeric-metrics.js';
import {
  DEFAULT_DRIFT_OPTIONS,
  DEFAULT_DRIFT_THRESHOLDS,
  driftReport,
  DriftReportOptionsSchema,
  type FeatureDrift,
} from './report.js';

function numericFeature(values: readonly number[], random: RandomSource): FeatureSketch {
  const s = emptyFeatureSketch('numeric', { random });
  if (s.kind !== 'numeric') throw new Error('kind');
  for (const x of values) {
    s.summary.update(x);
    s.kll.update(x);
  }
  return s;
}

function categoricalFeature(labels: readonly string[]): FeatureSketch {
  const s = emptyFeatureSketch('categorical');
  if (s.kind !== 'categorical') throw new Error('kind');
  for (const l of labels) s.items.update(l);
  return s;
}

const normals = (seed: number, n: number, mu = 0, sigma = 1) => {
  const r = createRandom(seed);
  return Array.from({ length: n }, () => mu + sigma * nextNormal(r));
};
const classes = (n: number, pYes: number) =>
  Array.from({ length: n }, (_, i) => ((i * 0.6180339887) % 1 < pYes ? 'yes' : 'no'));

const reference = new Profile([
  ['x', numericFeature(normals(1, 20_000), createRandom(10))],
  ['y', numericFeature(normals(2, 20_000, 5, 2), createRandom(11))],
  ['c', categoricalFeature(classes(20_000, 0.3))],
  ['only_ref', numericFeature(normals(3, 1000), createRandom(12))],
]);

const byName = (features: readonly FeatureDrift[], name: string) =>
  features.find((f) => f.feature === name)!;

describe('driftReport', () => {
  const live = new Profile([
    ['x', numericFeature(normals(4, 1000), createRandom(13))],
    ['y', numericFeature(normals(5, 1000, 6, 2), createRandom(14))],
    ['c', categoricalFeature(classes(1000, 0.6))],
    ['only_live', numericFeature(normals(6, 1000), createRandom(15))],
  ]);
  const report = driftReport(reference, live);

  it('flags the shifted features and passes the unchanged one', () => {
    expect(byName(report.features, 'x').status).toBe('ok');
    expect(byName(report.features, 'y').status).toBe('drifted');
    expect(byName(report.features, 'c').status).toBe('drifted');
    expect(report.drifted).toEqual(['c', 'y']);
    expect(report.status).toBe('drifted');
  });

  it('reports the primary metric, its threshold, counts and every metric of the kind', () => {
    const y = byName(report.features, 'y');
    expect(y.metric).toBe('js');
    expect(y.n).toBe(1000);
    expect(y.referenceN).toBe(20_000);
    expect(y.drifted).toBe(true);
    expect(y.value).toBeGreaterThan(y.threshold);
    expect(y.metrics.map((m) => m.metric)).toEqual(['js', 'psi', 'ks', 'wasserstein']);
    const c = byName(report.features, 'c');
    expect(c.metric).toBe('categorical_js');
    expect(c.metrics.map((m) => m.metric)).toEqual(['categorical_js', 'linf']);
    expect(c.metrics[1]!.value).toBeCloseTo(0.3, 1);
  });

  it('marks features missing on one side as insufficient_data', () => {
    const onlyRef = byName(report.features, 'only_ref');
    expect(onlyRef.status).toBe('insufficient_data');
    expect(onlyRef.reason).toMatch(/not in the live profile/);
    expect(byName(report.features, 'only_live').reason).toMatch(/not in the reference/);
  });

  it('needs minSamples values on both sides before concluding anything', () => {
    const small = new Profile([['y', numericFeature(normals(7, 150, 9, 2), createRandom(16))]]);
    const r = driftReport(reference, small);
    const y = byName(r.features, 'y');
    expect(y.status).toBe('insufficient_data');
    expect(y.drifted).toBe(false);
    expect(y.value).toBeGreaterThan(y.threshold);
    expect(r.status).toBe('insufficient_data');
    expect(byName(driftReport(reference, small, { minSamples: 100 }).features, 'y').status).toBe(
      'drifted',
    );
  });

  it('marks a feature whose kind differs between the profiles as insufficient_data', () => {
    const odd = new Profile([['x', categoricalFeature(classes(500, 0.5))]]);
    const x = byName(driftReport(reference, odd).features, 'x');
    expect(x.status).toBe('insufficient_data');
    expect(x.reason).toMatch(/numeric in the reference/);
  });

  it('takes thresholds and metrics per report and per feature', () => {
    const strict = driftReport(reference, live, {
      numericMetric: 'ks',
      features: { x: { thresholds: { ks: 0 } }, y: { numericMetric: 'wasserstein' } },
    });
    const x = byName(strict.features, 'x');
    expect(x.metric).toBe('ks');
    expect(x.threshold).toBeGreaterThan(0); // raised to 2 x rank error and the noise allowance
    expect(byName(strict.features, 'y').metric).toBe('wasserstein');
    const fixed = driftReport(reference, live, {
      sampleSizeAware: false,
      thresholds: { js: 0.5 },
    });
    expect(byName(fixed.features, 'x').threshold).toBe(0.5);
    expect(byName(fixed.features, 'y').status).toBe('ok');
  });

  it('raises small-window thresholds above the floors', () => {
    const w200 = new Profile([['x', numericFeature(normals(8, 200), createRandom(17))]]);
    const x = byName(driftReport(reference, w200).features, 'x');
    expect(x.threshold).toBeGreaterThan(DEFAULT_DRIFT_THRESHOLDS.js);
    expect(x.threshold).toBeLessThan(0.2);
    expect(byName(report.features, 'x').threshold).toBe(DEFAULT_DRIFT_THRESHOLDS.js);
  });

  it('publishes its defaults', () => {
    expect(DEFAULT_DRIFT_THRESHOLDS).toEqual({
      psi: 0.2,
      js: 0.1,
      ks: 0.1,
      wasserstein: 0.1,
      categorical_js: 0.1,
      linf: 0.2,
    });
    expect(DEFAULT_DRIFT_OPTIONS.minSamples).toBe(200);
    expect(DEFAULT_DRIFT_OPTIONS.numericMetric).toBe('js');
    expect(DriftReportOptionsSchema.safeParse({ thresholds: { psi: 0.3 } }).success).toBe(true);
    expect(DriftReportOptionsSchema.safeParse({ thresholds: { nope: 1 } }).success).toBe(false);
  });
});

describe('numeric metrics on KLL sketches', () => {
  it('are close to the same metrics on the exact samples', () => {
    for (const [seed, shift] of [
      [20, 0],
      [21, 0.3],
      [22, 1],
    ] as const) {
      const refValues = normals(seed, 50_000);
      const liveValues = normals(seed + 100, 5000, shift);
      const sketch = (xs: number[], s: number) => {
        const k = new KllSketch({ random: createRandom(s) });
        for (const x of xs) k.update(x);
        return k;
      };
      const rk = sketch(refValues, 1);
      const lk = sketch(liveValues, 2);
      const re = new ExactSummary(refValues);
      const le = new ExactSummary(liveValues);
      const eps = rk.normalizedRankError();
      expect(Math.abs(ksDistance(rk, lk) - ksDistance(re, le))).toBeLessThan(2 * eps);
      expect(Math.abs(jsDistance(rk, lk) - jsDistance(re, le))).toBeLessThan(0.03);
      expect(Math.abs(psi(rk, lk) - psi(re, le))).toBeLessThan(0.02 + 0.1 * psi(re, le));
      expect(Math.abs(wasserstein1(rk, lk) - wasserstein1(re, le))).toBeLessThan(0.03);
    }
  });
});
