/**
 * KLL quantile sketch (Karnin, Lang, Liberty, "Optimal Quantile Approximation in Streams", FOCS 2016),
 * with the compactor layout popularised by Apache DataSketches: level h holds items of weight 2^h; the
 * top level may hold k items and each level below 2/3 as many (never fewer than 8); compaction is lazy
 * (only when the whole buffer is full, and then only the lowest level that is at or over its capacity).
 * Compacting a level sorts it, keeps every other item starting at a random offset (one fair coin), and
 * merges the survivors, now of double weight, into the level above. Levels >= 1 are always sorted.
 *
 * Rank error: with probability about 99%, every rank query is within `normalizedRankError()` of the true
 * rank, i.e. |estimated rank - true rank| <= eps n; eps is about 1.33% at k = 200 and falls like 1/k.
 * Merging sketches built with the same k gives the same guarantee for the union of their streams.
 */
import { fail, ok, type Result } from '../errors.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { createUnseededRandom } from './random.js';
import { checkQuantileArg, checkSplitPoints, pmfFromCdf, upperBound } from './sorted-ranks.js';
import type { QuantileSummary, RandomSource } from './types.js';

export const KLL_DEFAULT_K = 200;
export const KLL_MIN_K = 8;
export const KLL_MAX_K = 65535;
/** The smallest capacity of any level (DataSketches' `m`). */
const MIN_LEVEL_WIDTH = 8;
/** Levels a decoded sketch may have: item weights 2^h stay exact and n stays below 2^53. */
export const KLL_MAX_LEVELS = 60;
/** The most items a decoded sketch may retain (EF_TOO_LARGE beyond). */
export const KLL_MAX_RETAINED = 1_000_000;
/** The largest byte string `fromBytes` considers (EF_TOO_LARGE beyond). */
export const KLL_MAX_BYTES = 8 * (KLL_MAX_RETAINED + 2) + 1024;

const SERIAL_VERSION = 1;
const FLAG_FLOAT32 = 1;
const HEADER_BYTES = 5;

/** Options of `new KllSketch(...)`. */
export interface KllSketchOptions {
  /** Accuracy parameter, 8..65535 (default 200): rank error ~ 1/k, size ~ 3k items. */
  readonly k?: number;
  /** The coin flips of compaction; pass `createRandom(seed)` for reproducible sketches. */
  readonly random?: RandomSource;
}

/** Options of `KllSketch.fromBytes` / `fromBase64`: the decoded sketch's coin flips for later updates. */
export interface KllDecodeOptions {
  readonly random?: RandomSource;
}

/**
 * The KLL normalised rank error for parameter k at ~99% confidence (DataSketches' empirical fit).
 * Single-sided (`pmf = false`, the default): the bound on |rank(x) estimate - rank(x)|, which also bounds
 * the rank error of `quantile` and each `cdf` entry: 2.296 / k^0.9723. Double-sided (`pmf = true`): the
 * bound on the mass of an interval, as in one `pmf` entry: 2.446 / k^0.9433.
 */
export function kllNormalizedRankError(k: number, pmf = false): number {
  return pmf ? 2.446 / k ** 0.9433 : 2.296 / k ** 0.9723;
}

/** The spare buffer before it is needed. */
const NO_ITEMS = new Float64Array(0);

// Exact integer powers, so that level capacities are the same on every engine.
const POW2: number[] = [1];
const POW3: number[] = [1];
for (let d = 1; d <= 30; d++) {
  POW2.push(POW2[d - 1]! * 2);
  POW3.push(POW3[d - 1]! * 3);
}

/** Capacity of a level `depth` levels below the top: round(k (2/3)^depth), at least 8. */
function depthCapacity(k: number, depth: number): number {
  // k (2/3)^30 < 8 for every k <= 65535, and k 2^30 is an exact double.
  if (depth > 30) return MIN_LEVEL_WIDTH;
  return Math.max(MIN_LEVEL_WIDTH, Math.round((k * POW2[depth]!) / POW3[depth]!));
}

