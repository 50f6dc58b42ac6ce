/**
 * Sampling-noise allowances for drift distances.
 *
 * Gates compare distances with thresholds, never p-values. But a distance measured on a small live
 * window is inflated by sampling noise alone: with 10 equiprobable bins and no drift at all, PSI is
 * about chi2(9) / n and the Jensen-Shannon divergence about chi2(9) / (8 ln 2 n), so at n = 200 the
 * JS distance exceeds 0.1 in about a quarter of drift-free windows. A sample-size-aware threshold is
 * `max(materiality floor, noise allowance(n))`: the floor says how much drift matters, the allowance
 * is the value that drift-free windows of this size exceed with probability `falseAlarmRate`.
 *
 * n is the effective size n_ref * n / (n_ref + n): the reference is a sample too.
 */

/**
 * Complementary error function: the Maclaurin series of erf for |x| < 2.5 (alternating terms lose at
 * most ~3 digits there) and the Laplace continued fraction of erfc beyond, evaluated bottom-up.
 * Accurate to ~1e-13 relative in the tails that allowances are computed from.
 */
function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2) / sqrt(pi) * 1 / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...))))
  let t = x;
  for (let k = 120; k >= 1; k--) t = x + k / 2 / t;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / t;
}

/** Standard normal CDF. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Standard normal quantile for p in (0, 1), by bisection on `normalCdf`. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? -Infinity : p === 1 ? Infinity : NaN;
  let lo = -40;
  let hi = 40;
  for (let i = 0; i < 100 && hi - lo > 1e-9; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Chi-square quantile with `df` degrees of freedom (Wilson-Hilferty). Slightly conservative (too
 * large) for small df: 28.06 vs 27.88 for df = 9 at p = 0.999.
 */
export function chiSquareQuantile(p: number, df: number): number {
  if (df <= 0) return 0;
  const z = cachedNormalQuantile(p);
  const c = 2 / (9 * df);
  return df * Math.max(0, 1 - c + z * Math.sqrt(c)) ** 3;
}

/** Drift reports ask for the same few tail probabilities over and over: remember them. */
const quantileCache = new Map<number, number>();
function cachedNormalQuantile(p: number): number {
  let z = quantileCache.get(p);
  if (z === undefined) {
    z = normalQuantile(p);
    if (quantileCache.size >= 256) quantileCache.clear();
    quantileCache.set(p, z);
  }
  return z;
}

/** The effective sample size of a two-sample comparison. */
export function effectiveSampleSize(referenceN: number, liveN: number): number {
  if (referenceN <= 0 || liveN <= 0) return 0;
  return (referenceN * liveN) / (referenceN + liveN);
}

/**
 * PSI that drift-free data on `bins` bins exceeds with probability about `falseAlarmRate`:
 * PSI ~ sum (p - q)^2 / p = X^2 / n with X^2 ~ chi2(bins - 1).
 */
export function psiNoise(bins: number, nEff: number, falseAlarmRate: number): number {
  if (nEff <= 0) return Infinity;
  return chiSquareQuantile(1 - falseAlarmRate, bins - 1) / nEff;
}

/**
 * Jensen-Shannon distance (base 2) that drift-free data exceeds with probability about
 * `falseAlarmRate`: for small differences JSD = sum (p - q)^2 / (8 m) nats = X^2 / (8 n) nats.
 */
export function jsNoise(bins: number, nEff: number, falseAlarmRate: number): number {
  if (nEff <= 0) return Infinity;
  return Math.sqrt(chiSquareQuantile(1 - falseAlarmRate, bins - 1) / (8 * Math.LN2 * nEff));
}

/**
 * KS distance that drift-free continuous data exceeds with probability about `falseAlarmRate`
 * (Kolmogorov's asymptotic tail, P(sqrt(n) D > t) ~ 2 exp(-2 t^2)).
 */
export function ksNoise(nEff: number, falseAlarmRate: number): number {
  if (nEff <= 0) return Infinity;
  return Math.sqrt(-Math.log(falseAlarmRate / 2) / 2) / Math.sqrt(nEff);
}

/**
 * L-infinity distance between frequency vectors of `buckets` buckets that drift-free data exceeds
 * with probability at most about `falseAlarmRate`: a Bonferroni bound over buckets with the largest
 * binomial standard deviation, sqrt(1/4 / n).
 */
export function linfNoise(buckets: number, nEff: number, falseAlarmRate: number): number {
  if (nEff <= 0) return Infinity;
  const z = cachedNormalQuantile(1 - falseAlarmRate / (2 * Math.max(1, buckets)));
  return z * Math.sqrt(0.25 / nEff);
}
