import type { FeatureDrift } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MONITOR_CONFIG, MonitorConfigSchema } from './config.js';
import {
  classifyWindow,
  INITIAL_MONITOR_STATE,
  MonitorStateSchema,
  runMonitor,
  stepMonitor,
  type MonitorPolicy,
  type MonitorState,
  type WindowObservation,
} from './monitor.js';

const MIN = 60_000;
const T = 0.1;

/** A feature reading: a number is a compared value (drifted when over T); null: insufficient data. */
type Reading = number | null;

function feature(name: string, value: Reading, threshold = T): FeatureDrift {
  if (value === null) {
    return {
      feature: name,
      kind: 'numeric',
      metric: 'js',
      value: NaN,
      threshold,
      drifted: false,
      n: 10,
      referenceN: 10_000,
      status: 'insufficient_data',
      metrics: [],
      reason: '10 values; at least 200 are needed',
    };
  }
  const over = value > threshold;
  return {
    feature: name,
    kind: 'numeric',
    metric: 'js',
    value,
    threshold,
    drifted: over,
    n: 1000,
    referenceN: 10_000,
    status: over ? 'drifted' : 'ok',
    metrics: [],
  };
}

/** Windows 0, 1, 2, ... one minute apart, each with features `a` (and `b` when given). */
function windows(readings: readonly (Reading | readonly [Reading, Reading])[], from = 0) {
  return readings.map((r, i): WindowObservation => {
    const start = (from + i) * MIN;
    const [a, b] = Array.isArray(r)
      ? (r as readonly [Reading, Reading])
      : [r as Reading, undefined];
    return {
      windowStart: start,
      windowEnd: start + MIN,
      features: b === undefined ? [feature('a', a)] : [feature('a', a), feature('b', b)],
    };
  });
}

const policy = (p: Partial<MonitorPolicy> = {}): MonitorPolicy => ({
  fireAfter: { m: 2, n: 3 },
  clearAfter: 2,
  clearRatio: 0.8,
  cooldownMs: 10 * MIN,
  ...p,
});

const OVER = 0.2;
const OK = 0.01;
const BETWEEN = 0.09; // under T, over 0.8 T
const NONE = null;

const actions = (steps: ReturnType<typeof runMonitor>) => steps.map((s) => s.action?.type ?? '-');
const verdicts = (steps: ReturnType<typeof runMonitor>) => steps.map((s) => s.verdict);

describe('classifyWindow', () => {
  it('reads a window with any drifted feature as over', () => {
    expect(classifyWindow([feature('a', OK), feature('b', OVER)], null, 0.8)).toBe('over');
  });

  it('reads a window with no comparable feature as insufficient', () => {
    expect(classifyWindow([feature('a', NONE), feature('b', NONE)], null, 0.8)).toBe(
      'insufficient',
    );
    expect(classifyWindow([], null, 0.8)).toBe('insufficient');
  });

  it('ignores insufficient features when another one is comparable', () => {
    expect(classifyWindow([feature('a', NONE), feature('b', OK)], null, 0.8)).toBe('ok');
    expect(classifyWindow([feature('a', NONE), feature('b', OVER)], null, 0.8)).toBe('over');
  });

  it('while open, reads under only when the event features are below the lower threshold', () => {
    const open = {
      openedWindowStart: 0,
      openedWindowEnd: MIN,
      lastOverWindowStart: 0,
      features: [{ ...feature('a', OVER), referenceN: 1 }],
      clearStreak: 0,
      windowsOver: 1,
    };
    expect(classifyWindow([feature('a', OK), feature('b', BETWEEN)], open, 0.8)).toBe('under');
    expect(classifyWindow([feature('a', BETWEEN), feature('b', OK)], open, 0.8)).toBe('between');
    expect(classifyWindow([feature('a', 0.08)], open, 0.8)).toBe('under'); // exactly 0.8 T
    // The event's feature is not comparable: nothing can be said about clearing.
    expect(classifyWindow([feature('a', NONE), feature('b', OK)], open, 0.8)).toBe('insufficient');
  });
});

