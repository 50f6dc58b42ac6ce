/**
 * Recently verified device tokens, so that a fleet reconnecting at once (broker restart, network blip)
 * does not run the token verifier (a database read and a PBKDF2) once per device per reconnect.
 *
 * Holds a SHA-256 of the token, never the token. Bounded (least recently used entries go first) and
 * short-lived (an entry expires `ttlMs` after it was verified), so a revoked token keeps working for at
 * most `ttlMs` unless the caller calls {@link VerifiedTokenCache.forget}. Only successes are cached.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface VerifiedTokenCacheOptions {
  /** How long a verified token is trusted without asking the verifier again, in ms. */
  readonly ttlMs: number;
  /** Most devices remembered at once. */
  readonly maxEntries: number;
  /** Clock in ms (injectable for tests). */
  readonly now: () => number;
}

interface Entry {
  readonly digest: Buffer;
  readonly expiresAt: number;
}

const digestOf = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class VerifiedTokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #options: VerifiedTokenCacheOptions;

  constructor(options: VerifiedTokenCacheOptions) {
    if (!(options.ttlMs >= 0) || !Number.isInteger(options.maxEntries) || options.maxEntries < 0) {
      throw new TypeError('ttlMs must be >= 0 and maxEntries a non-negative integer');
    }
    this.#options = options;
  }

  /** True if `token` was verified for `deviceId` less than `ttlMs` ago. */
  has(deviceId: string, token: string): boolean {
    const entry = this.#entries.get(deviceId);
    if (!entry) return false;
    if (this.#options.now() >= entry.expiresAt) {
      this.#entries.delete(deviceId);
      return false;
    }
    if (!timingSafeEqual(entry.digest, digestOf(token))) return false;
    // Re-insert: Map iteration order is insertion order, so the first key is the least recently used.
    this.#entries.delete(deviceId);
    this.#entries.set(deviceId, entry);
    return true;
  }

  /** Remember that `token` is valid for `deviceId`. */
  remember(deviceId: string, token: string): void {
    if (this.#options.maxEntries === 0) return;
    this.#entries.delete(deviceId);
    this.#entries.set(deviceId, {
      digest: digestOf(token),
      expiresAt: this.#options.now() + this.#options.ttlMs,
    });
    while (this.#entries.size > this.#options.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }

  /** Drop what is known about `deviceId` (its token was revoked or rotated). */
  forget(deviceId: string): void {
    this.#entries.delete(deviceId);
  }

  get size(): number {
    return this.#entries.size;
  }
}
