/**
 * Frequent items of a categorical feature (or of predicted classes): the weighted Misra-Gries summary
 * with at most `maxItems` counters, mergeable as in Agarwal et al., "Mergeable Summaries" (PODS 2012).
 *
 * Guarantee: every counter under-estimates its item's true weight f by at most
 * `maxError = (n - sum of counters) / (maxItems + 1)` <= n / (maxItems + 1). Each step that lowers the
 * counters (a decrement on a full table, or the cut after a merge) removes at least maxItems + 1 times
 * as much weight in total as it takes from any one item, so the per-item loss never exceeds the total
 * loss divided by maxItems + 1. Hence f - maxError <= estimate <= f, and every item with f > maxError
 * holds a counter.
 */
import { z } from 'zod';
import { fail, ok, type Result } from '../errors.js';

export const FREQUENT_ITEMS_DEFAULT_MAX_ITEMS = 64;
/** Largest `maxItems` accepted (also by `fromJSON`). */
export const FREQUENT_ITEMS_MAX_MAX_ITEMS = 4096;
/** Items longer than this many UTF-16 code units are truncated by `update`. */
export const FREQUENT_ITEMS_MAX_ITEM_LENGTH = 256;

/** Options of `new FrequentItems(...)`. */
export interface FrequentItemsOptions {
  /** Number of counters, 1..4096 (default 64): maxError <= n / (maxItems + 1). */
  readonly maxItems?: number;
}

/** One tracked item with its bounds: lowerBound <= true weight <= upperBound. */
export interface FrequentItem {
  readonly item: string;
  /** The counter (Misra-Gries estimates never over-count: equal to `lowerBound`). */
  readonly estimate: number;
  readonly lowerBound: number;
  readonly upperBound: number;
}

const weight = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/** Wire form: `items` as [item, count] pairs, largest count first. */
export const FrequentItemsJsonSchema = z
  .strictObject({
    maxItems: z.number().int().min(1).max(FREQUENT_ITEMS_MAX_MAX_ITEMS),
    n: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    items: z
      .array(z.tuple([z.string().max(FREQUENT_ITEMS_MAX_ITEM_LENGTH), weight]))
      .max(FREQUENT_ITEMS_MAX_MAX_ITEMS),
  })
  .superRefine((s, ctx) => {
    if (s.items.length > s.maxItems) {
      ctx.addIssue({ code: 'custom', message: 'more items than maxItems' });
    }
    const seen = new Set<string>();
    let total = 0;
    for (const [item, count] of s.items) {
      if (seen.has(item)) ctx.addIssue({ code: 'custom', message: `duplicate item ${item}` });
      seen.add(item);
      total += count;
    }
    if (total > s.n) ctx.addIssue({ code: 'custom', message: 'counters exceed n' });
  });

export type FrequentItemsJson = z.infer<typeof FrequentItemsJsonSchema>;

function byEstimate(a: FrequentItem, b: FrequentItem): number {
  return b.estimate - a.estimate || (a.item < b.item ? -1 : a.item > b.item ? 1 : 0);
}

/** A bounded, mergeable frequent-items summary of weighted string items. */
export class FrequentItems {
  readonly maxItems: number;
  private readonly counters = new Map<string, number>();
  private total = 0;
  private counted = 0;