describe('stepMonitor: firing (M of N)', () => {
  it('stays quiet on reference-like windows', () => {
    const steps = runMonitor(windows(Array(50).fill(OK)), policy());
    expect(steps.every((s) => s.action === null && s.verdict === 'ok')).toBe(true);
  });

  it('fires on the M-th over window within N', () => {
    const steps = runMonitor(windows([OK, OVER, OK, OVER]), policy());
    expect(actions(steps)).toEqual(['-', '-', '-', 'open']);
    const open = steps[3]!.action;
    expect(open).toMatchObject({
      type: 'open',
      windowStart: 3 * MIN,
      windowEnd: 4 * MIN,
      overWindows: 2,
      ofWindows: 3,
    });
  });

  it('does not fire when the over windows are further apart than N', () => {
    const steps = runMonitor(windows([OVER, OK, OK, OVER, OK, OK, OVER]), policy());
    expect(actions(steps).every((a) => a === '-')).toBe(true);
  });

  it('fires on the first over window when M = 1', () => {
    const steps = runMonitor(windows([OK, OVER]), policy({ fireAfter: { m: 1, n: 1 } }));
    expect(actions(steps)).toEqual(['-', 'open']);
  });

  it('needs N consecutive over windows when M = N', () => {
    const p = policy({ fireAfter: { m: 3, n: 3 } });
    expect(actions(runMonitor(windows([OVER, OVER, OK, OVER, OVER]), p))).toEqual([
      '-',
      '-',
      '-',
      '-',
      '-',
    ]);
    expect(actions(runMonitor(windows([OVER, OVER, OVER]), p))).toEqual(['-', '-', 'open']);
  });

  it('names the features over in M of N windows, most drifted first, with their latest values', () => {
    const steps = runMonitor(
      windows([
        [OVER, 0.3],
        [0.15, 0.5],
      ]),
      policy(),
    );
    const open = steps[1]!.action;
    expect(open?.type).toBe('open');
    if (open?.type !== 'open') return;
    expect(open.features.map((f) => f.feature)).toEqual(['b', 'a']);
    expect(open.features[0]).toMatchObject({ metric: 'js', value: 0.5, threshold: T, n: 1000 });
    expect(open.features[1]).toMatchObject({ value: 0.15 });
  });

  it('does not count insufficient windows towards M of N, in either direction', () => {
    // OVER, NONE, NONE, OVER: the NONE windows are skipped, so the two overs are 2 of the last 2.
    const steps = runMonitor(windows([OVER, NONE, NONE, OVER]), policy());
    expect(verdicts(steps)).toEqual(['over', 'insufficient', 'insufficient', 'over']);
    expect(actions(steps)).toEqual(['-', '-', '-', 'open']);
    // Insufficient windows alone never fire.
    const quiet = runMonitor(windows(Array<Reading>(10).fill(NONE)), policy());
    expect(actions(quiet).every((a) => a === '-')).toBe(true);
  });

  it('keeps one open event per key: further over windows update it', () => {
    const steps = runMonitor(
      windows([OVER, OVER, [OVER, OVER], [OVER, OVER], [OVER, OK]]),
      policy(),
    );
    expect(actions(steps)).toEqual(['-', 'open', 'update', 'update', 'update']);
    expect(steps[2]!.action).toMatchObject({ type: 'update', windowsOver: 2 });
    // `b` joins once it was over in 2 of the last 3 windows.
    const update = steps[3]!.action;
    expect(update).toMatchObject({ type: 'update', windowsOver: 3 });
    if (update?.type !== 'update') return;
    expect(update.eventFeatures.map((f) => f.feature).sort()).toEqual(['a', 'b']);
    expect(steps[4]!.state.open?.windowsOver).toBe(4);
    // `b` stays among the event's features even when only `a` is over.
    expect(steps[4]!.state.open?.features.map((f) => f.feature).sort()).toEqual(['a', 'b']);
  });
});

