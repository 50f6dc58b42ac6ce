import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualTimers } from '../telemetry/fixtures.test-support.js';
import { DEFAULT_RETENTION, RetentionLoop, retentionCutoffs } from './retention.js';

const NOW = new Date('2030-06-01T12:00:00.000Z');
const DAY = 86_400_000;

describe('retention', () => {
  it('cuts each kind of data at its own age', () => {
    const cut = retentionCutoffs(NOW, {
      deviceWindowDays: 7,
      aggregateDays: 90,
      driftHistoryDays: 30,
    });
    expect(cut.deviceWindows.getTime()).toBe(NOW.getTime() - 7 * DAY);
    expect(cut.aggregates.getTime()).toBe(NOW.getTime() - 90 * DAY);
    expect(cut.driftHistory.getTime()).toBe(NOW.getTime() - 30 * DAY);
  });

  it('sweeps on its timer with the policy cut-offs, survives a failed sweep, and stops', async () => {
    const timers = new ManualTimers();
    const calls: string[] = [];
    let fail = true;
    let warned: () => void = () => undefined;
    let swept: () => void = () => undefined;
    const loop = new RetentionLoop({
      policy: DEFAULT_RETENTION,
      now: () => NOW,
      timers,
      intervalMs: 3_600_000,
      firstDelayMs: 60_000,
      logger: {
        info: () => {
          swept();
        },
        warn: () => {
          warned();
        },
      },
      targets: {
        telemetry: (deviceWindows, aggregates) => {
          calls.push(`telemetry ${deviceWindows.toISOString()} ${aggregates.toISOString()}`);
          if (fail) {
            fail = false;
            return Promise.reject(new Error('database gone'));
          }
          return Promise.resolve({ deviceWindows: 3, aggregates: 0 });
        },
        driftHistory: (before) => {
          calls.push(`drift ${before.toISOString()}`);
          return Promise.resolve({ windowResults: 1, events: 0 });
        },
      },
    });
    const next = (set: (f: () => void) => void) =>
      new Promise<void>((resolve) => {
        set(resolve);
      });
    loop.start();
    expect(timers.armed).toEqual([60_000]);

    // The first sweep fails in the telemetry step: logged, and the next one is armed an interval later.
    const failed = next((f) => (warned = f));
    timers.fireAll();
    await failed;
    await loop.stop().then(() => undefined);
    expect(calls).toEqual(['telemetry 2030-05-25T12:00:00.000Z 2030-03-03T12:00:00.000Z']);

    loop.start();
    const done = next((f) => (swept = f));
    timers.fireAll();
    await done; // logged what it deleted
    await loop.stop();
    expect(calls.slice(1)).toEqual([
      'telemetry 2030-05-25T12:00:00.000Z 2030-03-03T12:00:00.000Z',
      'drift 2030-03-03T12:00:00.000Z',
    ]);
    expect(timers.armed).toEqual([]);
  });

  it('arms the next sweep an interval after the last one', async () => {
    const timers = new ManualTimers();
    let swept: () => void = () => undefined;
    const loop = new RetentionLoop({
      policy: DEFAULT_RETENTION,
      now: () => NOW,
      timers,
      intervalMs: 3_600_000,
      firstDelayMs: 60_000,
      logger: pino({ level: 'silent' }),
      targets: {
        telemetry: () => Promise.resolve({}),
        driftHistory: () => {
          swept();
          return Promise.resolve({});
        },
      },
    });
    loop.start();
    const done = new Promise<void>((resolve) => {
      swept = resolve;
    });
    timers.fireAll();
    await done;
    // The sweep's promise chain settles, then the next timer is armed.
    await new Promise<void>((resolve) => {
      setImmediate(resolve);
    });
    expect(timers.armed).toEqual([3_600_000]);
    await loop.stop();
    expect(timers.armed).toEqual([]);
  });

  it('reports what a sweep deleted', async () => {
    const loop = new RetentionLoop({
      policy: DEFAULT_RETENTION,
      now: () => NOW,
      logger: pino({ level: 'silent' }),
      targets: {
        telemetry: () => Promise.resolve({ seqs: 2, deviceWindows: 5, aggregates: 1 }),
        driftHistory: () => Promise.resolve({ windowResults: 4, events: 1 }),
      },
    });
    expect(await loop.sweep()).toEqual({
      seqs: 2,
      deviceWindows: 5,
      aggregates: 1,
      windowResults: 4,
      events: 1,
    });
  });
});
