import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cumulativeTargets, planTick, type PlanEffect, type PlannerSnapshot } from './planner.js';
import { FleetSim, makeFleet, type Behaviour } from './planner.test-support.js';
import { RolloutSpecSchema, type RolloutSpecInput } from './spec.js';
import { MINUTE_MS } from './throttle.js';

const SECOND = 1000;
const ok = (delayMs = 30 * SECOND): Behaviour => ({ outcome: 'succeed', delayMs });
const silent: Behaviour = { outcome: 'silent', delayMs: 0 };

const types = (effects: readonly PlanEffect[]) => effects.map((e) => e.type);
const assigned = (effects: readonly PlanEffect[]) =>
  effects.flatMap((e) => (e.type === 'assign' ? [e.deviceId] : []));

/** Three waves, fast pace, lenient gates: the shape most tests start from. */
const threeWaves: RolloutSpecInput = {
  releaseId: 'r2',
  waves: [
    { name: 'canary', size: { count: 2 } },
    { name: 'half', size: { percent: 50 } },
    { name: 'all', size: { percent: 100 } },
  ],
  rate: { maxPerMinute: 1000 },
  maxConcurrent: 1000,
  deviceTimeout: '10m',
};

describe('cumulativeTargets', () => {
  it('caps counts at the fleet, rounds percentages up and leaves the last wave open', () => {
    const sizes = RolloutSpecSchema.parse(threeWaves).waves.map((w) => w.size);
    expect(cumulativeTargets(sizes, 200)).toEqual([2, 100, null]);
    expect(cumulativeTargets(sizes, 1)).toEqual([1, 1, null]);
    expect(cumulativeTargets(sizes, 0)).toEqual([0, 0, null]);
    expect(cumulativeTargets([{ percent: 1 }, { percent: 10 }, { percent: 100 }], 50)).toEqual([
      1,
      5,
      null,
    ]);
  });

  it('never shrinks when a count is followed by a smaller percentage', () => {
    expect(cumulativeTargets([{ count: 10 }, { percent: 5 }, { percent: 100 }], 100)).toEqual([
      10,
      10,
      null,
    ]);
  });
});

