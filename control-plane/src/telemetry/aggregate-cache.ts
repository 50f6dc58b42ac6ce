/**
 * The merged totals of recently written aggregate rows (release x cohort x window), decoded, so a
 * batch merges its windows into what it wrote last time instead of reading the row back and decoding
 * its sketches again: with windows arriving all the time, every batch touches the same few rows of
 * the current window, and reading plus decoding them was most of a batch's work.
 *
 * Another writer (a second replica, or this process before a restart) may have changed a row since:
 * an entry carries the version of the row it was written as, `windows_merged` and `updated_at`, and
 * the batch compares them with the row it locks (`for update`) before trusting the entry. A row only
 * ever grows (every merge adds at least one window), so a row with the same `windows_merged` holds
 * the same merge; `updated_at` also tells apart a row pruned and written again from scratch. On any
 * difference the row is read and decoded as before, and the entry replaced after commit.
 *
 * Entries are set only after their batch committed and never mutated (a merge builds new sketches),
 * so a failed batch leaves nothing behind. Least recently used entries go beyond `maxEntries`.
 */
import type { TelemetryTotals } from './totals.js';

export interface CachedAggregate {
  /** The row's merged totals as written (not to be mutated). */
  readonly totals: TelemetryTotals;
  /** The row's version: its `windows_merged` and `updated_at` (epoch ms) as written. */
  readonly windowsMerged: number;
  readonly updatedAt: number;
}

export class AggregateCache {
  private readonly entries = new Map<string, CachedAggregate>();

  /** @throws RangeError when `maxEntries` is not a whole number >= 0 (0: no caching). */
  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) {
      throw new RangeError(`maxEntries must be a whole number >= 0, got ${maxEntries}`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** The entry of a row id (see `write-batch.ts`), marking it recently used. */
  get(id: string): CachedAggregate | undefined {
    const e = this.entries.get(id);
    if (e !== undefined) {
      this.entries.delete(id);
      this.entries.set(id, e);
    }
    return e;
  }

  /** Whether the row is cached, without marking it used. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  set(id: string, entry: CachedAggregate): void {
    if (this.maxEntries === 0) return;
    this.entries.delete(id);
    this.entries.set(id, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  delete(id: string): void {
    this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }
}