/** The feature names of an action's (or an event's) feature list. */
const names = (fs: readonly { feature: string }[] | undefined) => fs?.map((f) => f.feature);

describe('stepMonitor: which features an event names (M of N per feature)', () => {
  it('does not name a feature over only in the firing window, and adds it once over in M of N', () => {
    const steps = runMonitor(
      windows([
        [OVER, OK],
        [OVER, 0.5], // fires: `b` over once
        [OVER, OK],
        [OVER, 0.3], // `b` over in 2 of the last 3
        [OVER, OK],
      ]),
      policy(),
    );
    expect(actions(steps)).toEqual(['-', 'open', 'update', 'update', 'update']);
    const open = steps[1]!.action;
    expect(open?.type).toBe('open');
    if (open?.type !== 'open') return;
    expect(names(open.features)).toEqual(['a']);
    expect(names(steps[1]!.state.open?.features)).toEqual(['a']);

    const quiet = steps[2]!.action;
    expect(quiet?.type === 'update' && names(quiet.eventFeatures)).toEqual(['a']);

    const added = steps[3]!.action;
    expect(added?.type).toBe('update');
    if (added?.type !== 'update') return;
    // Most drifted first, `b` with its latest value.
    expect(names(added.eventFeatures)).toEqual(['b', 'a']);
    expect(added.eventFeatures[0]).toMatchObject({ feature: 'b', value: 0.3 });
    expect(names(added.features)).toEqual(['b', 'a']);
    expect(names(steps[4]!.state.open?.features)).toEqual(['b', 'a']);
  });

  it('does not name a feature over only in an earlier window, nor once more while open', () => {
    const steps = runMonitor(
      windows([
        [OVER, 0.5], // `b` over once before the event
        [OVER, OK], // fires
        [OVER, OK],
        [OVER, OK],
        [OVER, 0.5], // `b` over once in the last 3: still not named
        [OVER, 0.4], // twice in the last 3: named
      ]),
      policy(),
    );
    expect(actions(steps)).toEqual(['-', 'open', 'update', 'update', 'update', 'update']);
    const open = steps[1]!.action;
    expect(open?.type).toBe('open');
    expect(open?.type === 'open' && names(open.features)).toEqual(['a']);
    const once = steps[4]!.action;
    expect(once?.type === 'update' && names(once.eventFeatures)).toEqual(['a']);
    const twice = steps[5]!.action;
    expect(twice?.type === 'update' && names(twice.eventFeatures)).toEqual(['b', 'a']);
    expect(steps[5]!.state.open?.features[0]).toMatchObject({ feature: 'b', value: 0.4 });
  });

  it('lists only named features as over in an update', () => {
    const steps = runMonitor(windows([OVER, OVER, [OK, OVER]]), policy());
    const update = steps[2]!.action;
    expect(update).toMatchObject({ type: 'update', features: [] });
    expect(update?.type === 'update' && names(update.eventFeatures)).toEqual(['a']);
  });

  it('names the features over in the most windows when none is over in M of N (alternating)', () => {
    // a, b, a... with m = 2: the event fires on the second window with each feature over once.
    const steps = runMonitor(
      windows([
        [OVER, OK],
        [OK, 0.3],
      ]),
      policy(),
    );
    const open = steps[1]!.action;
    expect(open?.type).toBe('open');
    if (open?.type !== 'open') return;
    expect(open).toMatchObject({ overWindows: 2, ofWindows: 2 });
    // A tie: both, most drifted first, each with its latest over value.
    expect(names(open.features)).toEqual(['b', 'a']);
    expect(open.features.map((f) => f.value)).toEqual([0.3, OVER]);

    // m = 3 of 3: `a` over twice, `b` once (in the firing window): only `a`.
    const q = runMonitor(
      windows([
        [OVER, OK],
        [OVER, OK],
        [OK, 0.5],
      ]),
      policy({ fireAfter: { m: 3, n: 3 } }),
    );
    const open3 = q[2]!.action;
    expect(open3?.type).toBe('open');
    expect(open3?.type === 'open' && names(open3.features)).toEqual(['a']);
  });

  it('clears an alternating event only when every named feature is under', () => {
    const steps = runMonitor(
      windows([
        [OVER, OK],
        [OK, OVER], // opens naming a and b
        [OK, BETWEEN],
        [BETWEEN, OK],
        [OK, OK],
        [OK, OK],
      ]),
      policy({ clearAfter: 2 }),
    );
    expect(actions(steps)).toEqual(['-', 'open', '-', '-', '-', 'resolve']);
    expect(verdicts(steps).slice(2)).toEqual(['between', 'between', 'under', 'under']);
  });

  it('names features by M of N per feature in generated two-feature sequences', () => {
    // A model of the rule: the evaluated windows since the last resolve, each with its over
    // features. Events are never empty and name exactly what the rule says.
    let seed = 987;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const options = [OVER, OVER, OK, BETWEEN, NONE] as const;
    const pick = () => options[Math.floor(next() * options.length)]!;
    for (let run = 0; run < 200; run++) {
      const n = 1 + Math.floor(next() * 4);
      const p = policy({
        fireAfter: { m: 1 + Math.floor(next() * n), n },
        clearAfter: 1 + Math.floor(next() * 3),
        cooldownMs: Math.floor(next() * 4) * MIN,
      });
      const seq = Array.from({ length: 60 }, () => [pick(), pick()] as const);
      const steps = runMonitor(windows(seq), p);
      let evaluated: string[][] = [];
      let named: string[] = [];
      steps.forEach((s, i) => {
        const [a, b] = seq[i]!;
        if (s.verdict !== 'insufficient') {
          evaluated.push([a === OVER ? 'a' : '', b === OVER ? 'b' : ''].filter((f) => f !== ''));
        }
        const counts = new Map<string, number>();
        for (const w of evaluated.slice(-n))
          for (const f of w) counts.set(f, (counts.get(f) ?? 0) + 1);
        const reaching = [...counts].filter(([, c]) => c >= p.fireAfter.m).map(([f]) => f);
        if (s.action?.type === 'open') {
          const most = Math.max(...counts.values());
          const expected =
            reaching.length > 0
              ? reaching
              : [...counts].filter(([, c]) => c === most).map(([f]) => f);
          named = names(s.action.features)!;
          expect(named.length).toBeGreaterThan(0);
          expect([...named].sort()).toEqual(expected.sort());
        } else if (s.action?.type === 'update') {
          const expected = [...new Set([...named, ...reaching])].sort();
          named = names(s.action.eventFeatures)!;
          expect([...named].sort()).toEqual(expected);
        } else if (s.action?.type === 'resolve') {
          evaluated = [];
          named = [];
        }
        if (s.state.open !== null) {
          expect(names(s.state.open.features)!.sort()).toEqual([...named].sort());
        }
        for (const h of s.state.featureHistory ?? []) {
          expect(h.over.length).toBeLessThanOrEqual(n);
          expect(h.over).toContain(true);
        }
      });
    }
  });

  it('keeps the remembered windows per feature to N, and forgets them on a resolve', () => {
    const q = policy({ fireAfter: { m: 3, n: 3 } });
    const quiet = runMonitor(
      windows([
        [OVER, OK],
        [OK, OVER],
        [OK, OK],
        [OK, OK],
        [OK, NONE],
      ]),
      q,
    );
    expect(actions(quiet).every((a) => a === '-')).toBe(true);
    const flags = (i: number) =>
      quiet[i]!.state.featureHistory?.map((h) => [h.latest.feature, h.over]);
    expect(flags(1)).toEqual([
      ['a', [true, false]],
      ['b', [true]],
    ]);
    expect(flags(2)).toEqual([
      ['a', [true, false, false]],
      ['b', [true, false]],
    ]);
    // `a` is no longer over in any of the last 3 windows: forgotten.
    expect(flags(3)).toEqual([['b', [true, false, false]]]);
    expect(flags(4)).toEqual([]);

    // A resolve forgets everything, like the over windows of M of N.
    const p = policy({ fireAfter: { m: 2, n: 3 }, clearAfter: 1, cooldownMs: 0 });
    const steps = runMonitor(
      windows([
        [OVER, OK],
        [OVER, 0.5],
        [OK, OK],
      ]),
      p,
    );
    expect(actions(steps)).toEqual(['-', 'open', 'resolve']);
    expect(steps[1]!.state.featureHistory?.map((h) => h.latest.feature)).toEqual(['a', 'b']);
    expect(steps[2]!.state.featureHistory).toEqual([]);
  });
});

