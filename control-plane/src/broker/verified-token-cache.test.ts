import { describe, expect, it } from 'vitest';
import { VerifiedTokenCache } from './verified-token-cache.js';

function cacheWithClock(ttlMs = 1_000, maxEntries = 3) {
  const clock = { now: 0 };
  const cache = new VerifiedTokenCache({ ttlMs, maxEntries, now: () => clock.now });
  return { cache, clock };
}

describe('VerifiedTokenCache', () => {
  it('knows a remembered token for that device only', () => {
    const { cache } = cacheWithClock();
    cache.remember('dev-1', 'token-1');
    expect(cache.has('dev-1', 'token-1')).toBe(true);
    expect(cache.has('dev-1', 'token-2')).toBe(false);
    expect(cache.has('dev-2', 'token-1')).toBe(false);
  });

  it('forgets an entry once its time to live has passed', () => {
    const { cache, clock } = cacheWithClock(1_000);
    cache.remember('dev-1', 't');
    clock.now = 999;
    expect(cache.has('dev-1', 't')).toBe(true);
    clock.now = 1_000;
    expect(cache.has('dev-1', 't')).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('evicts the least recently used device when full', () => {
    const { cache } = cacheWithClock(1_000, 2);
    cache.remember('dev-1', 't');
    cache.remember('dev-2', 't');
    expect(cache.has('dev-1', 't')).toBe(true); // dev-2 is now the least recently used
    cache.remember('dev-3', 't');
    expect(cache.has('dev-2', 't')).toBe(false);
    expect(cache.has('dev-1', 't')).toBe(true);
    expect(cache.has('dev-3', 't')).toBe(true);
  });

  it('forgets a device on request (token revoked)', () => {
    const { cache } = cacheWithClock();
    cache.remember('dev-1', 't');
    cache.forget('dev-1');
    expect(cache.has('dev-1', 't')).toBe(false);
  });

  it('a new token replaces the old one', () => {
    const { cache } = cacheWithClock();
    cache.remember('dev-1', 'old');
    cache.remember('dev-1', 'new');
    expect(cache.has('dev-1', 'old')).toBe(false);
    expect(cache.has('dev-1', 'new')).toBe(true);
  });

  it('remembers nothing with maxEntries 0', () => {
    const { cache } = cacheWithClock(1_000, 0);
    cache.remember('dev-1', 't');
    expect(cache.has('dev-1', 't')).toBe(false);
  });
});
