/**
 * Distances between two one-dimensional numeric distributions, computed from their quantile
 * summaries only (reference vs live). Written once against `QuantileSummary`, so the same code runs
 * on KLL sketches (what devices send) and on exact summaries of raw samples (what the evaluation
 * harness compares them with).
 *
 * Binned metrics (PSI, Jensen-Shannon) share one binning: interior edges at the reference's
 * quantiles i/B (i = 1..B-1), deduplicated, so the reference puts about 1/B of its mass in each bin;
 * bins are (-inf, e1], (e1, e2], ..., (e_m, +inf) to match the inclusive `cdf` of the interface.
 */
import type { QuantileSummary } from '../sketches/types.js';

/** A quantile summary that may answer many quantile queries at once (KLL and exact summaries do). */
export interface BatchQuantileSummary extends QuantileSummary {
  quantiles?(qs: readonly number[]): number[];
}

/** Default number of bins for PSI and Jensen-Shannon. */
export const DEFAULT_BINS = 10;
/**
 * Floor applied to empty bins in PSI, on both sides, without renormalising: PSI has a log ratio, so
 * an empty bin would make it infinite. 1e-4 caps one empty bin that holds 10% of the other side at
 * (0.1 - 1e-4) * ln(0.1 / 1e-4) ~ 0.69, well above any threshold, yet finite and comparable.
 */
export const PSI_EMPTY_BIN_FLOOR = 1e-4;
/** Default number of quantile points (per summary) for the KS grid: q = i/G, i = 0..G. */
export const DEFAULT_KS_GRID = 200;
/** Default number of midpoints for the Wasserstein-1 quantile integral. */
export const DEFAULT_WASSERSTEIN_STEPS = 1000;

/** Quantiles at several ranks, through the batch method when the summary has one. */
export function quantilesOf(s: BatchQuantileSummary, qs: readonly number[]): number[] {
  return s.quantiles ? s.quantiles(qs) : qs.map((q) => s.quantile(q));
}

/** Sorted, finite, strictly increasing copy of `xs`. */
function strictlyIncreasing(xs: readonly number[]): number[] {
  const sorted = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const out: number[] = [];
  for (const x of sorted) if (out.length === 0 || x > out[out.length - 1]!) out.push(x);
  return out;
}

/**
 * Bin edges at the reference's quantiles i/bins (i = 1..bins-1), deduplicated: a distribution with
 * point masses yields fewer, wider bins. Empty when the reference is empty.
 */
export function referenceBinEdges(
  reference: BatchQuantileSummary,
  bins: number = DEFAULT_BINS,
): number[] {
  if (reference.n === 0) return [];
  const qs: number[] = [];
  for (let i = 1; i < bins; i++) qs.push(i / bins);
  return strictlyIncreasing(quantilesOf(reference, qs));
}

/** Fraction of the summary's values in each bin delimited by `edges` (edges.length + 1 bins). */
export function binProbabilities(s: QuantileSummary, edges: readonly number[]): number[] {
  if (s.n === 0) return new Array<number>(edges.length + 1).fill(0);
  const cdf = s.cdf(edges);
  const out = new Array<number>(cdf.length);
  let previous = 0;
  for (let i = 0; i < cdf.length; i++) {
    // Clamp: a sketch's cdf is monotone, but guard against rounding producing -1e-17.
    out[i] = Math.max(0, cdf[i]! - previous);
    previous = cdf[i]!;
  }
  return out;
}

/** Reference and live bin probabilities on the reference's quantile bins. */
export interface Binned {
  readonly edges: number[];
  readonly reference: number[];
  readonly live: number[];
}

/** Bin both summaries on the reference's quantile bins. */
export function binBoth(
  reference: BatchQuantileSummary,
  live: QuantileSummary,
  bins: number = DEFAULT_BINS,
): Binned {
  const edges = referenceBinEdges(reference, bins);
  return {
    edges,
    reference: binProbabilities(reference, edges),
    live: binProbabilities(live, edges),
  };
}

/**
 * Population stability index of two probability vectors: sum (q - p) ln(q / p), with p and q each
 * floored at `floor` (see `PSI_EMPTY_BIN_FLOOR`).
 */