describe('stepMonitor: clearing (hysteresis)', () => {
  it('resolves after K consecutive windows under the lower threshold', () => {
    const steps = runMonitor(windows([OVER, OVER, OK, OK]), policy({ clearAfter: 2 }));
    expect(actions(steps)).toEqual(['-', 'open', '-', 'resolve']);
    expect(steps[3]!.action).toEqual({
      type: 'resolve',
      windowStart: 3 * MIN,
      windowEnd: 4 * MIN,
      openedWindowStart: MIN,
    });
    expect(steps[3]!.state.open).toBeNull();
  });

  it('does not resolve while the event features sit between the two thresholds', () => {
    const steps = runMonitor(
      windows([OVER, OVER, BETWEEN, BETWEEN, BETWEEN, BETWEEN]),
      policy({ clearAfter: 2 }),
    );
    expect(actions(steps)).toEqual(['-', 'open', '-', '-', '-', '-']);
    expect(verdicts(steps).slice(2)).toEqual(['between', 'between', 'between', 'between']);
  });

  it('restarts the clear count after a between or an over window', () => {
    const p = policy({ clearAfter: 2 });
    expect(actions(runMonitor(windows([OVER, OVER, OK, BETWEEN, OK, OK]), p))).toEqual([
      '-',
      'open',
      '-',
      '-',
      '-',
      'resolve',
    ]);
    expect(actions(runMonitor(windows([OVER, OVER, OK, OVER, OK, OK]), p))).toEqual([
      '-',
      'open',
      '-',
      'update',
      '-',
      'resolve',
    ]);
  });

  it('neither clears nor breaks the clear count on insufficient windows', () => {
    const steps = runMonitor(
      windows([OVER, OVER, OK, NONE, NONE, NONE, OK]),
      policy({ clearAfter: 2 }),
    );
    expect(actions(steps)).toEqual(['-', 'open', '-', '-', '-', '-', 'resolve']);
    expect(steps[5]!.state.open?.clearStreak).toBe(1);
  });

  it('never resolves on insufficient windows alone', () => {
    const steps = runMonitor(windows([OVER, OVER, ...Array(20).fill(NONE)]), policy());
    expect(steps.at(-1)!.state.open).not.toBeNull();
  });

  it('does not stay open on a feature that crossed its threshold once and sits between', () => {
    // `b` is over once while open (not named), then between the thresholds for good; `a` is under.
    const steps = runMonitor(
      windows([
        [OVER, OK],
        [OVER, OK],
        [OVER, OVER],
        [OK, BETWEEN],
        [OK, BETWEEN],
        [OK, BETWEEN],
      ]),
      policy({ clearAfter: 2 }),
    );
    expect(actions(steps)).toEqual(['-', 'open', 'update', '-', 'resolve', '-']);
    expect(verdicts(steps).slice(3, 5)).toEqual(['under', 'under']);
  });

  it('does not clear early: named features between, and over windows of any feature, hold it', () => {
    const p = policy({ clearAfter: 2 });
    // `a` (named) between the thresholds: never under.
    const between = runMonitor(
      windows([
        [OVER, OK],
        [OVER, OK],
        [BETWEEN, OK],
        [BETWEEN, OK],
        [BETWEEN, OK],
      ]),
      p,
    );
    expect(actions(between)).toEqual(['-', 'open', '-', '-', '-']);
    // An over window of an unnamed feature restarts the count.
    const noisy = runMonitor(
      windows([
        [OVER, OK],
        [OVER, OK],
        [OK, OK],
        [OK, OVER],
        [OK, OK],
        [OK, OK],
      ]),
      p,
    );
    expect(actions(noisy)).toEqual(['-', 'open', '-', 'update', '-', 'resolve']);
    expect(noisy[4]!.state.open?.features.map((f) => f.feature)).toEqual(['a']);
    // A feature named later counts for clearing from then on.
    const later = runMonitor(
      windows([
        [OVER, OK],
        [OVER, OVER],
        [OVER, OVER],
        [OK, BETWEEN],
        [OK, BETWEEN],
        [OK, OK],
        [OK, OK],
      ]),
      p,
    );
    expect(actions(later)).toEqual(['-', 'open', 'update', '-', '-', '-', 'resolve']);
    expect(verdicts(later).slice(3)).toEqual(['between', 'between', 'under', 'under']);
  });

  it('with clearRatio 1, any window at or under the threshold counts as under', () => {
    const steps = runMonitor(
      windows([OVER, OVER, BETWEEN, BETWEEN]),
      policy({ clearAfter: 2, clearRatio: 1 }),
    );
    expect(actions(steps)).toEqual(['-', 'open', '-', 'resolve']);
  });
});

