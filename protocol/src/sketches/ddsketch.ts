/**
 * DDSketch (Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with Relative-Error
 * Guarantees", VLDB 2019), for latencies: every quantile is within relative error alpha of the exact
 * value, whatever the distribution.
 *
 * Logarithmic mapping: with gamma = (1 + alpha) / (1 - alpha), a positive x falls in bucket
 * i = ceil(log_gamma x), which covers (gamma^(i-1), gamma^i] and answers 2 gamma^i / (gamma + 1): at most
 * alpha away from anything in the bucket, relatively. Buckets are dense arrays (offset + counts).
 *
 * Values: positive values in one store, zero (and -0) in a zero count, negative values in a second
 * store by their magnitude; NaN and ±Infinity are ignored. Each store keeps at most `maxBuckets` buckets
 * (default 2048: with alpha = 1%, a range of about 1 : 10^17); beyond that the lowest buckets are
 * collapsed into one, which loses accuracy only for the smallest magnitudes (positive values closest to
 * zero, negative values closest to zero) and never for the high latency quantiles.
 */
import { z } from 'zod';
import { fail, ok, type Result } from '../errors.js';
import { checkQuantileArg } from './sorted-ranks.js';

export const DDSKETCH_DEFAULT_ALPHA = 0.01;
export const DDSKETCH_MIN_ALPHA = 1e-4;
export const DDSKETCH_MAX_ALPHA = 0.5;
export const DDSKETCH_DEFAULT_MAX_BUCKETS = 2048;
export const DDSKETCH_MIN_MAX_BUCKETS = 16;
export const DDSKETCH_MAX_MAX_BUCKETS = 65536;

/** Options of `new DDSketch(...)`. */
export interface DDSketchOptions {
  /** Relative accuracy in [1e-4, 0.5] (default 0.01). */
  readonly alpha?: number;
  /** Buckets per store before the lowest collapse, 16..65536 (default 2048). */
  readonly maxBuckets?: number;
}

/** ln of the largest double and of the smallest subnormal bound every bucket index. */
const LN_MAX = Math.log(Number.MAX_VALUE);
const LN_MIN = Math.log(Number.MIN_VALUE);

function indexRange(lnGamma: number): { min: number; max: number } {
  return { min: Math.floor(LN_MIN / lnGamma) - 1, max: Math.ceil(LN_MAX / lnGamma) + 1 };
}

/** Dense bucket counts over a sliding window of indices, collapsing the lowest beyond a cap. */
class BucketStore {
  private counts = new Float64Array(0);
  /** Index of counts[0]. */
  private base = 0;
  /** Range of indices in use (empty while total is 0). */
  lo = 0;
  hi = -1;
  total = 0;

  constructor(private readonly maxBuckets: number) {}

  add(index: number, w: number): void {
    if (this.total === 0) this.start(index);
    else if (index < this.lo || index > this.hi) index = this.extend(index);
    this.counts[index - this.base]! += w;
    this.total += w;
  }

  count(index: number): number {
    return index < this.lo || index > this.hi ? 0 : this.counts[index - this.base]!;
  }

  merge(other: BucketStore): void {
    // Copy first: `other` may be this store.
    const lo = other.lo;
    const counts = Array.from(
      other.counts.subarray(other.lo - other.base, other.hi - other.base + 1),
    );
    for (let i = counts.length - 1; i >= 0; i--) if (counts[i]! > 0) this.add(lo + i, counts[i]!);
  }

  /** Offset and counts, trimmed of zero buckets at both ends. */
  toJSON(): { offset: number; counts: number[] } {
    let lo = this.lo;
    let hi = this.hi;
    while (lo <= hi && this.count(lo) === 0) lo++;
    while (hi >= lo && this.count(hi) === 0) hi--;
    if (lo > hi) return { offset: 0, counts: [] };
    return {
      offset: lo,
      counts: Array.from(this.counts.subarray(lo - this.base, hi - this.base + 1)),
    };
  }

  private start(index: number): void {
    if (this.counts.length === 0) this.counts = new Float64Array(Math.min(64, this.maxBuckets));
    this.base = index - (this.counts.length >>> 1);
    this.counts.fill(0);
    this.lo = index;
    this.hi = index;
  }

  /** Widen the range to take `index`; returns the bucket the value goes to (maybe the collapsed one). */
  private extend(index: number): number {
    const lo = Math.min(this.lo, index);
    const hi = Math.max(this.hi, index);
    if (hi - lo + 1 <= this.maxBuckets) {
      this.window(lo, hi);
      this.lo = lo;
      this.hi = hi;
      return index;
    }
    const floor = hi - this.maxBuckets + 1;
    let folded = 0;
    for (let i = this.lo; i < floor && i <= this.hi; i++) folded += this.counts[i - this.base]!;
    this.window(floor, hi);
    if (this.lo < floor) this.counts[floor - this.base]! += folded;
    this.lo = floor;
    this.hi = hi;
    return Math.max(index, floor);
  }