describe('planTick: waves', () => {
  it('fixes the plan, starts the first wave and fills it in one tick', () => {
    const sim = new FleetSim(
      threeWaves,
      makeFleet(10, () => ok()),
    );
    const effects = sim.tick();
    expect(types(effects)).toEqual(['fixPlan', 'startWave', 'assign', 'assign']);
    expect(effects[0]).toEqual({ type: 'fixPlan', fleetSize: 10, cumulativeTargets: [2, 5, null] });
  });

  it('soaks a wave once every member activated, and passes it once all succeeded', () => {
    const sim = new FleetSim(
      threeWaves,
      makeFleet(10, () => ok(60 * SECOND)),
    );
    sim.tick();
    expect(types(sim.step(10 * SECOND))).toEqual([]);
    expect(types(sim.step(25 * SECOND))).toEqual(['startSoak']);
    const next = sim.step(30 * SECOND);
    expect(types(next)).toEqual(['completeWave', 'startWave', 'assign', 'assign', 'assign']);
    const verdict = next[0]!.type === 'completeWave' ? next[0].verdict : undefined;
    expect(verdict).toEqual({
      passed: true,
      checks: [{ metric: 'success_ratio', value: 1, threshold: 0.95, passed: true }],
    });
  });

  it('runs a healthy rollout to completion and covers every device once', () => {
    const fleet = makeFleet(40, (i) => ok((10 + (i % 7) * 5) * SECOND));
    const sim = new FleetSim(threeWaves, fleet);
    sim.runUntilSettled(5 * SECOND, 60 * MINUTE_MS);
    expect(sim.rollout.state).toBe('completed');
    expect(sim.deployments.size).toBe(40);
    expect([...sim.deployments.values()].every((d) => d.state === 'succeeded')).toBe(true);
    expect(sim.waves.map((w) => w.state)).toEqual(['passed', 'passed', 'passed']);
    const perWave = [0, 1, 2].map(
      (i) => [...sim.deployments.values()].filter((d) => d.waveIndex === i).length,
    );
    expect(perWave).toEqual([2, 18, 20]);
  });

  it('completes at once when nothing matches', () => {
    const sim = new FleetSim(threeWaves, []);
    expect(types(sim.tick())).toEqual([
      'fixPlan',
      'startWave',
      'startSoak',
      'completeWave',
      'startWave',
      'startSoak',
      'completeWave',
      'startWave',
      'startSoak',
      'completeWave',
      'complete',
    ]);
  });

  it('times out a silent device, and the wave goes on without it', () => {
    const fleet = makeFleet(4, (i) => (i === 0 ? silent : ok()));
    const spec = {
      ...threeWaves,
      waves: [{ name: 'all', size: { percent: 100 }, gates: { minSuccessRatio: 0.5 } }],
    };
    const sim = new FleetSim(spec, fleet);
    sim.tick();
    sim.step(60 * SECOND);
    expect(sim.rollout.state).toBe('running');
    const late = sim.step(9 * MINUTE_MS);
    expect(late).toContainEqual({ type: 'timeOut', deviceId: 'dev-00000', waveIndex: 0 });
    expect(types(late).slice(-2)).toEqual(['completeWave', 'complete']);
    expect(sim.deployments.get('dev-00000')!.state).toBe('timed_out');
  });

  it('pauses on a failed gate when the failure action is pause', () => {
    const fleet = makeFleet(10, (i) =>
      i % 2 === 0 ? { outcome: 'fail', delayMs: 5 * SECOND } : ok(5 * SECOND),
    );
    const sim = new FleetSim(
      { ...threeWaves, waves: [{ name: 'all', size: { percent: 100 } }] },
      fleet,
    );
    sim.runUntilSettled(5 * SECOND, 30 * MINUTE_MS);
    expect(sim.rollout.state).toBe('paused');
    expect(sim.waves[0]!.state).toBe('failed');
    const pause = sim.effects.find((e) => e.type === 'pause');
    expect(pause).toMatchObject({ type: 'pause', reason: 'wave_failed' });
    // Paused: nothing more happens.
    expect(sim.step(MINUTE_MS)).toEqual([]);
  });

  it('aborts on a failed gate when the failure action is abort', () => {
    const fleet = makeFleet(4, () => ({ outcome: 'fail', delayMs: 5 * SECOND }));
    const sim = new FleetSim({ ...threeWaves, onFailure: 'abort' }, fleet);
    sim.runUntilSettled(5 * SECOND, 30 * MINUTE_MS);
    expect(sim.rollout.state).toBe('aborted');
    expect(sim.effects.at(-1)).toMatchObject({ type: 'abort', reason: 'wave_failed' });
  });

  it('asks for approval before the first wave and between waves', () => {
    const spec = { ...threeWaves, approval: { beforeFirstWave: true, betweenWaves: true } };
    const sim = new FleetSim(
      spec,
      makeFleet(10, () => ok(5 * SECOND)),
    );
    expect(sim.tick()).toEqual([
      expect.objectContaining({ type: 'fixPlan' }),
      { type: 'requestApproval', waveIndex: 0 },
    ]);
    expect(sim.rollout.state).toBe('awaiting_approval');
    expect(sim.step(MINUTE_MS)).toEqual([]);
    sim.approve();
    expect(types(sim.tick())).toEqual(['startWave', 'assign', 'assign']);
    expect(types(sim.step(5 * SECOND))).toEqual(['startSoak', 'completeWave', 'requestApproval']);
    expect(sim.rollout.state).toBe('awaiting_approval');
  });

  it('evaluates health gates against the baseline when telemetry is there', () => {
    const spec = {
      ...threeWaves,
      waves: [
        {
          name: 'all',
          size: { percent: 100 },
          gates: { maxP95LatencyRatio: 1.2, maxErrorRate: 0.01, maxOutputDrift: 0.1 },
        },
      ],
    };
    const sim = new FleetSim(
      spec,
      makeFleet(3, () => ok(5 * SECOND)),
    );
    sim.health = {
      waves: new Map([
        [0, { devices: 3, inferences: 900, errorRate: 0.002, p95LatencyMs: 30, outputDrift: 0.04 }],
      ]),
      baseline: { devices: 50, inferences: 10_000, errorRate: 0.001, p95LatencyMs: 20 },
    };
    sim.runUntilSettled(5 * SECOND, 10 * MINUTE_MS);
    const judged = sim.effects.find((e) => e.type === 'completeWave');
    expect(judged?.type === 'completeWave' && judged.verdict).toEqual({
      passed: false,
      checks: [
        { metric: 'success_ratio', value: 1, threshold: 0.95, passed: true },
        { metric: 'error_rate', value: 0.002, threshold: 0.01, passed: true },
        { metric: 'p95_latency_ratio', value: 1.5, threshold: 1.2, passed: false },
        { metric: 'output_drift', value: 0.04, threshold: 0.1, passed: true },
      ],
    });
    expect(sim.rollout.state).toBe('paused');
  });

  it('records health gates as skipped while there is no telemetry', () => {
    const spec = {
      ...threeWaves,
      waves: [{ name: 'all', size: { percent: 100 }, gates: { maxP95LatencyRatio: 1.2 } }],
    };
    const sim = new FleetSim(
      spec,
      makeFleet(3, () => ok(5 * SECOND)),
    );
    sim.runUntilSettled(5 * SECOND, 10 * MINUTE_MS);
    expect(sim.rollout.state).toBe('completed');
    const judged = sim.effects.find((e) => e.type === 'completeWave');
    expect(judged?.type === 'completeWave' && judged.verdict.checks[1]).toEqual({
      metric: 'p95_latency_ratio',
      value: null,
      threshold: 1.2,
      passed: true,
      skipped: 'no_telemetry',
    });
  });
});

