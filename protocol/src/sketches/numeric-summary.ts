/**
 * Exact moments of a numeric feature: counts of finite values, nulls, NaN and infinities; min, max,
 * mean and M2 (sum of squared deviations from the mean). Updates use Welford's algorithm; merges use
 * the exact parallel formula of Chan, Golub and LeVeque (1979), so any split of a stream, merged in any
 * order, gives the one-pass result up to rounding.
 */
import { z } from 'zod';
import { fail, ok, type Result } from '../errors.js';

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * Wire form of a `NumericSummary`. `min`, `max` and `mean` are null when `count` is 0. Moments of values
 * beyond about 1e154 in magnitude overflow a double: `m2` is then null (+Infinity), and `mean` null if it
 * overflowed too (NaN). Values from float32 tensors (|x| < 3.5e38) never overflow.
 */
export const NumericSummaryJsonSchema = z
  .strictObject({
    count,
    nulls: count,
    nans: count,
    posInf: count,
    negInf: count,
    min: z.number().nullable(),
    max: z.number().nullable(),
    mean: z.number().nullable(),
    m2: z.number().min(0).nullable(),
  })
  .superRefine((s, ctx) => {
    const issue = (message: string): void => {
      ctx.addIssue({ code: 'custom', message });
    };
    if (s.min === null || s.max === null) {
      if (s.count !== 0 || s.min !== null || s.max !== null || s.mean !== null || s.m2 !== 0) {
        issue('min and max are null exactly when count is 0, and then mean is null and m2 is 0');
      }
      return;
    }
    if (s.count === 0) issue('min and max must be null when count is 0');
    if (s.min > s.max) issue('need min <= max');
    if (s.mean !== null) {
      // Rounding can put a merged mean a hair outside [min, max]; allow a relative slack.
      const slack = 1e-9 * Math.max(Math.abs(s.min), Math.abs(s.max));
      if (s.mean < s.min - slack || s.mean > s.max + slack) issue('need min <= mean <= max');
    }
    if (s.count === 1 && (s.m2 !== 0 || s.mean !== s.min || s.min !== s.max)) {
      issue('with one value, min = max = mean and m2 = 0');
    }
  });

export type NumericSummaryJson = z.infer<typeof NumericSummaryJsonSchema>;

/** Exact summary statistics of a numeric feature; mergeable. */
export class NumericSummary {
  private finite = 0;
  private nullCount = 0;
  private nanCount = 0;
  private posInfCount = 0;
  private negInfCount = 0;
  private lo = Infinity;
  private hi = -Infinity;
  private avg = 0;
  private sq = 0;

  /** Number of finite values. */
  get count(): number {
    return this.finite;
  }

  /** Number of `null` / `undefined` values. */
  get nulls(): number {
    return this.nullCount;
  }

  /** Number of NaN values. */
  get nans(): number {
    return this.nanCount;
  }

  /** Number of +Infinity values. */
  get posInf(): number {
    return this.posInfCount;
  }

  /** Number of -Infinity values. */
  get negInf(): number {
    return this.negInfCount;
  }

  /** Number of ±Infinity values. */
  get infinities(): number {
    return this.posInfCount + this.negInfCount;
  }

  /** Smallest finite value (NaN when count is 0). */
  get min(): number {
    return this.finite === 0 ? NaN : this.lo;
  }

  /** Largest finite value (NaN when count is 0). */
  get max(): number {
    return this.finite === 0 ? NaN : this.hi;
  }

  /** Mean of the finite values (NaN when count is 0). */
  get mean(): number {
    return this.finite === 0 ? NaN : this.avg;
  }

  /** Sum of squared deviations from the mean (0 when count < 2). */
  get m2(): number {
    return this.sq;
  }

  /** All values seen: finite, null, NaN and infinite. */
  get total(): number {
    return this.finite + this.nullCount + this.nanCount + this.posInfCount + this.negInfCount;
  }

  /** Population variance M2 / count (NaN when count is 0). */
  get variance(): number {
    return this.finite === 0 ? NaN : this.sq / this.finite;
  }

  /** Sample variance M2 / (count - 1) (NaN when count < 2). */
  get sampleVariance(): number {
    return this.finite < 2 ? NaN : this.sq / (this.finite - 1);
  }

  /** Population standard deviation. */
  get std(): number {
    return Math.sqrt(this.variance);
  }

  update(x: number | null | undefined): void {
    if (x === null || x === undefined) {
      this.nullCount++;
    } else if (Number.isNaN(x)) {
      this.nanCount++;
    } else if (x === Infinity) {
      this.posInfCount++;
    } else if (x === -Infinity) {
      this.negInfCount++;
    } else {
      const n = ++this.finite;
      const delta = x - this.avg;
      this.avg += delta / n;
      this.sq += delta * (x - this.avg);
      if (x < this.lo) this.lo = x;
      if (x > this.hi) this.hi = x;
    }
  }

  /** Merge another summary into this one (Chan et al.); `other` is unchanged. */
  merge(other: NumericSummary): void {
    this.nullCount += other.nullCount;
    this.nanCount += other.nanCount;
    this.posInfCount += other.posInfCount;
    this.negInfCount += other.negInfCount;
    const nb = other.finite;
    if (nb === 0) return;
    const na = this.finite;
    const n = na + nb;
    const delta = other.avg - this.avg;
    // M2 = M2a + M2b + delta^2 na nb / n; the mean as a weighted step from the larger side.
    this.sq = this.sq + other.sq + ((delta * delta * na) / n) * nb;
    this.avg = na >= nb ? this.avg + (delta * nb) / n : other.avg - (delta * na) / n;
    this.finite = n;
    if (other.lo < this.lo) this.lo = other.lo;
    if (other.hi > this.hi) this.hi = other.hi;
  }

  /** Plain JSON-safe object (see `NumericSummaryJsonSchema`). */
  toJSON(): NumericSummaryJson {
    const empty = this.finite === 0;
    return {
      count: this.finite,
      nulls: this.nullCount,
      nans: this.nanCount,
      posInf: this.posInfCount,
      negInf: this.negInfCount,
      min: empty ? null : this.lo,
      max: empty ? null : this.hi,
      mean: empty || !Number.isFinite(this.avg) ? null : this.avg,
      m2: Number.isFinite(this.sq) ? this.sq : null,
    };
  }

  /** Validate and decode `toJSON()` output; EF_MALFORMED with the schema issues otherwise. */
  static fromJSON(input: unknown): Result<NumericSummary> {
    const parsed = NumericSummaryJsonSchema.safeParse(input);
    if (!parsed.success) {
      return fail('EF_MALFORMED', `numeric summary: ${z.prettifyError(parsed.error)}`);
    }
    return ok(NumericSummary.fromValid(parsed.data));
  }

  /**
   * Decode JSON that `NumericSummaryJsonSchema` has already accepted (e.g. as part of a message schema),
   * without walking the schema a second time.
   */
  static fromValid(j: NumericSummaryJson): NumericSummary {
    const s = new NumericSummary();
    s.finite = j.count;
    s.nullCount = j.nulls;
    s.nanCount = j.nans;
    s.posInfCount = j.posInf;
    s.negInfCount = j.negInf;
    if (j.min !== null && j.max !== null) {
      s.lo = j.min;
      s.hi = j.max;
      s.avg = j.mean ?? NaN;
    }
    s.sq = j.m2 ?? Infinity;
    return s;
  }
}
