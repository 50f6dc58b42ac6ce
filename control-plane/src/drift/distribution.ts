/**
 * Plot-ready views of one feature's distribution, reference against live, computed from the
 * sketches alone (`GET /v1/drift/distribution`, drawn by the dashboard): for a numeric feature a
 * histogram over shared bins (from the KLL sketches' CDFs) plus quantiles for a CDF plot; for a
 * categorical feature the share of each frequent category. The bins span the central 99 % of both
 * distributions together; what falls outside is reported as `below` / `above` so tails stay visible
 * without squashing the plot.
 */
import type { FeatureSketch } from '@edgefleet/protocol';

export interface NumericSide {
  /** Finite values summarised. */
  readonly n: number;
  readonly nulls: number;
  readonly mean: number | null;
  readonly std: number | null;
  readonly min: number | null;
  readonly max: number | null;
  /** Fraction of values in each bin (edges[i], edges[i+1]]. */
  readonly mass: number[];
  /** Fraction below the first edge and above the last. */
  readonly below: number;
  readonly above: number;
  /** The value at each rank of `q`. */
  readonly quantiles: number[];
}

export interface NumericDistribution {
  readonly kind: 'numeric';
  readonly edges: number[];
  readonly q: number[];
  readonly reference: NumericSide | null;
  readonly live: NumericSide | null;
}

export interface CategoricalSide {
  readonly n: number;
  /** Share of each category of `categories` (estimates of the frequent-items sketch). */
  readonly fractions: number[];
  /** Share of everything else. */
  readonly other: number;
}

export interface CategoricalDistribution {
  readonly kind: 'categorical';
  readonly categories: string[];
  readonly reference: CategoricalSide | null;
  readonly live: CategoricalSide | null;
}

export type Distribution = NumericDistribution | CategoricalDistribution;

export interface DistributionOptions {
  /** Histogram bins (default 30). */
  readonly bins?: number;
  /** Quantile points of the CDF, evenly spaced ranks 0..1 (default 41). */
  readonly quantiles?: number;
  /** Categories shown at most (default 20). */
  readonly categories?: number;
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);
const round = (x: number): number => Math.round(x * 1e6) / 1e6;

/** Bin edges spanning both sketches' central 99 % (undefined when neither has a value). */
function sharedEdges(sketches: readonly FeatureSketch[], bins: number): number[] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of sketches) {
    if (s.kind !== 'numeric' || s.kll.n === 0) continue;
    lo = Math.min(lo, s.kll.quantile(0.005));
    hi = Math.max(hi, s.kll.quantile(0.995));
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return undefined;
  if (hi <= lo) {
    const pad = Math.max(Math.abs(lo) * 0.05, 0.5);
    lo -= pad;
    hi += pad;
  }
  const step = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * step);
  edges[bins] = hi;
  return edges;
}

function numericSide(s: FeatureSketch | undefined, edges: number[], q: number[]) {
  if (s?.kind !== 'numeric') return null;
  const { summary, kll } = s;
  if (kll.n === 0) {
    return {
      n: 0,
      nulls: summary.nulls,
      mean: null,
      std: null,
      min: null,
      max: null,
      mass: edges.slice(1).map(() => 0),
      below: 0,
      above: 0,
      quantiles: [],
    } satisfies NumericSide;
  }
  const cdf = kll.cdf(edges);
  return {
    n: kll.n,
    nulls: summary.nulls,
    mean: finite(summary.mean),
    std: finite(summary.std),
    min: finite(summary.min),
    max: finite(summary.max),
    mass: edges.slice(1).map((_, i) => round(Math.max(0, cdf[i + 1]! - cdf[i]!))),
    below: round(cdf[0]!),
    above: round(Math.max(0, 1 - cdf[edges.length - 1]!)),
    quantiles: q.map((r) => kll.quantile(r)),
  } satisfies NumericSide;
}

function categoricalSide(s: FeatureSketch | undefined, categories: readonly string[]) {
  if (s?.kind !== 'categorical') return null;
  const n = s.items.n;
  const fractions = categories.map((c) => (n === 0 ? 0 : round(s.items.estimate(c) / n)));
  const shown = fractions.reduce((a, b) => a + b, 0);
  return { n, fractions, other: round(Math.max(0, 1 - shown)) } satisfies CategoricalSide;
}

/**
 * The distribution of a feature in the reference and the live profile. The kind follows the
 * reference (else the live sketch); undefined when neither profile has the feature.
 */
export function distributionOf(
  reference: FeatureSketch | undefined,
  live: FeatureSketch | undefined,
  options: DistributionOptions = {},
): Distribution | undefined {
  const kind = reference?.kind ?? live?.kind;
  if (kind === undefined) return undefined;
  const present = [reference, live].filter((s): s is FeatureSketch => s !== undefined);
  if (kind === 'numeric') {
    const bins = Math.min(Math.max(Math.floor(options.bins ?? 30), 1), 200);
    const points = Math.min(Math.max(Math.floor(options.quantiles ?? 41), 2), 201);
    const q = Array.from({ length: points }, (_, i) => i / (points - 1));
    const edges = sharedEdges(present, bins) ?? [];
    const ref = edges.length > 0 ? numericSide(reference, edges, q) : null;
    const liv = edges.length > 0 ? numericSide(live, edges, q) : null;
    return { kind, edges: edges.map(round), q: q.map(round), reference: ref, live: liv };
  }
  const limit = Math.min(Math.max(Math.floor(options.categories ?? 20), 1), 100);
  const score = new Map<string, number>();
  for (const s of present) {
    if (s.kind !== 'categorical' || s.items.n === 0) continue;
    for (const t of s.items.top(limit)) {
      score.set(t.item, Math.max(score.get(t.item) ?? 0, t.estimate / s.items.n));
    }
  }
  const categories = [...score]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([c]) => c);
  return {
    kind,
    categories,
    reference: categoricalSide(reference, categories),
    live: categoricalSide(live, categories),
  };
}