describe('planTick: abort criteria', () => {
  const criteria = (onFailure: 'pause' | 'abort'): RolloutSpecInput => ({
    ...threeWaves,
    waves: [{ name: 'all', size: { percent: 100 }, gates: { minSuccessRatio: 0 } }],
    abortCriteria: [{ metric: 'failed_ratio', threshold: 0.25, minDevices: 4 }],
    onFailure,
  });

  it('aborts once enough devices decided and too many failed', () => {
    const fleet = makeFleet(20, (i) =>
      i % 2 === 0 ? { outcome: 'fail', delayMs: 5 * SECOND } : ok(50 * SECOND),
    );
    const sim = new FleetSim(criteria('abort'), fleet);
    sim.runUntilSettled(5 * SECOND, 30 * MINUTE_MS);
    expect(sim.rollout.state).toBe('aborted');
    const abort = sim.effects.find((e) => e.type === 'abort');
    expect(abort).toMatchObject({
      type: 'abort',
      reason: 'abort_criteria',
      verdict: {
        passed: false,
        checks: [{ metric: 'failed_ratio', value: 1, threshold: 0.25, passed: false }],
      },
    });
  });

  it('does not judge on fewer devices than minDevices', () => {
    const fleet = makeFleet(3, () => ({ outcome: 'fail', delayMs: 5 * SECOND }));
    const sim = new FleetSim(criteria('abort'), fleet);
    sim.runUntilSettled(5 * SECOND, 30 * MINUTE_MS);
    expect(sim.rollout.state).toBe('completed');
  });

  it('pauses instead when the failure action is pause', () => {
    const fleet = makeFleet(8, () => ({ outcome: 'fail', delayMs: 5 * SECOND }));
    const sim = new FleetSim(criteria('pause'), fleet);
    sim.runUntilSettled(5 * SECOND, 30 * MINUTE_MS);
    expect(sim.rollout.state).toBe('paused');
    expect(sim.effects.find((e) => e.type === 'pause')).toMatchObject({ reason: 'abort_criteria' });
  });

  it('trips on the current wave health against the baseline', () => {
    const spec: RolloutSpecInput = {
      ...threeWaves,
      abortCriteria: [{ metric: 'p95_latency_ratio', threshold: 2, minDevices: 2 }],
      onFailure: 'abort',
    };
    const sim = new FleetSim(
      spec,
      makeFleet(10, () => ok(MINUTE_MS)),
    );
    sim.tick();
    sim.health = {
      waves: new Map([[0, { devices: 2, inferences: 100, errorRate: 0, p95LatencyMs: 90 }]]),
      baseline: { devices: 8, inferences: 1000, errorRate: 0, p95LatencyMs: 30 },
    };
    expect(types(sim.step(5 * SECOND))).toEqual(['abort']);
  });
});

