/**
 * A small version of bench/drift-eval.ts: the default gate on drift-free windows and on shifted
 * ones, with sketches as devices build them. The bench runs 1000+ windows per cell; this guards the
 * defaults against regressions in a few seconds.
 */
import { describe, expect, it } from 'vitest';
import { KllSketch } from '../sketches/kll.js';
import { createRandom, nextFloat, nextNormal } from '../sketches/random.js';
import type { RandomSource } from '../sketches/types.js';
import { numericMetric, thresholdSettings } from './report.js';

const WINDOWS = 100;
const settings = thresholdSettings();

function sketchOf(n: number, draw: () => number, random: RandomSource): KllSketch {
  const k = new KllSketch({ random });
  for (let i = 0; i < n; i++) k.update(draw());
  return k;
}

/** Fraction of windows the default primary metric flags. */
function flagged(
  reference: KllSketch,
  referenceStd: number,
  n: number,
  draw: () => number,
  random: RandomSource,
): number {
  let hits = 0;
  for (let w = 0; w < WINDOWS; w++) {
    const live = sketchOf(n, draw, random);
    const r = numericMetric(
      { reference, live, referenceStd, rankError: reference.normalizedRankError() },
      settings.numericMetric,
      settings,
    );
    if (r.drifted) hits++;
  }
  return hits / WINDOWS;
}

describe('default drift gate (small evaluation)', () => {
  const r = createRandom(2024);
  const coins = createRandom(7);
  const distributions = [
    { name: 'normal', draw: () => nextNormal(r), std: 1 },
    {
      name: 'lognormal',
      draw: () => Math.exp(nextNormal(r)),
      std: Math.sqrt((Math.E - 1) * Math.E),
    },
    { name: 'uniform', draw: () => nextFloat(r), std: Math.sqrt(1 / 12) },
  ];

  for (const d of distributions) {
    const reference = sketchOf(50_000, d.draw, coins);

    it(`rarely fires on drift-free windows (${d.name})`, () => {
      // Target <= 1% per feature-window (measured on 1000s of windows in the bench); 100 windows
      // allow a loose bound only.
      expect(flagged(reference, d.std, 200, d.draw, coins)).toBeLessThanOrEqual(0.03);
      expect(flagged(reference, d.std, 1000, d.draw, coins)).toBeLessThanOrEqual(0.03);
    });

    it(`detects a 1 sigma mean shift at n = 200 and 0.5 sigma at n = 1000 (${d.name})`, () => {
      expect(flagged(reference, d.std, 200, () => d.draw() + d.std, coins)).toBeGreaterThanOrEqual(
        0.95,
      );
      expect(
        flagged(reference, d.std, 1000, () => d.draw() + 0.5 * d.std, coins),
      ).toBeGreaterThanOrEqual(0.95);
    });
  }
});
