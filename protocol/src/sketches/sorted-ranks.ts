/**
 * Shared query helpers for quantile summaries (internal: not exported from the package index).
 */

/** Index of the first element of `sorted` that is > x (all elements when none is). */
export function upperBound(sorted: ArrayLike<number>, x: number, end = sorted.length): number {
  let lo = 0;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element of `sorted` that is >= x. */
export function lowerBound(sorted: ArrayLike<number>, x: number, end = sorted.length): number {
  let lo = 0;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Throw a RangeError unless q is in [0, 1]. */
export function checkQuantileArg(q: number): void {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile rank must be in [0, 1], got ${q}`);
}

/** Throw a RangeError unless the split points are finite and strictly increasing. */
export function checkSplitPoints(splitPoints: readonly number[]): void {
  for (let i = 0; i < splitPoints.length; i++) {
    const s = splitPoints[i]!;
    if (!Number.isFinite(s)) throw new RangeError(`split point ${i} is not finite: ${s}`);
    if (i > 0 && !(s > splitPoints[i - 1]!)) {
      throw new RangeError(`split points must be strictly increasing (at index ${i})`);
    }
  }
}

/** Probability mass between consecutive split points, from a CDF with m + 1 entries. */
export function pmfFromCdf(cdf: readonly number[]): number[] {
  return cdf.map((c, i) => (i === 0 ? c : c - cdf[i - 1]!));
}