describe('stepMonitor: cooldown', () => {
  const p = policy({ fireAfter: { m: 1, n: 1 }, clearAfter: 1, cooldownMs: 5 * MIN });

  it('opens nothing during the cooldown after a resolve, and reports the suppression', () => {
    // open at 0, resolve at 1 (end 2 min): cooldown until 7 min; windows 2..6 are inside it.
    const steps = runMonitor(windows([OVER, OK, OVER, OVER, OVER, OVER, OVER, OVER]), p);
    expect(actions(steps)).toEqual(['open', 'resolve', '-', '-', '-', '-', '-', 'open']);
    expect(steps.slice(2, 7).every((s) => s.suppressed)).toBe(true);
    expect(steps[7]!.action?.windowStart).toBe(7 * MIN);
  });

  it('remembers over windows seen during the cooldown for M of N', () => {
    const q = policy({ fireAfter: { m: 2, n: 3 }, clearAfter: 1, cooldownMs: 3 * MIN });
    // open at 1, resolve at 2 (end 3 min): cooldown until 6 min. Over at 5 is remembered, and the
    // over window at 6 makes 2 of 3: it opens right when the cooldown ends.
    const steps = runMonitor(windows([OVER, OVER, OK, OK, OK, OVER, OVER]), q);
    expect(actions(steps)).toEqual(['-', 'open', 'resolve', '-', '-', '-', 'open']);
  });

  it('starts M of N afresh after a resolve', () => {
    const q = policy({ fireAfter: { m: 2, n: 3 }, clearAfter: 1, cooldownMs: 0 });
    const steps = runMonitor(windows([OVER, OVER, OK, OVER, OK, OVER]), q);
    // After the resolve at 2 the earlier overs are forgotten: 3 and 5 make 2 of 3 at 5.
    expect(actions(steps)).toEqual(['-', 'open', 'resolve', '-', '-', 'open']);
  });

  it('without a cooldown, can reopen on the next window', () => {
    const q = { ...p, cooldownMs: 0 };
    expect(actions(runMonitor(windows([OVER, OK, OVER]), q))).toEqual(['open', 'resolve', 'open']);
  });
});