describe('planTick: pace', () => {
  it('sends no more than the rate per minute', () => {
    const spec = {
      ...threeWaves,
      waves: [{ name: 'all', size: { percent: 100 } }],
      rate: { maxPerMinute: 10 },
    };
    const sim = new FleetSim(
      spec,
      makeFleet(100, () => ok(10 * MINUTE_MS)),
    );
    expect(assigned(sim.tick())).toHaveLength(10);
    expect(assigned(sim.step(30 * SECOND))).toHaveLength(0);
    expect(assigned(sim.step(30 * SECOND))).toHaveLength(10);
  });

  it('ramps the rate up after successes', () => {
    const spec = {
      ...threeWaves,
      waves: [{ name: 'all', size: { percent: 100 } }],
      rate: { maxPerMinute: 2, rampAfter: 2, rampFactor: 3, rampMaxPerMinute: 15 },
    };
    const sim = new FleetSim(
      spec,
      makeFleet(100, () => ok(10 * SECOND)),
    );
    const perMinute: number[] = [assigned(sim.tick()).length];
    for (let m = 0; m < 4; m++) perMinute.push(assigned(sim.step(MINUTE_MS)).length);
    expect(perMinute).toEqual([2, 6, 15, 15, 15]);
  });

  it('keeps no more devices updating than the budget', () => {
    const spec = {
      ...threeWaves,
      waves: [{ name: 'all', size: { percent: 100 } }],
      maxConcurrent: 3,
    };
    const sim = new FleetSim(
      spec,
      makeFleet(10, () => ok(20 * SECOND)),
    );
    expect(assigned(sim.tick())).toHaveLength(3);
    expect(assigned(sim.step(10 * SECOND))).toHaveLength(0);
    expect(assigned(sim.step(10 * SECOND))).toHaveLength(3);
  });

  it('sends new directives only inside the maintenance window', () => {
    const spec = {
      ...threeWaves,
      waves: [{ name: 'all', size: { percent: 100 } }],
      maintenanceWindow: { start: '22:00', end: '02:00' },
    };
    const sim = new FleetSim(
      spec,
      makeFleet(5, () => ok()),
      { start: Date.UTC(2026, 0, 5, 21, 0) },
    );
    expect(types(sim.tick())).toEqual(['fixPlan', 'startWave']);
    expect(assigned(sim.step(60 * MINUTE_MS))).toHaveLength(5);
  });
});

