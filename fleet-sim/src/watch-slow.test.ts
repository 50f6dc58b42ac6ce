import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SLOW_STEP_MS, watchSlow, type SimDevice } from './fleet.js';

const device = { deviceId: 'sim-1' } as SimDevice;

describe('a device whose agent takes long to stop or start', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is reported every SLOW_STEP_MS while pending, and no more once done', async () => {
    const heard: [string, string, number][] = [];
    let finish: () => void = () => undefined;
    const step = new Promise<void>((r) => (finish = r));
    const watched = watchSlow(step, device, 'stop', (d, s, ms) => heard.push([d.deviceId, s, ms]));
    await vi.advanceTimersByTimeAsync(SLOW_STEP_MS - 1);
    expect(heard).toEqual([]);
    await vi.advanceTimersByTimeAsync(2 * SLOW_STEP_MS);
    expect(heard.map(([d, s]) => `${d} ${s}`)).toEqual(['sim-1 stop', 'sim-1 stop']);
    expect(heard[0]![2]).toBeGreaterThanOrEqual(SLOW_STEP_MS);
    finish();
    await watched;
    await vi.advanceTimersByTimeAsync(5 * SLOW_STEP_MS);
    expect(heard).toHaveLength(2);
  });

  it('passes a failure through', async () => {
    await expect(
      watchSlow(Promise.reject(new Error('no')), device, 'start', () => undefined),
    ).rejects.toThrow('no');
  });
});