describe('stepMonitor: replay and state', () => {
  it('ignores windows at or before the last one seen', () => {
    const steps = runMonitor(windows([OVER, OVER]), policy());
    const state = steps[1]!.state;
    for (const w of windows([OVER, OVER])) {
      const again = stepMonitor(state, w, policy());
      expect(again).toEqual({ state, verdict: 'stale', action: null, suppressed: false });
    }
  });

  it('continues from a persisted state exactly as if it had never stopped', () => {
    const all = windows([OK, OVER, OVER, OVER, OK, OK, OVER, OK, OVER, OVER]);
    const straight = runMonitor(all, policy());
    for (let cut = 0; cut <= all.length; cut++) {
      const first = runMonitor(all.slice(0, cut), policy());
      const persisted = JSON.parse(
        JSON.stringify(first.at(-1)?.state ?? INITIAL_MONITOR_STATE),
      ) as unknown;
      const restored = MonitorStateSchema.parse(persisted) as MonitorState;
      const rest = runMonitor(all.slice(cut), policy(), restored);
      expect([...first, ...rest].map((s) => s.action)).toEqual(straight.map((s) => s.action));
    }
  });

  it('continues a two-feature sequence from a persisted state as if it had never stopped', () => {
    const all = windows([
      [OVER, OK],
      [OK, OVER],
      [OVER, OVER],
      [OVER, OK],
      [OK, OVER],
      [OK, OVER],
      [OK, OK],
      [OK, OK],
      [OK, OK],
      [OVER, NONE],
      [OK, OVER],
      [OVER, OVER],
    ]);
    const p = policy({ clearAfter: 2, cooldownMs: 0 });
    const straight = runMonitor(all, p);
    expect(actions(straight)).toContain('resolve');
    for (let cut = 0; cut <= all.length; cut++) {
      const first = runMonitor(all.slice(0, cut), p);
      const persisted = JSON.parse(
        JSON.stringify(first.at(-1)?.state ?? INITIAL_MONITOR_STATE),
      ) as unknown;
      const restored = MonitorStateSchema.parse(persisted) as MonitorState;
      const rest = runMonitor(all.slice(cut), p, restored);
      expect([...first, ...rest].map((s) => s.action)).toEqual(straight.map((s) => s.action));
    }
  });

  it('loads a state stored by the previous version (no per-feature history) as an empty history', () => {
    // What the previous version stored: an open event on `a`, no `featureHistory`.
    const legacyOpen: unknown = JSON.parse(
      JSON.stringify({
        lastWindowStart: 4 * MIN,
        recent: [],
        open: {
          openedWindowStart: 3 * MIN,
          openedWindowEnd: 4 * MIN,
          lastOverWindowStart: 4 * MIN,
          features: [
            {
              feature: 'a',
              kind: 'numeric',
              metric: 'js',
              value: OVER,
              threshold: T,
              n: 1000,
              referenceN: 10_000,
            },
          ],
          clearStreak: 0,
          windowsOver: 2,
        },
        cooldownUntil: null,
      }),
    );
    const restored = MonitorStateSchema.parse(legacyOpen) as MonitorState;
    expect(restored.featureHistory).toEqual([]);
    expect(restored.open?.features.map((f) => f.feature)).toEqual(['a']);
    const steps = runMonitor(
      windows(
        [
          [OVER, OVER],
          [OVER, OVER],
          [OK, OK],
          [OK, OK],
        ],
        5,
      ),
      policy({ clearAfter: 2 }),
      restored,
    );
    expect(actions(steps)).toEqual(['update', 'update', '-', 'resolve']);
    // `b` counts from the first window after the upgrade: named once over in 2 of the last 3.
    const u = (i: number) => {
      const a = steps[i]!.action;
      return a?.type === 'update' ? a.eventFeatures.map((f) => f.feature).sort() : undefined;
    };
    expect(u(0)).toEqual(['a']);
    expect(u(1)).toEqual(['a', 'b']);

    // No event open: the window that fires names what it shows (there is no history yet).
    const legacyQuiet: unknown = {
      lastWindowStart: 0,
      recent: [true],
      open: null,
      cooldownUntil: null,
    };
    const quiet = MonitorStateSchema.parse(legacyQuiet) as MonitorState;
    expect(quiet.featureHistory).toEqual([]);
    const opened = stepMonitor(quiet, windows([[OVER, 0.3]], 1)[0]!, policy()).action;
    expect(opened?.type).toBe('open');
    expect(opened?.type === 'open' && opened.features.map((f) => f.feature)).toEqual(['b', 'a']);
  });

  it('trims the remembered windows when N shrinks', () => {
    const steps = runMonitor(windows([OVER, OK, OK, OK]), policy({ fireAfter: { m: 2, n: 4 } }));
    const next = stepMonitor(
      steps[3]!.state,
      windows([OK], 4)[0]!,
      policy({ fireAfter: { m: 1, n: 2 } }),
    );
    expect(next.state.recent).toEqual([false, false]);
    expect(next.state.featureHistory).toEqual([]);
    const over = runMonitor(
      windows([[OVER, OK], OK, [OK, OVER]]),
      policy({ fireAfter: { m: 3, n: 4 } }),
    );
    const shrunk = stepMonitor(
      over[2]!.state,
      windows([OK], 3)[0]!,
      policy({ fireAfter: { m: 2, n: 2 } }),
    );
    expect(shrunk.state.featureHistory?.map((h) => [h.latest.feature, h.over])).toEqual([
      ['b', [true, false]],
    ]);
  });

  it('fires, updates and resolves a generated sequence consistently', () => {
    // Invariants over many pseudo-random sequences: opens and resolves alternate, starting with an
    // open; every open is preceded by >= m over windows among the last n evaluated ones.
    let seed = 12345;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const options = [OVER, OK, BETWEEN, NONE] as const;
    for (let run = 0; run < 200; run++) {
      const p = policy({
        fireAfter: { m: 1 + Math.floor(next() * 3), n: 3 },
        clearAfter: 1 + Math.floor(next() * 3),
        cooldownMs: Math.floor(next() * 4) * MIN,
      });
      const seq = Array.from({ length: 60 }, () => options[Math.floor(next() * 4)]!);
      const steps = runMonitor(windows(seq), p);
      let open = false;
      const evaluated: boolean[] = [];
      steps.forEach((s, i) => {
        if (s.verdict !== 'insufficient') evaluated.push(s.verdict === 'over');
        if (s.action?.type === 'open') {
          expect(open).toBe(false);
          expect(s.verdict).toBe('over');
          expect(evaluated.slice(-p.fireAfter.n).filter(Boolean).length).toBeGreaterThanOrEqual(
            p.fireAfter.m,
          );
          open = true;
        } else if (s.action?.type === 'resolve') {
          expect(open).toBe(true);
          expect(seq[i]).not.toBe(NONE);
          open = false;
        } else if (s.action?.type === 'update') {
          expect(open).toBe(true);
        }
        expect(s.state.open !== null).toBe(open);
      });
    }
  });
});

describe('MonitorConfigSchema', () => {
  it('fills every default from an empty object', () => {
    expect(DEFAULT_MONITOR_CONFIG).toMatchObject({
      enabled: true,
      minSamples: 200,
      fireAfter: { m: 2, n: 3 },
      clearAfter: 3,
      clearRatio: 0.8,
      featureSets: 'split',
    });
  });

  it('refuses m > n, unknown metrics and unknown fields', () => {
    expect(MonitorConfigSchema.safeParse({ fireAfter: { m: 4, n: 3 } }).success).toBe(false);
    expect(
      MonitorConfigSchema.safeParse({ metricOverrides: { numericMetric: 'chi2' } }).success,
    ).toBe(false);
    expect(MonitorConfigSchema.safeParse({ minSample: 5 }).success).toBe(false);
  });

  it('accepts per-feature metric overrides', () => {
    const c = MonitorConfigSchema.parse({
      metricOverrides: {
        features: { 'x.age': { numericMetric: 'psi', thresholds: { psi: 0.3 } } },
      },
    });
    expect(c.metricOverrides.features?.['x.age']?.numericMetric).toBe('psi');
  });
});