  /** @throws RangeError if maxItems is not an integer in [1, 4096]. */
  constructor(opts: FrequentItemsOptions = {}) {
    const maxItems = opts.maxItems ?? FREQUENT_ITEMS_DEFAULT_MAX_ITEMS;
    if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > FREQUENT_ITEMS_MAX_MAX_ITEMS) {
      throw new RangeError(
        `maxItems must be an integer in [1, ${FREQUENT_ITEMS_MAX_MAX_ITEMS}], got ${maxItems}`,
      );
    }
    this.maxItems = maxItems;
  }

  /** Total weight of all updates. */
  get n(): number {
    return this.total;
  }

  /** Number of items currently tracked (<= maxItems). */
  get size(): number {
    return this.counters.size;
  }

  /** Bound on the under-count of any item: (n - sum of counters) / (maxItems + 1). */
  get maxError(): number {
    return (this.total - this.counted) / (this.maxItems + 1);
  }

  /**
   * Add `weight` occurrences of `item` (weight a positive safe integer). Items longer than
   * `FREQUENT_ITEMS_MAX_ITEM_LENGTH` code units are truncated to it.
   * @throws RangeError for a weight that is not a positive safe integer.
   */
  update(item: string, weight = 1): void {
    if (!Number.isSafeInteger(weight) || weight < 1) {
      throw new RangeError(`weight must be a positive safe integer, got ${weight}`);
    }
    const key = this.key(item);
    this.total += weight;
    const c = this.counters.get(key);
    if (c !== undefined) {
      this.counters.set(key, c + weight);
      this.counted += weight;
      return;
    }
    if (this.counters.size < this.maxItems) {
      this.counters.set(key, weight);
      this.counted += weight;
      return;
    }
    // Full table: take d from each of the maxItems counters and from the newcomer (maxItems + 1 in all).
    let smallest = weight;
    for (const v of this.counters.values()) if (v < smallest) smallest = v;
    for (const [k, v] of this.counters) {
      if (v === smallest) this.counters.delete(k);
      else this.counters.set(k, v - smallest);
    }
    this.counted -= smallest * this.maxItems;
    const rest = weight - smallest;
    if (rest > 0) {
      this.counters.set(key, rest);
      this.counted += rest;
    }
  }

  /**
   * Merge another summary into this one (Agarwal et al.): add the counters; if more than maxItems remain,
   * subtract the (maxItems+1)-th largest counter from all and drop those that reach zero.
   * `other` may have more counters than this one (its items are then cut to this maxItems), not fewer:
   * its own error would exceed this summary's bound.
   * @throws RangeError if other.maxItems < this.maxItems.
   */
  merge(other: FrequentItems): void {
    if (other.maxItems < this.maxItems) {
      throw new RangeError(
        `cannot merge frequent items with maxItems ${other.maxItems} into maxItems ${this.maxItems}`,
      );
    }
    const entries = [...other.counters];
    this.total += other.total;
    for (const [item, c] of entries) {
      this.counters.set(item, (this.counters.get(item) ?? 0) + c);
      this.counted += c;
    }
    if (this.counters.size <= this.maxItems) return;
    const values = [...this.counters.values()].sort((a, b) => b - a);
    const cut = values[this.maxItems]!;
    for (const [k, v] of this.counters) {
      if (v <= cut) {
        this.counters.delete(k);
        this.counted -= v;
      } else {
        this.counters.set(k, v - cut);
        this.counted -= cut;
      }
    }
  }

  /** The counter of `item` (0 if untracked): a lower bound on its true weight. */
  estimate(item: string): number {
    return this.counters.get(this.key(item)) ?? 0;
  }

  lowerBound(item: string): number {
    return this.estimate(item);
  }

  upperBound(item: string): number {
    return this.estimate(item) + this.maxError;
  }

  /** Up to `k` tracked items, largest estimate first (ties by item). */
  top(k = this.maxItems): FrequentItem[] {
    return [...this.items()].sort(byEstimate).slice(0, Math.max(0, k));
  }

  /** Every tracked item, in no particular order. */
  *items(): IterableIterator<FrequentItem> {
    const err = this.maxError;
    for (const [item, c] of this.counters) {
      yield { item, estimate: c, lowerBound: c, upperBound: c + err };
    }
  }

  /** Plain JSON-safe object (see `FrequentItemsJsonSchema`). */
  toJSON(): FrequentItemsJson {
    return {
      maxItems: this.maxItems,
      n: this.total,
      items: this.top().map((f) => [f.item, f.estimate] as [string, number]),
    };
  }

  /** Validate and decode `toJSON()` output; EF_MALFORMED with the schema issues otherwise. */
  static fromJSON(input: unknown): Result<FrequentItems> {
    const parsed = FrequentItemsJsonSchema.safeParse(input);
    if (!parsed.success) {
      return fail('EF_MALFORMED', `frequent items: ${z.prettifyError(parsed.error)}`);
    }
    return ok(FrequentItems.fromValid(parsed.data));
  }

  /**
   * Decode JSON that `FrequentItemsJsonSchema` has already accepted (e.g. as part of a message schema),
   * without walking the schema a second time.
   */
  static fromValid(j: FrequentItemsJson): FrequentItems {
    const s = new FrequentItems({ maxItems: j.maxItems });
    for (const [item, count] of j.items) {
      s.counters.set(item, count);
      s.counted += count;
    }
    s.total = j.n;
    return s;
  }

  private key(item: string): string {
    return item.length > FREQUENT_ITEMS_MAX_ITEM_LENGTH
      ? item.slice(0, FREQUENT_ITEMS_MAX_ITEM_LENGTH)
      : item;
  }
}
