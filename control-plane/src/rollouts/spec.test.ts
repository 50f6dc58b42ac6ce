import { describe, expect, it } from 'vitest';
import {
  directiveSoak,
  parseDurationSeconds,
  parseRolloutSpec,
  RolloutSpecSchema,
  waveNeedsApproval,
  waveTimeoutSeconds,
  type RolloutSpecInput,
} from './spec.js';

function issues(input: unknown): string[] {
  const r = parseRolloutSpec(input);
  if (r.ok) throw new Error('expected the spec to be refused');
  expect(r.code).toBe('EF_BAD_REQUEST');
  return r.details!.issues as string[];
}

const canary: RolloutSpecInput = {
  releaseId: 'detector-2.1.0',
  selector: 'site=berlin,hw in (jetson,rpi5)',
  waves: [
    { name: 'canary', size: { count: 5 }, soak: { duration: '10m', minInferences: 500 } },
    { name: 'tenth', size: { percent: 10 }, gates: { minSuccessRatio: 0.9, maxErrorRate: 0.01 } },
    { name: 'all', size: { percent: 100 } },
  ],
  rate: { maxPerMinute: 20, rampAfter: 10 },
  maxConcurrent: 25,
  deviceTimeout: '45m',
  abortCriteria: [{ metric: 'failed_ratio', threshold: 0.2 }],
  onFailure: 'abort',
  approval: { betweenWaves: true },
  maintenanceWindow: { days: ['sat', 'sun'], start: '22:00', end: '04:00' },
};

