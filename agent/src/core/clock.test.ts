import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';
import { ManualClock, sleep } from './clock.js';

describe('ManualClock', () => {
  it('runs due timers in due order, with now() at each due time, including timers they schedule', () => {
    const clock = new ManualClock(1000);
    const seen: [string, number][] = [];
    clock.setTimeout(() => seen.push(['b', clock.now()]), 20);
    clock.setTimeout(() => {
      seen.push(['a', clock.now()]);
      clock.setTimeout(() => seen.push(['c', clock.now()]), 15);
    }, 10);
    const cancelled = clock.setTimeout(() => seen.push(['x', clock.now()]), 5);
    clock.clearTimeout(cancelled);
    clock.advance(30);
    expect(seen).toEqual([
      ['a', 1010],
      ['b', 1020],
      ['c', 1025],
    ]);
    expect(clock.now()).toBe(1030);
    expect(clock.pending).toBe(0);
  });

  it('sleep resolves on the clock, or false when aborted', async () => {
    const clock = new ManualClock(0);
    const done = sleep(clock, 100);
    clock.advance(100);
    await expect(done).resolves.toBe(true);
    const controller = new AbortController();
    const aborted = sleep(clock, 100, controller.signal);
    controller.abort();
    await expect(aborted).resolves.toBe(false);
    expect(clock.pending).toBe(0);
  });
});

describe('backoffDelay', () => {
  it('doubles from the base up to the cap, jittered within [d/2, d]', () => {
    const opts = { baseMs: 1000, capMs: 60_000 };
    expect([0, 1, 2, 3, 6, 7, 50].map((n) => backoffDelay(n, opts, () => 0))).toEqual([
      500, 1000, 2000, 4000, 30_000, 30_000, 30_000,
    ]);
    expect([0, 1, 6, 7].map((n) => backoffDelay(n, opts, () => 0.999999))).toEqual([
      1000, 2000, 60_000, 60_000,
    ]);
    expect(backoffDelay(3, { baseMs: 0 })).toBe(0);
  });
});