describe('planTick: late joiners, retries, states', () => {
  it('gives a device that enrols later to the wave running then', () => {
    const fleet = makeFleet(10, () => ok(MINUTE_MS));
    const late = {
      ...makeFleet(11, () => ok(MINUTE_MS))[10]!,
      joinsAt: Date.UTC(2026, 0, 5, 12, 0, 30),
    };
    const spec = {
      ...threeWaves,
      waves: [
        { name: 'canary', size: { count: 2 } },
        { name: 'all', size: { percent: 100 } },
      ],
    };
    const sim = new FleetSim(spec, [...fleet, late]);
    sim.tick();
    sim.step(30 * SECOND);
    expect(sim.deployments.has(late.id)).toBe(false);
    sim.runUntilSettled(10 * SECOND, 30 * MINUTE_MS);
    expect(sim.rollout.state).toBe('completed');
    expect(sim.deployments.get(late.id)).toMatchObject({ waveIndex: 1, state: 'succeeded' });
  });

  it('takes late joiners into the last wave while it soaks', () => {
    const spec = { ...threeWaves, waves: [{ name: 'all', size: { percent: 100 } }] };
    const sim = new FleetSim(
      spec,
      makeFleet(2, () => ok(MINUTE_MS)),
    );
    sim.tick();
    sim.step(40 * SECOND);
    expect(sim.waves[0]!.state).toBe('soaking');
    sim.devices.push({ ...makeFleet(3, () => ok(MINUTE_MS))[2]!, id: 'late-1' });
    expect(sim.step(SECOND)).toEqual([{ type: 'assign', deviceId: 'late-1', waveIndex: 0 }]);
  });

  it('re-sends retried devices, a minute after their last directive at the earliest', () => {
    const spec = { ...threeWaves, waves: [{ name: 'all', size: { percent: 100 } }] };
    const sim = new FleetSim(
      spec,
      makeFleet(2, (i) => (i === 0 ? { outcome: 'fail', delayMs: 5 * SECOND } : ok(MINUTE_MS))),
    );
    sim.tick();
    sim.step(10 * SECOND);
    sim.deployments.get('dev-00000')!.retryRequested = true;
    expect(assigned(sim.step(10 * SECOND))).toEqual([]);
    expect(sim.step(40 * SECOND)).toContainEqual({
      type: 'reassign',
      deviceId: 'dev-00000',
      waveIndex: 0,
    });
    expect(sim.deployments.get('dev-00000')!.state).toBe('pending');
  });

  it('only times devices out while paused or awaiting approval', () => {
    const sim = new FleetSim(
      threeWaves,
      makeFleet(10, () => silent),
    );
    sim.tick();
    sim.rollout.state = 'paused';
    expect(types(sim.step(MINUTE_MS))).toEqual([]);
    const later = sim.step(10 * MINUTE_MS);
    expect(types(later)).toEqual(['timeOut', 'timeOut', 'startSoak', 'completeWave']);
    sim.rollout.state = 'awaiting_approval';
    expect(sim.step(MINUTE_MS)).toEqual([]);
  });

  it('waits for matching devices busy in another rollout instead of finishing without them', () => {
    const spec = { ...threeWaves, waves: [{ name: 'all', size: { percent: 100 } }] };
    const sim = new FleetSim(spec, []);
    const snapshot = (waiting: number): PlannerSnapshot => ({
      now: sim.now,
      rollout: { ...sim.rollout },
      waves: sim.waves.map((w) => ({ ...w })),
      deployments: [],
      candidates: [],
      waiting,
    });
    expect(types(planTick(snapshot(2)))).toEqual(['fixPlan', 'startWave']);
    expect(planTick(snapshot(2))[0]).toMatchObject({ fleetSize: 2 });
    expect(types(planTick(snapshot(0))).at(-1)).toBe('complete');
  });

  it('does nothing for a rollout that is not active', () => {
    for (const state of ['draft', 'completed', 'aborted', 'cancelled', 'superseded'] as const) {
      const sim = new FleetSim(
        threeWaves,
        makeFleet(5, () => ok()),
        { state },
      );
      expect(sim.tick()).toEqual([]);
    }
  });
});

// --- Properties --------------------------------------------------------------------------------------

const behaviourArb = fc.oneof(
  fc.record({
    outcome: fc.constant('succeed' as const),
    delayMs: fc.integer({ min: 1, max: 120 }).map((s) => s * SECOND),
  }),
  fc.record({
    outcome: fc.constant('fail' as const),
    delayMs: fc.integer({ min: 1, max: 120 }).map((s) => s * SECOND),
  }),
  fc.constant(silent),
);