/** Capacities of levels 0..numLevels-1 (level numLevels-1 is the top). */
function levelCapacities(k: number, numLevels: number): number[] {
  const caps = new Array<number>(numLevels);
  for (let h = 0; h < numLevels; h++) caps[h] = depthCapacity(k, numLevels - 1 - h);
  return caps;
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

/** Retained items merged across levels, ascending, with cumulative weights (for queries). */
interface SortedView {
  readonly values: Float64Array;
  /** cum[i] = total weight of values[0..i]. */
  readonly cum: Float64Array;
}

/**
 * A mergeable quantile sketch of finite numbers.
 *
 * Query semantics (shared with `ExactSummary`): `rank(x)` estimates the fraction of values <= x;
 * `quantile(q)` is the smallest retained value whose estimated rank is >= q, with quantile(0) = min and
 * quantile(1) = max exactly. NaN and ±Infinity are ignored by `update` (count them with
 * `NumericSummary`). An empty sketch answers NaN to every query.
 */
export class KllSketch implements QuantileSummary {
  /** Accuracy parameter. */
  readonly k: number;
  private readonly random: RandomSource;
  /** All levels in one buffer: the top level first, level 0 last (unsorted), then free space. */
  private items: Float64Array;
  /**
   * A second buffer for merges and compactions, allocated when first needed (most decoded sketches
   * are only ever merged into another one: allocating it up front was most of their garbage).
   */
  private spare: Float64Array = NO_ITEMS;
  /** starts[h] = index of the first item of level h; the top level starts at 0. */
  private starts: number[];
  /** End of level 0 = number of retained items. */
  private used = 0;
  private caps: number[];
  /** Sum of `caps`: the buffer is compacted when it holds this many items. */
  private capacity: number;
  /** min(capacity, items.length): `update` takes its slow path at this many items. */
  private room: number;
  private count = 0;
  private lo = Infinity;
  private hi = -Infinity;
  private coinBits = 0;
  private coinsLeft = 0;
  private view: SortedView | undefined;

  /** @throws RangeError if k is not an integer in [8, 65535] (a configuration mistake). */
  constructor(opts: KllSketchOptions = {}) {
    const k = opts.k ?? KLL_DEFAULT_K;
    if (!Number.isInteger(k) || k < KLL_MIN_K || k > KLL_MAX_K) {
      throw new RangeError(`KLL k must be an integer in [${KLL_MIN_K}, ${KLL_MAX_K}], got ${k}`);
    }
    this.k = k;
    this.random = opts.random ?? createUnseededRandom();
    this.starts = [0];
    this.caps = levelCapacities(k, 1);
    this.capacity = k;
    this.room = k;
    this.items = new Float64Array(k);
  }

  /** Number of finite values summarised. */
  get n(): number {
    return this.count;
  }

  get isEmpty(): boolean {
    return this.count === 0;
  }

  get min(): number {
    return this.count === 0 ? NaN : this.lo;
  }

  get max(): number {
    return this.count === 0 ? NaN : this.hi;
  }

  /** Number of items the sketch keeps (4 or 8 bytes each in `toBytes`). */
  get numRetained(): number {
    return this.used;
  }

  /** Number of compactor levels. */
  get numLevels(): number {
    return this.starts.length;
  }

  /** See `kllNormalizedRankError`: single-sided by default, double-sided (pmf) if asked. */
  normalizedRankError(pmf = false): number {
    return kllNormalizedRankError(this.k, pmf);
  }

  /** Add a value. NaN and ±Infinity are ignored. Amortised O(log k), no allocation. */
  update(x: number): void {
    if (!Number.isFinite(x)) return;
    if (this.used >= this.room) this.makeRoom();
    this.items[this.used++] = x;
    this.count++;
    if (x < this.lo) this.lo = x;
    if (x > this.hi) this.hi = x;
    this.view = undefined;
  }

  /**
   * Merge another sketch into this one (`other` is left unchanged; merging a sketch into itself is
   * allowed). The result summarises both streams within the same error bound.
   * @throws RangeError if the sketches have different k.
   */
  merge(other: KllSketch): void {
    if (other.k !== this.k) {
      throw new RangeError(`cannot merge KLL sketches with different k (${this.k} and ${other.k})`);
    }
    if (other.count === 0) return;
    const otherCount = other.count;
    const otherLo = other.lo;
    const otherHi = other.hi;
    const numLevels = Math.max(this.starts.length, other.starts.length);
    const caps = levelCapacities(this.k, numLevels);
    const capacity = sum(caps);
    const length = Math.max(this.used + other.used, capacity);
    const out = this.spare.length >= length ? this.spare : new Float64Array(length);
    const starts = new Array<number>(numLevels);
    let o = 0;
    for (let h = numLevels - 1; h >= 0; h--) {
      starts[h] = o;
      const a = this.items;
      const b = other.items;
      let i = h < this.starts.length ? this.starts[h]! : 0;
      const ie = h < this.starts.length ? this.levelEnd(h) : 0;
      let j = h < other.starts.length ? other.starts[h]! : 0;
      const je = h < other.starts.length ? other.levelEnd(h) : 0;
      if (h > 0) {
        while (i < ie && j < je) out[o++] = a[i]! <= b[j]! ? a[i++]! : b[j++]!;
      }
      while (i < ie) out[o++] = a[i++]!;
      while (j < je) out[o++] = b[j++]!;
    }
    const old = this.items;
    this.items = out;
    this.spare = old.length >= out.length ? old : NO_ITEMS;
    this.starts = starts;
    this.used = o;
    this.caps = caps;
    this.capacity = capacity;
    this.room = Math.min(capacity, out.length);
    this.count += otherCount;
    if (otherLo < this.lo) this.lo = otherLo;
    if (otherHi > this.hi) this.hi = otherHi;
    this.view = undefined;
    while (this.used > this.capacity) this.compressOnce();
  }

  quantile(q: number): number {
    checkQuantileArg(q);
    if (this.count === 0) return NaN;
    if (q === 0) return this.lo;
    if (q === 1) return this.hi;
    const { values, cum } = this.sortedView();
    const target = q * this.count;
    // First index whose cumulative weight reaches the target.
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! < target) lo = mid + 1;
      else hi = mid;
    }
    return values[lo]!;
  }

  quantiles(qs: readonly number[]): number[] {
    return qs.map((q) => this.quantile(q));
  }

  /** Estimated fraction of values <= x. */
  rank(x: number): number {
    if (this.count === 0) return NaN;
    const { values, cum } = this.sortedView();
    const j = upperBound(values, x);
    return j === 0 ? 0 : cum[j - 1]! / this.count;
  }

  /**
   * Estimated CDF at strictly increasing finite split points: m + 1 entries, entry i = rank(split i),
   * the last entry 1 (all NaN when empty). Each entry is within the single-sided error.
   * @throws RangeError if the split points are not finite and strictly increasing.
   */
  cdf(splitPoints: readonly number[]): number[] {
    checkSplitPoints(splitPoints);
    if (this.count === 0) return new Array<number>(splitPoints.length + 1).fill(NaN);
    return [...splitPoints.map((s) => this.rank(s)), 1];
  }

  /**
   * Estimated mass of (-inf, s0], (s0, s1], ..., (s_m-1, +inf): m + 1 entries summing to 1. Each entry
   * is within the double-sided error (`normalizedRankError(true)`).
   */
  pmf(splitPoints: readonly number[]): number[] {
    return pmfFromCdf(this.cdf(splitPoints));
  }

  /**
   * The compact binary form (little-endian), version 1:
   *
   * ```
   * u8      version = 1
   * u8      flags: bit 0 = FLOAT32 (min, max and items are float32; set only when every one of them is
   *         exactly representable as float32, so the encoding is always lossless); other bits zero
   * u16     k
   * u8      number of levels H (1..60)
   * varint  n (unsigned LEB128, minimal, <= 2^53 - 1); n = sum over h of size(h) * 2^h
   * varint  size of level 0, level 1, ..., level H-1 (the top level is non-empty when H > 1)
   * f32|f64 min, max (only when n > 0)
   * f32|f64 items of level 0, then of level 1, ..., each level ascending
   * ```
   */
  toBytes(): Uint8Array {
    const numLevels = this.starts.length;
    // Level 0 is kept unsorted in memory; its order means nothing, so sort it for a canonical form.
    this.items.subarray(this.starts[0], this.used).sort();
    let f32 =
      this.count === 0 || (Math.fround(this.lo) === this.lo && Math.fround(this.hi) === this.hi);
    for (let i = 0; f32 && i < this.used; i++) f32 = Math.fround(this.items[i]!) === this.items[i]!;
    const itemBytes = f32 ? 4 : 8;
    const sizes = new Array<number>(numLevels);
    for (let h = 0; h < numLevels; h++) sizes[h] = this.levelSize(h);
    let length = HEADER_BYTES + varintLength(this.count);
    for (const s of sizes) length += varintLength(s);
    length += (this.count > 0 ? 2 + this.used : 0) * itemBytes;

    const bytes = new Uint8Array(length);
    const view = new DataView(bytes.buffer);
    bytes[0] = SERIAL_VERSION;
    bytes[1] = f32 ? FLAG_FLOAT32 : 0;
    view.setUint16(2, this.k, true);
    bytes[4] = numLevels;
    let pos = writeVarint(bytes, HEADER_BYTES, this.count);
    for (const s of sizes) pos = writeVarint(bytes, pos, s);
    const put = (x: number): void => {
      if (f32) view.setFloat32(pos, x, true);
      else view.setFloat64(pos, x, true);
      pos += itemBytes;
    };
    if (this.count > 0) {
      put(this.lo);
      put(this.hi);
    }
    for (let h = 0; h < numLevels; h++) {
      const end = this.levelEnd(h);
      for (let i = this.starts[h]!; i < end; i++) put(this.items[i]!);
    }
    return bytes;
  }

  /** `toBytes()` as padded standard base64. */
  toBase64(): string {
    return encodeBase64(this.toBytes());
  }

  /**
   * Decode `toBytes()` output. Validates everything and never throws: EF_UNSUPPORTED_VERSION for another
   * version byte, EF_TOO_LARGE beyond `KLL_MAX_BYTES` / `KLL_MAX_RETAINED`, EF_MALFORMED otherwise
   * (truncated or extended input, k or level counts out of range, n inconsistent with the levels, more
   * items than the levels can hold, non-finite items, items outside [min, max], a level not ascending).
   * Memory allocated is bounded by the input length and by k.
   */
  static fromBytes(bytes: Uint8Array, opts: KllDecodeOptions = {}): Result<KllSketch> {
    if (!(bytes instanceof Uint8Array)) return fail('EF_MALFORMED', 'KLL sketch: expected bytes');
    if (bytes.length > KLL_MAX_BYTES) {
      return fail('EF_TOO_LARGE', `KLL sketch: ${bytes.length} bytes exceeds ${KLL_MAX_BYTES}`);
    }
    if (bytes.length < HEADER_BYTES) return fail('EF_MALFORMED', 'KLL sketch: truncated header');
    if (bytes[0] !== SERIAL_VERSION) {
      return fail(
        'EF_UNSUPPORTED_VERSION',
        `KLL sketch: serial version ${bytes[0]} is not supported (expected ${SERIAL_VERSION})`,
      );
    }
    const flags = bytes[1]!;
    if ((flags & ~FLAG_FLOAT32) !== 0) return fail('EF_MALFORMED', 'KLL sketch: unknown flags');
    const k = bytes[2]! | (bytes[3]! << 8);
    if (k < KLL_MIN_K) return fail('EF_MALFORMED', `KLL sketch: k = ${k} is below ${KLL_MIN_K}`);
    const numLevels = bytes[4]!;
    if (numLevels < 1 || numLevels > KLL_MAX_LEVELS) {
      return fail(
        'EF_MALFORMED',
        `KLL sketch: ${numLevels} levels is outside [1, ${KLL_MAX_LEVELS}]`,
      );
    }
    const reader = { pos: HEADER_BYTES };
    const n = readVarint(bytes, reader);
    if (n < 0) return fail('EF_MALFORMED', 'KLL sketch: bad varint for n');
    const sizes = new Array<number>(numLevels);
    let retained = 0;
    let weight = 0;
    for (let h = 0; h < numLevels; h++) {
      const s = readVarint(bytes, reader);
      if (s < 0) return fail('EF_MALFORMED', `KLL sketch: bad varint for the size of level ${h}`);
      if (s > KLL_MAX_RETAINED || retained + s > KLL_MAX_RETAINED) {
        return fail('EF_TOO_LARGE', `KLL sketch: more than ${KLL_MAX_RETAINED} items`);
      }
      sizes[h] = s;
      retained += s;
      weight += s * 2 ** h;
      if (weight > Number.MAX_SAFE_INTEGER) {
        return fail('EF_MALFORMED', 'KLL sketch: level weights exceed 2^53');
      }
    }
    if (weight !== n) {
      return fail('EF_MALFORMED', `KLL sketch: n = ${n} but the levels hold weight ${weight}`);
    }
    if (numLevels > 1 && sizes[numLevels - 1] === 0) {
      return fail('EF_MALFORMED', 'KLL sketch: the top level is empty');
    }
    const caps = levelCapacities(k, numLevels);
    const capacity = sum(caps);
    if (retained > capacity) {
      return fail('EF_MALFORMED', `KLL sketch: ${retained} items exceed capacity ${capacity}`);
    }
    const itemBytes = (flags & FLAG_FLOAT32) !== 0 ? 4 : 8;
    const expected = reader.pos + (n > 0 ? 2 + retained : 0) * itemBytes;
    if (bytes.length !== expected) {
      return fail(
        'EF_MALFORMED',
        `KLL sketch: ${bytes.length < expected ? 'truncated' : 'trailing bytes'} (${bytes.length} bytes, expected ${expected})`,
      );
    }

    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = reader.pos;
    const get = (): number => {
      const x = itemBytes === 4 ? view.getFloat32(pos, true) : view.getFloat64(pos, true);
      pos += itemBytes;
      return x;
    };
    let lo = Infinity;
    let hi = -Infinity;
    if (n > 0) {
      lo = get();
      hi = get();
      if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
        return fail('EF_MALFORMED', 'KLL sketch: min and max must be finite with min <= max');
      }
    }
    // Only what the input holds: the buffer grows to the capacity on the first update after decoding.
    const items = new Float64Array(retained);
    const starts = new Array<number>(numLevels);
    let start = retained;
    let seenLo = Infinity;
    let seenHi = -Infinity;
    for (let h = 0; h < numLevels; h++) {
      start -= sizes[h]!;
      starts[h] = start;
      let previous = -Infinity;
      for (let i = start; i < start + sizes[h]!; i++) {
        const x = get();
        if (!(x >= lo && x <= hi)) {
          return fail('EF_MALFORMED', `KLL sketch: item at level ${h} is not finite in [min, max]`);
        }
        if (x < previous) {
          return fail('EF_MALFORMED', `KLL sketch: level ${h} is not sorted`);
        }
        previous = x;
        if (x < seenLo) seenLo = x;
        if (x > seenHi) seenHi = x;
        items[i] = x;
      }
    }
    // With one level nothing was ever compacted away, so min and max are retained items.
    if (numLevels === 1 && n > 0 && (seenLo !== lo || seenHi !== hi)) {
      return fail('EF_MALFORMED', 'KLL sketch: min or max is not among the items');
    }

    const sketch = new KllSketch({
      k,
      random: opts.random ?? createUnseededRandom(),
    });
    sketch.items = items;
    sketch.starts = starts;
    sketch.used = retained;
    sketch.caps = caps;
    sketch.capacity = capacity;
    sketch.room = Math.min(capacity, retained);
    sketch.count = n;
    sketch.lo = lo;
    sketch.hi = hi;
    return ok(sketch);
  }

  /** Decode `toBase64()` output (see `fromBytes`). */
  static fromBase64(text: string, opts: KllDecodeOptions = {}): Result<KllSketch> {
    if (typeof text !== 'string') return fail('EF_MALFORMED', 'KLL sketch: expected a string');
    const bytes = decodeBase64(text, KLL_MAX_BYTES);
    return bytes.ok ? KllSketch.fromBytes(bytes.value, opts) : bytes;
  }

  // --- internals ---------------------------------------------------------------------------------

  private levelEnd(h: number): number {
    return h === 0 ? this.used : this.starts[h - 1]!;
  }

  private levelSize(h: number): number {
    return this.levelEnd(h) - this.starts[h]!;
  }

  private coin(): number {
    if (this.coinsLeft === 0) {
      this.coinBits = this.random.nextUint32();
      this.coinsLeft = 32;
    }
    this.coinsLeft--;
    const bit = this.coinBits & 1;
    this.coinBits >>>= 1;
    return bit;
  }

  /** Slow path of `update`: compact when full, or grow a buffer sized by `fromBytes`. */
  private makeRoom(): void {
    if (this.used >= this.capacity) this.compressOnce();
    if (this.items.length < this.capacity) this.grow(this.capacity);
    this.room = Math.min(this.capacity, this.items.length);
  }

  private grow(length: number): void {
    const grown = new Float64Array(length);
    grown.set(this.items.subarray(0, this.used));
    this.items = grown;
  }

  /** Compact the lowest level at or over its capacity (the buffer is full, so one exists). */
  private compressOnce(): void {
    const top = this.starts.length - 1;
    let h = 0;
    while (h < top && this.levelSize(h) < this.caps[h]!) h++;
    if (h === top) this.addLevel();
    this.compactLevel(h);
  }

  /** Add an empty level on top; every other level moves one step deeper and its capacity shrinks. */
  private addLevel(): void {
    this.starts.push(0);
    this.caps = levelCapacities(this.k, this.starts.length);
    this.capacity = sum(this.caps);
    // A little slack: the capacity grows by about 8 items per level.
    if (this.items.length < this.capacity) this.grow(this.capacity + 64);
    this.room = Math.min(this.capacity, this.items.length);
  }

  /**
   * Halve level h (h is not the top level): sort it, keep the items at a random parity, merge them into
   * level h + 1. With an odd size the smallest item stays behind at its weight, so n is preserved exactly.
   */
  private compactLevel(h: number): void {
    const items = this.items;
    const s = this.starts[h]!;
    const e = this.levelEnd(h);
    if (h === 0) items.subarray(s, e).sort();
    const size = e - s;
    const odd = size & 1;
    const half = size >>> 1;
    const leftover = items[s]!;
    const up = this.starts[h + 1]!;
    if (this.spare.length < items.length) this.spare = new Float64Array(items.length);
    const out = this.spare;
    let i = up;
    let j = s + odd + this.coin();
    let o = 0;
    while (i < s && j < e) {
      if (items[i]! <= items[j]!) {
        out[o++] = items[i++]!;
      } else {
        out[o++] = items[j]!;
        j += 2;
      }
    }
    while (i < s) out[o++] = items[i++]!;
    for (; j < e; j += 2) out[o++] = items[j]!;
    items.set(out.subarray(0, o), up);
    const newStart = s + half;
    if (odd === 1) items[newStart] = leftover;
    if (e < this.used) items.copyWithin(newStart + odd, e, this.used);
    this.starts[h] = newStart;
    for (let l = 0; l < h; l++) this.starts[l]! -= half;
    this.used -= half;
    this.view = undefined;
  }

  private sortedView(): SortedView {
    if (this.view !== undefined) return this.view;
    const items = this.items;
    // Order within level 0 carries no meaning, so sorting it in place is free of side effects.
    items.subarray(this.starts[0], this.used).sort();
    const r = this.used;
    let values = new Float64Array(r);
    let weights = new Float64Array(r);
    let nextValues = new Float64Array(r);
    let nextWeights = new Float64Array(r);
    let m = 0;
    for (let h = this.starts.length - 1; h >= 0; h--) {
      const w = 2 ** h;
      const e = this.levelEnd(h);
      let i = 0;
      let j = this.starts[h]!;
      let o = 0;
      while (i < m && j < e) {
        if (values[i]! <= items[j]!) {
          nextValues[o] = values[i]!;
          nextWeights[o++] = weights[i++]!;
        } else {
          nextValues[o] = items[j++]!;
          nextWeights[o++] = w;
        }
      }
      while (i < m) {
        nextValues[o] = values[i]!;
        nextWeights[o++] = weights[i++]!;
      }
      while (j < e) {
        nextValues[o] = items[j++]!;
        nextWeights[o++] = w;
      }
      [values, nextValues] = [nextValues, values];
      [weights, nextWeights] = [nextWeights, weights];
      m = o;
    }
    for (let i = 1; i < r; i++) weights[i]! += weights[i - 1]!;
    this.view = { values, cum: weights };
    return this.view;
  }
}

function varintLength(x: number): number {
  let length = 1;
  while (x >= 128) {
    x = Math.floor(x / 128);
    length++;
  }
  return length;
}

/** Write an unsigned LEB128 varint (x <= 2^53 - 1); returns the position after it. */
function writeVarint(bytes: Uint8Array, pos: number, x: number): number {
  while (x >= 128) {
    bytes[pos++] = (x % 128) | 128;
    x = Math.floor(x / 128);
  }
  bytes[pos++] = x;
  return pos;
}

/** Read a minimal unsigned LEB128 varint <= 2^53 - 1; -1 if truncated, too long or not minimal. */
function readVarint(bytes: Uint8Array, reader: { pos: number }): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (reader.pos >= bytes.length) return -1;
    const b = bytes[reader.pos++]!;
    value += (b & 127) * scale;
    if (b < 128) {
      if (i > 0 && b === 0) return -1;
      return value <= Number.MAX_SAFE_INTEGER ? value : -1;
    }
    scale *= 128;
  }
  return -1;
}
