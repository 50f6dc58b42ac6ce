/**
 * The read side that drift metrics need from a one-dimensional numeric distribution.
 *
 * The KLL sketch implements it (approximately, within its rank error), and so does an exact summary of
 * raw samples: metrics are written once against this interface, and the evaluation harness compares
 * sketch-based and exact decisions by running the same metric code on both.
 */
export interface QuantileSummary {
  /** Number of finite values summarised. */
  readonly n: number;
  /** Smallest finite value seen (NaN when n = 0). */
  readonly min: number;
  /** Largest finite value seen (NaN when n = 0). */
  readonly max: number;
  /** The value at normalised rank q in [0, 1] (NaN when n = 0). */
  quantile(q: number): number;
  /** Normalised rank of x: fraction of values <= x (inclusive), in [0, 1]. */
  rank(x: number): number;
  /**
   * Cumulative distribution at strictly increasing split points: m + 1 entries, entry i = fraction of
   * values <= splitPoints[i] (inclusive), the last entry is 1.
   */
  cdf(splitPoints: readonly number[]): number[];
}

/** A source of uniformly distributed random 32-bit words; seeded where reproducibility matters. */
export interface RandomSource {
  /** A uniformly random unsigned 32-bit integer. */
  nextUint32(): number;
}
