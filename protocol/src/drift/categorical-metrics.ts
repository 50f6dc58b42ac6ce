/**
 * Distances between two categorical distributions given as frequent-items summaries (reference vs
 * live): Jensen-Shannon distance and L-infinity of normalised frequency vectors.
 *
 * Buckets are defined by the reference, as the numeric bins are: one bucket per reference item
 * expected at least `minExpected` (default 5) times in a window of the live size, plus one "other"
 * bucket for everything else on each side (rare items, items the reference never saw). Rare items
 * are pooled because a bucket expected to be empty most of the time inflates JS far beyond its
 * chi-square approximation (an empty bucket contributes p/2 bits, the approximation p/(4 ln 2)),
 * which would make small windows of many-class models false-alarm.
 *
 * When both summaries are exact (`maxError` 0: no counter was ever decremented, as for a classifier
 * whose classes fit the summary's capacity), frequencies are exact relative counts.
 *
 * When either is approximate (Misra-Gries: every count is low by up to `maxError`), raw counts would
 * compare error budgets: a summary of 100,000 values from a long-tailed distribution keeps ~66% of
 * its mass in counters, one of 200 values keeps all of it. Then only heavy reference items get a
 * bucket, those above 3 x the larger per-item error (maxError / n) of the two sides, which both
 * summaries track reliably, and a tracked item's count is corrected to count + maxError (an item held
 * since its first occurrence lost exactly maxError to decrements, so heavy items are nearly exact).
 */
import { jsDistanceOfProbabilities } from './numeric-metrics.js';

/** The read side of a frequency summary (`FrequentItems` fits; so does an exact counter). */
export interface FrequencySummary {
  /** Total weight counted. */
  readonly n: number;
  /** Every tracked item with its (estimated) count. */
  items(): Iterable<{ readonly item: string; readonly estimate: number }>;
  /** Estimated count of `item` (0 when untracked). */
  estimate(item: string): number;
  /** Largest under-count of any item (0 or absent: the counts are exact). */
  readonly maxError?: number;
}

/** Aligned frequency vectors: entry i is `items[i]`; the last entry is the "other" bucket. */
export interface FrequencyVectors {
  readonly items: string[];
  readonly reference: number[];
  readonly live: number[];
}

/** Default smallest expected live count of a bucket of its own. */
export const DEFAULT_MIN_EXPECTED = 5;

function normalised(s: FrequencySummary, items: readonly string[], corrected: boolean): number[] {
  const out: number[] = [];
  let tracked = 0;
  const error = corrected ? (s.maxError ?? 0) : 0;
  for (const item of items) {
    const c = s.estimate(item);
    const p = s.n > 0 && c > 0 ? (c + error) / s.n : 0;
    out.push(p);
    tracked += p;
  }
  // Rounding residue is not a bucket.
  const rest = s.n > 0 ? 1 - tracked : 0;
  out.push(rest > 1e-12 ? rest : 0);
  return out;
}

/** Per-item error of a summary as a fraction of its count. */
const relativeError = (s: FrequencySummary) => (s.n > 0 ? (s.maxError ?? 0) / s.n : 0);

/** Frequency vectors on the reference's buckets (see the module comment), items sorted. */
export function frequencyVectors(
  reference: FrequencySummary,
  live: FrequencySummary,
  minExpected: number = DEFAULT_MIN_EXPECTED,
): FrequencyVectors {
  const phi = Math.max(relativeError(reference), relativeError(live));
  const approximate = phi > 0;
  const error = approximate ? (reference.maxError ?? 0) : 0;
  // Smallest reference share with a bucket of its own.
  const cut = Math.max(approximate ? 3 * phi : 0, live.n > 0 ? minExpected / live.n : 0);
  const items: string[] = [];
  if (reference.n > 0) {
    for (const f of reference.items()) {
      if ((f.estimate + error) / reference.n >= cut) items.push(f.item);
    }
  }
  items.sort();
  return {
    items,
    reference: normalised(reference, items, approximate),
    live: normalised(live, items, approximate),
  };
}

/** Jensen-Shannon distance (base 2, in [0, 1]) between the two frequency vectors. */
export function categoricalJsDistance(
  reference: FrequencySummary,
  live: FrequencySummary,
  minExpected?: number,
): number {
  const v = frequencyVectors(reference, live, minExpected);
  return jsDistanceOfProbabilities(v.reference, v.live);
}

/** Largest absolute difference of normalised frequencies over all buckets, "other" included. */
export function linfOfVectors(v: FrequencyVectors): number {
  let d = 0;
  for (let i = 0; i < v.reference.length; i++) {
    d = Math.max(d, Math.abs(v.reference[i]! - v.live[i]!));
  }
  return d;
}

/** L-infinity distance of the two frequency vectors. */
export function linfDistance(
  reference: FrequencySummary,
  live: FrequencySummary,
  minExpected?: number,
): number {
  return linfOfVectors(frequencyVectors(reference, live, minExpected));
}

/** Number of buckets (items + "other") with mass on either side: the degrees of freedom + 1. */
export function occupiedBuckets(v: FrequencyVectors): number {
  let k = 0;
  for (let i = 0; i < v.reference.length; i++) if (v.reference[i]! > 0 || v.live[i]! > 0) k++;
  return k;
}
