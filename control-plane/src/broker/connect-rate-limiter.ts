/**
 * A token bucket per source address for CONNECT attempts: each source may connect `burst` times at
 * once and `perSecond` times per second after that. Guards the token verifier (and the log) against a
 * client that reconnects in a tight loop or guesses tokens.
 *
 * Memory is bounded: a bucket that has refilled completely is the same as no bucket, so such buckets
 * are swept when more than `maxSources` are tracked; if that is not enough, the least recently used
 * ones go (which errs on the side of letting a connection through).
 */

export interface ConnectRateLimit {
  /** Sustained CONNECTs per second per source. */
  readonly perSecond: number;
  /** CONNECTs a source may make at once after being idle. */
  readonly burst: number;
}

export interface ConnectRateLimiterOptions extends ConnectRateLimit {
  /** Most sources tracked at once (default 10 000). */
  readonly maxSources?: number;
  /** Clock in ms (injectable for tests). */
  readonly now: () => number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class ConnectRateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxSources: number;
  readonly #now: () => number;

  constructor(options: ConnectRateLimiterOptions) {
    const { perSecond, burst, maxSources = 10_000 } = options;
    if (!(perSecond > 0) || !Number.isFinite(perSecond)) {
      throw new TypeError('connect rate limit perSecond must be a positive number');
    }
    if (!Number.isInteger(burst) || burst < 1) {
      throw new TypeError('connect rate limit burst must be an integer >= 1');
    }
    if (!Number.isInteger(maxSources) || maxSources < 1) {
      throw new TypeError('maxSources must be an integer >= 1');
    }
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#maxSources = maxSources;
    this.#now = options.now;
  }

  /** Take one token for `source`; false if it has none left (the CONNECT should be refused). */
  tryAcquire(source: string): boolean {
    const now = this.#now();
    const bucket = this.#buckets.get(source);
    const tokens = bucket ? this.#refilled(bucket, now) : this.#burst;
    if (bucket) this.#buckets.delete(source); // re-inserted below: keeps Map order = LRU order
    const allowed = tokens >= 1;
    this.#buckets.set(source, { tokens: allowed ? tokens - 1 : tokens, updatedAt: now });
    if (this.#buckets.size > this.#maxSources) this.#sweep(now);
    return allowed;
  }

  /** Sources currently tracked (for tests and metrics). */
  get trackedSources(): number {
    return this.#buckets.size;
  }

  #refilled(bucket: Bucket, now: number): number {
    // A clock that goes backwards refills nothing rather than draining the bucket.
    const elapsed = Math.max(0, now - bucket.updatedAt);
    return Math.min(this.#burst, bucket.tokens + elapsed * this.#perMs);
  }

  #sweep(now: number): void {
    for (const [source, bucket] of this.#buckets) {
      if (this.#refilled(bucket, now) >= this.#burst) this.#buckets.delete(source);
    }
    // Evict down to 90% so that a table full of busy sources is not swept on every CONNECT.
    const target = Math.floor(this.#maxSources * 0.9);
    for (const source of this.#buckets.keys()) {
      if (this.#buckets.size <= target) break;
      this.#buckets.delete(source);
    }
  }
}