  /** Make the array cover [lo, hi], keeping the counts of the used indices inside that range. */
  private window(lo: number, hi: number): void {
    const end = this.base + this.counts.length;
    if (lo >= this.base && hi < end) {
      // Clear the cells that leave the used range (after a collapse) so later reuse starts at zero.
      for (let i = this.lo; i < lo && i <= this.hi; i++) this.counts[i - this.base] = 0;
      return;
    }
    const span = hi - lo + 1;
    const length = Math.min(2 * this.maxBuckets, Math.max(64, 2 * span));
    // Leave the free room on the side the range grows towards.
    const base = hi >= end ? lo : hi - length + 1;
    const counts = new Float64Array(length);
    for (let i = Math.max(lo, this.lo); i <= Math.min(hi, this.hi); i++) {
      counts[i - base] = this.counts[i - this.base]!;
    }
    this.counts = counts;
    this.base = base;
  }
}

const countValue = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const storeSchema = z.strictObject({
  offset: z.number().int(),
  counts: z.array(countValue).max(DDSKETCH_MAX_MAX_BUCKETS),
});

/** Wire form of a `DDSketch` (`min`/`max` null when empty). */
export const DDSketchJsonSchema = z
  .strictObject({
    alpha: z.number().min(DDSKETCH_MIN_ALPHA).max(DDSKETCH_MAX_ALPHA),
    maxBuckets: z.number().int().min(DDSKETCH_MIN_MAX_BUCKETS).max(DDSKETCH_MAX_MAX_BUCKETS),
    zero: countValue,
    sum: z.number(),
    min: z.number().nullable(),
    max: z.number().nullable(),
    pos: storeSchema,
    neg: storeSchema,
  })
  .superRefine((s, ctx) => {
    const issue = (message: string): void => {
      ctx.addIssue({ code: 'custom', message });
    };
    const { min, max } = indexRange(Math.log1p((2 * s.alpha) / (1 - s.alpha)));
    let count = s.zero;
    for (const [name, store] of [
      ['pos', s.pos],
      ['neg', s.neg],
    ] as const) {
      if (store.counts.length > s.maxBuckets) issue(`${name}: more buckets than maxBuckets`);
      if (store.offset < min || store.offset + store.counts.length - 1 > max) {
        issue(`${name}: bucket indices outside [${min}, ${max}] for this alpha`);
      }
      for (const c of store.counts) count += c;
    }
    if (count > Number.MAX_SAFE_INTEGER) issue('total count exceeds 2^53');
    const empty = count === 0;
    if (empty !== (s.min === null) || empty !== (s.max === null)) {
      issue('min and max must be null exactly when the sketch is empty');
      return;
    }
    if (s.min === null || s.max === null) {
      if (s.sum !== 0) issue('an empty sketch has sum 0');
      return;
    }
    if (s.min > s.max) issue('need min <= max');
    const hasNeg = s.neg.counts.some((c) => c > 0);
    const hasPos = s.pos.counts.some((c) => c > 0);
    if (hasNeg !== s.min < 0) issue('negative buckets must be non-empty exactly when min < 0');
    if (hasPos !== s.max > 0) issue('positive buckets must be non-empty exactly when max > 0');
    if (s.zero > 0 && !(s.min <= 0 && s.max >= 0)) issue('zero count needs min <= 0 <= max');
  });

export type DDSketchJson = z.infer<typeof DDSketchJsonSchema>;

/** A mergeable quantile sketch with relative-error guarantees (for latencies and other magnitudes). */
export class DDSketch {
  readonly alpha: number;
  readonly maxBuckets: number;
  private readonly lnGamma: number;
  /** 2 / (gamma + 1): bucket i answers gamma^i times this. */
  private readonly midFactor: number;
  private readonly pos: BucketStore;
  private readonly neg: BucketStore;
  private zero = 0;
  private total = 0;
  private sumValue = 0;
  private lo = Infinity;
  private hi = -Infinity;

  /** @throws RangeError for alpha or maxBuckets out of range (a configuration mistake). */
  constructor(opts: DDSketchOptions = {}) {
    const alpha = opts.alpha ?? DDSKETCH_DEFAULT_ALPHA;
    const maxBuckets = opts.maxBuckets ?? DDSKETCH_DEFAULT_MAX_BUCKETS;
    if (!(alpha >= DDSKETCH_MIN_ALPHA && alpha <= DDSKETCH_MAX_ALPHA)) {
      throw new RangeError(
        `DDSketch alpha must be in [${DDSKETCH_MIN_ALPHA}, ${DDSKETCH_MAX_ALPHA}], got ${alpha}`,
      );
    }
    if (
      !Number.isInteger(maxBuckets) ||
      maxBuckets < DDSKETCH_MIN_MAX_BUCKETS ||
      maxBuckets > DDSKETCH_MAX_MAX_BUCKETS
    ) {
      throw new RangeError(
        `DDSketch maxBuckets must be an integer in [${DDSKETCH_MIN_MAX_BUCKETS}, ${DDSKETCH_MAX_MAX_BUCKETS}], got ${maxBuckets}`,
      );
    }
    this.alpha = alpha;
    this.maxBuckets = maxBuckets;
    const gammaMinus1 = (2 * alpha) / (1 - alpha);
    this.lnGamma = Math.log1p(gammaMinus1);
    this.midFactor = 2 / (2 + gammaMinus1);
    this.pos = new BucketStore(maxBuckets);
    this.neg = new BucketStore(maxBuckets);
  }

