/**
 * An exact `QuantileSummary` over a sorted copy of raw samples: the reference that sketch tests and the
 * drift evaluation harness compare against. Same query semantics as `KllSketch`, without the error.
 */
import {
  checkQuantileArg,
  checkSplitPoints,
  lowerBound,
  pmfFromCdf,
  upperBound,
} from './sorted-ranks.js';
import type { QuantileSummary } from './types.js';

/**
 * Exact quantiles, ranks and CDF of a finite sample.
 *
 * Semantics (shared with `KllSketch`): `rank(x)` is the fraction of values <= x; `quantile(q)` is the
 * smallest value v with rank(v) >= q, i.e. `sorted[ceil(q n) - 1]`, with quantile(0) = min. Non-finite
 * inputs are ignored. An empty summary answers NaN.
 */
export class ExactSummary implements QuantileSummary {
  private readonly sorted: Float64Array;

  constructor(values: Iterable<number>) {
    const all = Float64Array.from(values);
    let m = 0;
    for (const v of all) if (Number.isFinite(v)) all[m++] = v;
    this.sorted = all.subarray(0, m).sort();
  }

  /** The sorted finite values (a read-only view: do not modify). */
  get values(): Float64Array {
    return this.sorted;
  }

  get n(): number {
    return this.sorted.length;
  }

  get min(): number {
    return this.sorted.length === 0 ? NaN : this.sorted[0]!;
  }

  get max(): number {
    return this.sorted.length === 0 ? NaN : this.sorted[this.sorted.length - 1]!;
  }

  quantile(q: number): number {
    checkQuantileArg(q);
    const n = this.sorted.length;
    if (n === 0) return NaN;
    return this.sorted[Math.max(0, Math.ceil(q * n) - 1)]!;
  }

  quantiles(qs: readonly number[]): number[] {
    return qs.map((q) => this.quantile(q));
  }

  /** Fraction of values <= x. */
  rank(x: number): number {
    const n = this.sorted.length;
    return n === 0 ? NaN : upperBound(this.sorted, x) / n;
  }

  /** Fraction of values < x (with `rank`, the interval of ranks that x occupies when duplicated). */
  rankExclusive(x: number): number {
    const n = this.sorted.length;
    return n === 0 ? NaN : lowerBound(this.sorted, x) / n;
  }

  cdf(splitPoints: readonly number[]): number[] {
    checkSplitPoints(splitPoints);
    if (this.sorted.length === 0) return new Array<number>(splitPoints.length + 1).fill(NaN);
    return [...splitPoints.map((s) => this.rank(s)), 1];
  }

  pmf(splitPoints: readonly number[]): number[] {
    return pmfFromCdf(this.cdf(splitPoints));
  }
}