const paceArb = fc.record({
  maxPerMinute: fc.integer({ min: 1, max: 12 }),
  ramp: fc.option(
    fc.record({ after: fc.integer({ min: 1, max: 10 }), factor: fc.constantFrom(1.5, 2, 3) }),
    { nil: undefined },
  ),
  maxConcurrent: fc.integer({ min: 1, max: 40 }),
  stepSeconds: fc.integer({ min: 1, max: 45 }),
  waves: fc.constantFrom<RolloutSpecInput['waves']>(
    [{ name: 'all', size: { percent: 100 } }],
    [
      { name: 'canary', size: { count: 3 } },
      { name: 'all', size: { percent: 100 } },
    ],
    [
      { name: 'a', size: { percent: 10 } },
      { name: 'b', size: { percent: 40 } },
      { name: 'c', size: { percent: 100 } },
    ],
  ),
});

type Pace = typeof paceArb extends fc.Arbitrary<infer T> ? T : never;

function paceSpec(p: Pace): RolloutSpecInput {
  return {
    releaseId: 'r2',
    waves: p.waves!.map((w) => ({ ...w, gates: { minSuccessRatio: 0 } })),
    rate: {
      maxPerMinute: p.maxPerMinute,
      ...(p.ramp === undefined ? {} : { rampAfter: p.ramp.after, rampFactor: p.ramp.factor }),
    },
    maxConcurrent: p.maxConcurrent,
    deviceTimeout: '8m',
  };
}

describe('planTick properties', () => {
  it('never exceeds the rate in any minute or the budget, assigns every device once, and completes', () => {
    fc.assert(
      fc.property(
        paceArb,
        fc.array(behaviourArb, { minLength: 0, maxLength: 60 }),
        (pace, behaviours) => {
          const sim = new FleetSim(
            paceSpec(pace),
            makeFleet(behaviours.length, (i) => behaviours[i]!),
          );
          sim.runUntilSettled(pace.stepSeconds * SECOND, 24 * 60 * MINUTE_MS);
          // Rate: every 60-second window ending at a directive holds at most the rate then in force.
          for (const s of sim.sent) {
            const inWindow = sim.sent.filter((x) => x.at > s.at - MINUTE_MS && x.at <= s.at).length;
            expect(inWindow).toBeLessThanOrEqual(s.rate);
          }
          for (const updating of sim.updatingAfterTick) {
            expect(updating).toBeLessThanOrEqual(pace.maxConcurrent);
          }
          expect(new Set(sim.sent.map((s) => s.deviceId)).size).toBe(sim.sent.length);
          // Silent devices end timed_out and the rollout still completes.
          expect(sim.rollout.state).toBe('completed');
          expect(sim.deployments.size).toBe(behaviours.length);
          behaviours.forEach((b, i) => {
            const d = sim.deployments.get(`dev-${String(i).padStart(5, '0')}`)!;
            expect(d.state).toBe(
              b.outcome === 'silent'
                ? 'timed_out'
                : b.outcome === 'succeed'
                  ? 'succeeded'
                  : 'failed',
            );
          });
        },
      ),
      { numRuns: 150, seed: 6 },
    );
  });

  it('decides the same whatever order the snapshot lists things in', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 80 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (n, seed) => {
          const sim = new FleetSim(
            threeWaves,
            makeFleet(n, () => ok()),
          );
          sim.tick();
          sim.step(10 * SECOND);
          const snapshot: PlannerSnapshot = {
            now: sim.now + 20 * SECOND,
            rollout: { ...sim.rollout },
            waves: sim.waves.map((w) => ({ ...w })),
            deployments: [...sim.deployments.entries()].map(([deviceId, d]) => ({
              ...d,
              deviceId,
            })),
            candidates: sim.candidates(),
          };
          const shuffled: PlannerSnapshot = {
            ...snapshot,
            waves: shuffle([...snapshot.waves], seed),
            deployments: shuffle([...snapshot.deployments], seed + 1),
            candidates: shuffle([...snapshot.candidates], seed + 2),
          };
          expect(planTick(shuffled)).toEqual(planTick(snapshot));
        },
      ),
      { numRuns: 50, seed: 7 },
    );
  });
});

/** Fisher-Yates with a small seeded LCG. */
function shuffle<T>(items: T[], seed: number): T[] {
  let s = seed >>> 0;
  for (let i = items.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    const j = s % (i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