export function psiOfProbabilities(
  p: readonly number[],
  q: readonly number[],
  floor: number = PSI_EMPTY_BIN_FLOOR,
): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    const a = Math.max(p[i]!, floor);
    const b = Math.max(q[i] ?? 0, floor);
    s += (b - a) * Math.log(b / a);
  }
  return s;
}

/**
 * Jensen-Shannon distance of two probability vectors: the square root of the base-2 JS divergence,
 * in [0, 1]. Empty bins need no floor (0 log 0 = 0).
 */
export function jsDistanceOfProbabilities(p: readonly number[], q: readonly number[]): number {
  let d = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]!;
    const b = q[i] ?? 0;
    const m = (a + b) / 2;
    if (a > 0) d += a * Math.log2(a / m);
    if (b > 0) d += b * Math.log2(b / m);
  }
  return Math.sqrt(Math.min(1, Math.max(0, d / 2)));
}

/** PSI of the live distribution against the reference, on the reference's quantile bins. */
export function psi(
  reference: BatchQuantileSummary,
  live: QuantileSummary,
  bins: number = DEFAULT_BINS,
): number {
  const b = binBoth(reference, live, bins);
  return psiOfProbabilities(b.reference, b.live);
}

/** Jensen-Shannon distance (base 2) on the reference's quantile bins. */
export function jsDistance(
  reference: BatchQuantileSummary,
  live: QuantileSummary,
  bins: number = DEFAULT_BINS,
): number {
  const b = binBoth(reference, live, bins);
  return jsDistanceOfProbabilities(b.reference, b.live);
}

function rankGrid(points: number): number[] {
  const qs: number[] = [];
  for (let i = 0; i <= points; i++) qs.push(i / points);
  return qs;
}

/**
 * Kolmogorov-Smirnov distance: max |F_ref(x) - F_live(x)| over x in the union of both summaries'
 * quantile grids (q = i/G, i = 0..G). Between two consecutive grid points each CDF rises by about
 * 1/G at most (plus point masses, which are grid points themselves), so this is within ~1/G of the
 * supremum over all x.
 */
export function ksDistance(
  reference: BatchQuantileSummary,
  live: BatchQuantileSummary,
  gridPoints: number = DEFAULT_KS_GRID,
): number {
  if (reference.n === 0 || live.n === 0) return 0;
  const qs = rankGrid(gridPoints);
  const xs = strictlyIncreasing([...quantilesOf(reference, qs), ...quantilesOf(live, qs)]);
  if (xs.length === 0) return 0;
  const a = reference.cdf(xs);
  const b = live.cdf(xs);
  let d = 0;
  for (let i = 0; i < xs.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/**
 * Wasserstein-1 distance, integral over q in (0, 1) of |F_ref^-1(q) - F_live^-1(q)|, by the
 * midpoint rule on `steps` equal intervals. In the units of the feature: divide by the reference's
 * standard deviation to compare across features (`normalizedWasserstein`).
 */
export function wasserstein1(
  reference: BatchQuantileSummary,
  live: BatchQuantileSummary,
  steps: number = DEFAULT_WASSERSTEIN_STEPS,
): number {
  if (reference.n === 0 || live.n === 0) return 0;
  const qs: number[] = [];
  for (let i = 0; i < steps; i++) qs.push((i + 0.5) / steps);
  const a = quantilesOf(reference, qs);
  const b = quantilesOf(live, qs);
  let s = 0;
  for (let i = 0; i < steps; i++) s += Math.abs(a[i]! - b[i]!);
  return s / steps;
}

/**
 * Wasserstein-1 divided by the reference's standard deviation. A constant reference (std 0) gives
 * 0 when the live distribution is the same constant and +Infinity otherwise.
 */
export function normalizedWasserstein(
  reference: BatchQuantileSummary,
  live: BatchQuantileSummary,
  referenceStd: number,
  steps: number = DEFAULT_WASSERSTEIN_STEPS,
): number {
  const w = wasserstein1(reference, live, steps);
  if (w === 0) return 0;
  return referenceStd > 0 ? w / referenceStd : Number.POSITIVE_INFINITY;
}