  /** Number of values (finite ones; NaN and ±Infinity are ignored). */
  get count(): number {
    return this.total;
  }

  get isEmpty(): boolean {
    return this.total === 0;
  }

  /** Exact sum of the values (floating point). */
  get sum(): number {
    return this.sumValue;
  }

  /** Smallest value (NaN when empty). */
  get min(): number {
    return this.total === 0 ? NaN : this.lo;
  }

  /** Largest value (NaN when empty). */
  get max(): number {
    return this.total === 0 ? NaN : this.hi;
  }

  update(x: number): void {
    if (!Number.isFinite(x)) return;
    if (x > 0) this.pos.add(this.index(x), 1);
    else if (x < 0) this.neg.add(this.index(-x), 1);
    else this.zero++;
    this.total++;
    this.sumValue += x;
    if (x < this.lo) this.lo = x;
    if (x > this.hi) this.hi = x;
  }

  /**
   * Merge another sketch into this one (`other` unchanged; merging into itself is allowed).
   * @throws RangeError if the sketches have different alpha.
   */
  merge(other: DDSketch): void {
    if (other.alpha !== this.alpha) {
      throw new RangeError(`cannot merge DDSketches with alpha ${this.alpha} and ${other.alpha}`);
    }
    if (other.total === 0) return;
    this.pos.merge(other.pos);
    this.neg.merge(other.neg);
    this.zero += other.zero;
    this.total += other.total;
    this.sumValue += other.sumValue;
    if (other.lo < this.lo) this.lo = other.lo;
    if (other.hi > this.hi) this.hi = other.hi;
  }

  /**
   * The value at rank q in [0, 1]: within relative error alpha of the exact value `sorted[floor(q (n-1))]`
   * (unless that value sits in a collapsed bucket); quantile(0) and quantile(1) are the exact min and max.
   * NaN when empty.
   */
  quantile(q: number): number {
    checkQuantileArg(q);
    if (this.total === 0) return NaN;
    if (q === 0) return this.lo;
    if (q === 1) return this.hi;
    const rank = q * (this.total - 1);
    let seen = 0;
    const neg = this.neg;
    for (let i = neg.hi; i >= neg.lo; i--) {
      seen += neg.count(i);
      if (seen > rank) return this.clamp(-this.value(i));
    }
    seen += this.zero;
    if (seen > rank) return this.clamp(0);
    const pos = this.pos;
    for (let i = pos.lo; i <= pos.hi; i++) {
      seen += pos.count(i);
      if (seen > rank) return this.clamp(this.value(i));
    }
    return this.hi;
  }

  quantiles(qs: readonly number[]): number[] {
    return qs.map((q) => this.quantile(q));
  }

  /** Plain JSON-safe object (see `DDSketchJsonSchema`): dense counts from an offset per store. */
  toJSON(): DDSketchJson {
    const empty = this.total === 0;
    return {
      alpha: this.alpha,
      maxBuckets: this.maxBuckets,
      zero: this.zero,
      sum: this.sumValue,
      min: empty ? null : this.lo,
      max: empty ? null : this.hi,
      pos: this.pos.toJSON(),
      neg: this.neg.toJSON(),
    };
  }

  /** Validate and decode `toJSON()` output; EF_MALFORMED with the schema issues otherwise. */
  static fromJSON(input: unknown): Result<DDSketch> {
    const parsed = DDSketchJsonSchema.safeParse(input);
    if (!parsed.success) return fail('EF_MALFORMED', `DDSketch: ${z.prettifyError(parsed.error)}`);
    return ok(DDSketch.fromValid(parsed.data));
  }

  /**
   * Decode JSON that `DDSketchJsonSchema` has already accepted (e.g. as part of a message schema),
   * without walking the schema a second time.
   */
  static fromValid(j: DDSketchJson): DDSketch {
    const s = new DDSketch({ alpha: j.alpha, maxBuckets: j.maxBuckets });
    j.pos.counts.forEach((c, i) => {
      if (c > 0) s.pos.add(j.pos.offset + i, c);
    });
    j.neg.counts.forEach((c, i) => {
      if (c > 0) s.neg.add(j.neg.offset + i, c);
    });
    s.zero = j.zero;
    s.total = j.zero + s.pos.total + s.neg.total;
    s.sumValue = j.sum;
    if (j.min !== null && j.max !== null) {
      s.lo = j.min;
      s.hi = j.max;
    }
    return s;
  }

  private index(magnitude: number): number {
    return Math.ceil(Math.log(magnitude) / this.lnGamma);
  }

  private value(index: number): number {
    return Math.exp(index * this.lnGamma) * this.midFactor;
  }

  private clamp(x: number): number {
    return x < this.lo ? this.lo : x > this.hi ? this.hi : x;
  }
}