describe('RolloutSpecSchema', () => {
  it('fills in every default from a release id alone', () => {
    expect(RolloutSpecSchema.parse({ releaseId: 'r1' })).toEqual({
      releaseId: 'r1',
      selector: '',
      waves: [{ name: 'all', size: { percent: 100 }, soak: {}, gates: { minSuccessRatio: 0.95 } }],
      spreadBy: ['hardwareClass', 'site'],
      rate: { maxPerMinute: 60, rampFactor: 2 },
      maxConcurrent: 50,
      deviceTimeout: 1800,
      abortCriteria: [],
      onFailure: 'pause',
      approval: { beforeFirstWave: false, betweenWaves: false },
    });
  });

  it('normalizes durations to seconds and criteria to their defaults', () => {
    const spec = RolloutSpecSchema.parse(canary);
    expect(spec.waves[0]!.soak).toEqual({ duration: 600, minInferences: 500 });
    expect(spec.deviceTimeout).toBe(2700);
    expect(spec.abortCriteria).toEqual([
      { metric: 'failed_ratio', threshold: 0.2, minDevices: 10 },
    ]);
    expect(spec.maintenanceWindow).toEqual({
      days: ['sat', 'sun'],
      start: '22:00',
      end: '04:00',
      tz: 'UTC',
    });
  });

  it('parses a normalized spec back to itself (stored specs re-validate)', () => {
    const once = RolloutSpecSchema.parse(canary);
    expect(RolloutSpecSchema.parse(JSON.parse(JSON.stringify(once)))).toEqual(once);
  });

  it('requires the last wave to be 100 percent', () => {
    expect(issues({ releaseId: 'r1', waves: [{ name: 'canary', size: { count: 5 } }] })).toEqual([
      'waves.0.size: the last wave must be {percent: 100} so that every matching device is covered (wave sizes are cumulative)',
    ]);
  });

  it('refuses cumulative sizes that shrink, and duplicate wave names', () => {
    expect(
      issues({
        releaseId: 'r1',
        waves: [
          { name: 'a', size: { percent: 20 } },
          { name: 'a', size: { percent: 10 } },
          { name: 'c', size: { percent: 100 } },
        ],
      }),
    ).toEqual([
      'waves.1.name: wave name a is used twice',
      'waves.1.size: wave sizes are cumulative (devices covered after the wave) and cannot shrink: 10% follows 20%',
    ]);
  });

  it('refuses a soak that does not fit in the device timeout', () => {
    expect(
      issues({
        releaseId: 'r1',
        deviceTimeout: '20m',
        waves: [{ name: 'all', size: { percent: 100 }, soak: { duration: '30m' } }],
      }),
    ).toEqual([
      'waves.0.soak.duration: the soak (1800s) must be shorter than the device timeout (1200s): a device reports success only after its soak',
    ]);
  });

  it('explains a bad selector, size, duration, threshold and window', () => {
    expect(issues({ releaseId: 'r1', selector: 'site in berlin' })[0]).toMatch(
      /^selector: invalid label selector/,
    );
    expect(issues({ releaseId: 'r1', waves: [{ name: 'all', size: { devices: 3 } }] })[0]).toBe(
      'waves.0.size: size is {count: n} (n >= 1) or {percent: p} (0 < p <= 100)',
    );
    expect(issues({ releaseId: 'r1', deviceTimeout: '10 minutes' })[0]).toBe(
      'deviceTimeout: a duration: whole seconds, or text such as 90s, 10m, 1h30m, 2d',
    );
    expect(issues({ releaseId: 'r1', deviceTimeout: '31d' })[0]).toBe(
      'deviceTimeout: at most 30 days',
    );
    expect(
      issues({ releaseId: 'r1', abortCriteria: [{ metric: 'failed_ratio', threshold: 2 }] })[0],
    ).toBe('abortCriteria.0.threshold: the threshold of a ratio metric is at most 1');
    expect(
      issues({ releaseId: 'r1', maintenanceWindow: { start: '25:00', end: '03:00' } })[0],
    ).toBe('maintenanceWindow.start: a time of day HH:MM (24 h)');
    expect(
      issues({ releaseId: 'r1', maintenanceWindow: { start: '03:00', end: '03:00' } })[0],
    ).toBe('maintenanceWindow.end: start and end must differ');
    expect(issues({ releaseId: 'r1', rate: { maxPerMinute: 10, rampMaxPerMinute: 100 } })).toEqual([
      'rate.rampMaxPerMinute: rampMaxPerMinute needs rampAfter',
    ]);
    expect(issues({ releaseId: 'r1', surprise: true })[0]).toMatch(/surprise/);
  });

  it('allows a latency ratio threshold above 1 but not an error rate above 1', () => {
    expect(
      parseRolloutSpec({
        releaseId: 'r1',
        abortCriteria: [{ metric: 'p95_latency_ratio', threshold: 1.5, minDevices: 3 }],
      }).ok,
    ).toBe(true);
    expect(
      issues({ releaseId: 'r1', abortCriteria: [{ metric: 'error_rate', threshold: 3 }] }),
    ).toHaveLength(1);
  });
});

describe('spec helpers', () => {
  it('parses duration text', () => {
    expect(parseDurationSeconds('90s')).toBe(90);
    expect(parseDurationSeconds('1h30m')).toBe(5400);
    expect(parseDurationSeconds('2d')).toBe(172_800);
    expect(parseDurationSeconds('1.5h')).toBeUndefined();
    expect(parseDurationSeconds('')).toBeUndefined();
  });

  it('derives the directive soak from the wave soak and error-rate gate', () => {
    const spec = RolloutSpecSchema.parse(canary);
    expect(directiveSoak(spec, 0)).toEqual({ durationSec: 600, minInferences: 500 });
    expect(directiveSoak(spec, 1)).toEqual({ maxErrorRate: 0.01 });
    expect(directiveSoak(spec, 2)).toBeUndefined();
  });

  it('knows which waves need approval and their timeouts', () => {
    const spec = RolloutSpecSchema.parse({
      ...canary,
      waves: [
        { name: 'canary', size: { count: 1 }, deviceTimeout: '5m' },
        { name: 'all', size: { percent: 100 } },
      ],
    });
    expect([waveNeedsApproval(spec, 0), waveNeedsApproval(spec, 1)]).toEqual([false, true]);
    expect([waveTimeoutSeconds(spec, 0), waveTimeoutSeconds(spec, 1)]).toEqual([300, 2700]);
  });
});
