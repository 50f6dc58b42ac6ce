import { describe, expect, it } from 'vitest';
import { ConnectRateLimiter } from './connect-rate-limiter.js';

function limiter(perSecond: number, burst: number, maxSources?: number) {
  const clock = { now: 0 };
  const rl = new ConnectRateLimiter({
    perSecond,
    burst,
    now: () => clock.now,
    ...(maxSources === undefined ? {} : { maxSources }),
  });
  return { rl, clock };
}

const takeMany = (rl: ConnectRateLimiter, source: string, n: number): boolean[] =>
  Array.from({ length: n }, () => rl.tryAcquire(source));

describe('ConnectRateLimiter', () => {
  it('allows a burst, then refuses until tokens refill', () => {
    const { rl, clock } = limiter(2, 3);
    expect(takeMany(rl, 'a', 4)).toEqual([true, true, true, false]);
    clock.now = 499; // 0.998 of a token
    expect(rl.tryAcquire('a')).toBe(false);
    clock.now = 1_000; // 2 tokens per second since t=0, none spent
    expect(takeMany(rl, 'a', 3)).toEqual([true, true, false]);
  });

  it('keeps one bucket per source', () => {
    const { rl } = limiter(1, 1);
    expect(rl.tryAcquire('a')).toBe(true);
    expect(rl.tryAcquire('a')).toBe(false);
    expect(rl.tryAcquire('b')).toBe(true);
  });

  it('never refills above the burst', () => {
    const { rl, clock } = limiter(10, 2);
    rl.tryAcquire('a');
    clock.now = 60_000;
    expect(takeMany(rl, 'a', 3)).toEqual([true, true, false]);
  });

  it('does not refill or drain when the clock goes backwards', () => {
    const { rl, clock } = limiter(1, 1);
    clock.now = 10_000;
    expect(rl.tryAcquire('a')).toBe(true);
    clock.now = 5_000;
    expect(rl.tryAcquire('a')).toBe(false);
    clock.now = 6_000;
    expect(rl.tryAcquire('a')).toBe(true);
  });

  it('bounds the number of tracked sources', () => {
    const { rl, clock } = limiter(1, 1, 10);
    for (let i = 0; i < 100; i++) rl.tryAcquire(`s${i}`);
    expect(rl.trackedSources).toBeLessThanOrEqual(10);
    clock.now = 10_000; // every bucket has refilled: a sweep drops them all
    for (let i = 0; i < 11; i++) rl.tryAcquire(`t${i}`);
    expect(rl.trackedSources).toBeLessThanOrEqual(10);
  });

  it('rejects nonsensical settings at construction', () => {
    expect(() => new ConnectRateLimiter({ perSecond: 0, burst: 1, now: () => 0 })).toThrow(
      TypeError,
    );
    expect(() => new ConnectRateLimiter({ perSecond: 1, burst: 0, now: () => 0 })).toThrow(
      TypeError,
    );
    expect(() => new ConnectRateLimiter({ perSecond: Infinity, burst: 1, now: () => 0 })).toThrow(
      TypeError,
    );
  });
});
