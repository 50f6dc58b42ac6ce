/**
 * The drift monitor: a pure state machine per model release x cohort x feature set, fed one window's
 * drift report at a time (in window order), deciding when an event opens, updates and resolves.
 *
 * - A window is read as `over` (some feature drifted: above its threshold with enough samples),
 *   `ok`, or `insufficient` (no feature could be compared). While an event is open, a window that is
 *   not over is `under` when every feature the event names that could be compared is at most
 *   `clearRatio` x its threshold (hysteresis), else `between`.
 * - Fire: an over window when at least `m` of the last `n` evaluated windows are over, no event is
 *   open and no cooldown runs. One open event per key: while open, over windows update it.
 * - Resolve: `clearAfter` consecutive under windows (between and over windows restart the count).
 * - Cooldown: after a resolve, nothing opens until `cooldownMs` after the resolving window's end
 *   (window time, not wall time, so a replay decides the same). Over windows during the cooldown are
 *   remembered for M-of-N but open nothing.
 * - Insufficient windows neither fire nor clear, and do not count towards M-of-N.
 * - A window at or before the last one seen is `stale` and changes nothing (replays are harmless).
 *
 * Which features an event names (the `open` action, `update`s, the stored event and so the drift
 * event and its retraining request): the same M-of-N rule per feature. The state keeps, per
 * feature over in any of the last `n` evaluated windows, whether it was over in each of them (at
 * most `n` flags, like `recent`) and its latest over-threshold reading. Every evaluated window
 * (open or not, cooldown or not) is recorded; insufficient windows are not; a resolve forgets it
 * all, like `recent` (an opening does not: the event keeps counting from there).
 * - On open, the event names the features over in at least `m` of the last `n` evaluated windows.
 *   When none is (over windows that take turns between features: a, b, a... with m = 2), it names
 *   the features over in the most of those windows (all of them on a tie), so the list is never
 *   empty: the firing window is over, so some feature was over at least once. One noisy window in
 *   which an unshifted feature crosses its threshold does not name it (unless nothing else was over
 *   more often, in which case the event itself rests on such windows).
 * - While open, an over window adds the features that reached `m` of the last `n` (an update);
 *   nothing is ever removed from an open event.
 * - The values shown are each named feature's latest over-threshold reading; lists are ordered most
 *   drifted first (value / threshold, then name).
 * - Clearing (the `under` verdict) looks at the named features only, so a feature that crossed its
 *   threshold once and then sits between the two thresholds does not keep the event open; any over
 *   window, named features or not, still restarts the clear count. The list is never empty, so an
 *   event cannot be left with nothing to clear on.
 * - States stored without the per-feature history (by an earlier version) load with an empty one:
 *   counting starts at the next window (an event opening on that very window names what it shows,
 *   as the earlier version did).
 */
import type { FeatureDrift } from '@edgefleet/protocol';
import { z } from 'zod';
import type { MonitorConfig } from './config.js';

/** A feature that went over its threshold in a window. */
export interface DriftedFeature {
  readonly feature: string;
  readonly kind: 'numeric' | 'categorical';
  readonly metric: string;
  readonly value: number;
  readonly threshold: number;
  /** Values in the live window and in the reference. */
  readonly n: number;
  readonly referenceN: number;
}

/** One window's drift report, restricted to the monitor's feature set. */
export interface WindowObservation {
  /** Window start and end in epoch milliseconds. */
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly features: readonly FeatureDrift[];
}

/** How the monitor read a window. */
export type WindowVerdict = 'over' | 'ok' | 'under' | 'between' | 'insufficient' | 'stale';

/** One feature's over history (see the module comment). */
export interface FeatureOverHistory {
  /** Its latest over-threshold reading. */
  readonly latest: DriftedFeature;
  /**
   * Over (true) or not in the last evaluated windows (at most `fireAfter.n`), oldest first, the
   * last one being the last evaluated window; windows before the first were not over.
   */
  readonly over: readonly boolean[];
}

/** The event the monitor holds open. */
export interface OpenEventState {
  readonly openedWindowStart: number;
  readonly openedWindowEnd: number;
  readonly lastOverWindowStart: number;
  /**
   * The features named as drifted (over in `m` of the last `n` windows, see the module comment),
   * with their latest over-threshold values, most drifted first. Never empty.
   */
  readonly features: readonly DriftedFeature[];
  /** Consecutive under windows so far. */
  readonly clearStreak: number;
  /** Over windows since the event opened (the opening one included). */
  readonly windowsOver: number;
}

export interface MonitorState {
  /** Start of the last window seen (epoch ms), null before the first. */
  readonly lastWindowStart: number | null;
  /** Over (true) or not, for the last evaluated windows (at most `fireAfter.n`), oldest first. */
  readonly recent: readonly boolean[];
  /**
   * The features over in any of the last evaluated windows (at most `fireAfter.n`) since the last
   * resolve, with their history. Missing in states stored by earlier versions: empty.
   */
  readonly featureHistory?: readonly FeatureOverHistory[];
  readonly open: OpenEventState | null;
  /** No event opens for windows starting before this (epoch ms). */
  readonly cooldownUntil: number | null;
}

export const INITIAL_MONITOR_STATE: MonitorState = Object.freeze({
  lastWindowStart: null,
  recent: [],
  featureHistory: [],
  open: null,
  cooldownUntil: null,
});

/** What the monitor asks its shell to do after a window. */
export type MonitorAction =
  | {
      readonly type: 'open';
      readonly windowStart: number;
      readonly windowEnd: number;
      /**
       * The features named as drifted (see the module comment), with their latest over-threshold
       * values, most drifted first. Never empty.
       */
      readonly features: readonly DriftedFeature[];
      /** Over windows among the last `ofWindows` evaluated ones. */
      readonly overWindows: number;
      readonly ofWindows: number;
    }
  | {
      readonly type: 'update';
      readonly windowStart: number;
      readonly windowEnd: number;
      /**
       * The event's features (after this window) that were over threshold in this window, most
       * drifted first; empty when only features the event does not name were.
       */
      readonly features: readonly DriftedFeature[];
      /** The event's features after this window (see `OpenEventState.features`). */
      readonly eventFeatures: readonly DriftedFeature[];
      readonly windowsOver: number;
    }
  | {
      readonly type: 'resolve';
      readonly windowStart: number;
      readonly windowEnd: number;
      readonly openedWindowStart: number;
    };

export interface MonitorStep {
  readonly state: MonitorState;
  readonly verdict: WindowVerdict;
  readonly action: MonitorAction | null;
  /** True when M-of-N was met but a cooldown kept the event from opening. */
  readonly suppressed: boolean;
}

/** The parts of the configuration the state machine uses. */
export type MonitorPolicy = Pick<
  MonitorConfig,
  'fireAfter' | 'clearAfter' | 'clearRatio' | 'cooldownMs'
>;

/** Largest value / threshold first (a zero threshold with a positive value counts as infinite). */
function severity(f: DriftedFeature): number {
  return f.threshold > 0 ? f.value / f.threshold : f.value > 0 ? Infinity : 0;
}

function bySeverity(a: DriftedFeature, b: DriftedFeature): number {
  return severity(b) - severity(a) || a.feature.localeCompare(b.feature);
}

function drifted(f: FeatureDrift): DriftedFeature {
  return {
    feature: f.feature,
    kind: f.kind,
    metric: f.metric,
    value: f.value,
    threshold: f.threshold,
    n: f.n,
    referenceN: f.referenceN,
  };
}

/** Previous features updated with the new readings (by name), most drifted first. */
function unionFeatures(
  previous: readonly DriftedFeature[],
  latest: readonly DriftedFeature[],
): DriftedFeature[] {
  const byName = new Map(previous.map((f) => [f.feature, f]));
  for (const f of latest) byName.set(f.feature, f);
  return [...byName.values()].sort(bySeverity);
}

/** The history after one more evaluated window, in which `overNow` were over; at most `n` flags. */
function recordWindow(
  history: readonly FeatureOverHistory[],
  overNow: readonly DriftedFeature[],
  n: number,
): FeatureOverHistory[] {
  const fresh = new Map(overNow.map((f) => [f.feature, f]));
  const next: FeatureOverHistory[] = [];
  for (const h of history) {
    const now = fresh.get(h.latest.feature);
    fresh.delete(h.latest.feature);
    const over = [...h.over, now !== undefined].slice(-n);
    if (over.includes(true)) next.push({ latest: now ?? h.latest, over });
  }
  for (const f of fresh.values()) next.push({ latest: f, over: [true] });
  return next;
}

const overCount = (h: FeatureOverHistory): number => h.over.filter(Boolean).length;

/**
 * The features an opening event names: those over in at least `m` of the remembered windows, else
 * those over in the most of them (ties: all), most drifted first.
 */
function namedFeatures(history: readonly FeatureOverHistory[], m: number): DriftedFeature[] {
  const qualifying = history.filter((h) => overCount(h) >= m);
  if (qualifying.length > 0) return qualifying.map((h) => h.latest).sort(bySeverity);
  const most = history.reduce((max, h) => Math.max(max, overCount(h)), 0);
  return history
    .filter((h) => most > 0 && overCount(h) === most)
    .map((h) => h.latest)
    .sort(bySeverity);
}

/**
 * How a window reads, given whether (and on which features) an event is open. While open, `under`
 * and `between` look at the features the event names (never empty), not at ones that crossed their
 * threshold now and then without reaching M of N.
 */
export function classifyWindow(
  features: readonly FeatureDrift[],
  open: OpenEventState | null,
  clearRatio: number,
): Exclude<WindowVerdict, 'stale'> {
  const compared = features.filter((f) => f.status !== 'insufficient_data');
  if (compared.length === 0) return 'insufficient';
  if (compared.some((f) => f.status === 'drifted')) return 'over';
  if (open === null) return 'ok';
  const watched = new Set(open.features.map((f) => f.feature));
  const relevant = compared.filter((f) => watched.has(f.feature));
  // The event's own features say nothing this window: it can neither clear nor stay.
  if (relevant.length === 0) return 'insufficient';
  return relevant.every((f) => f.value <= clearRatio * f.threshold) ? 'under' : 'between';
}

/** Feed one window to the monitor. Pure: returns the next state and what to do. */
export function stepMonitor(
  state: MonitorState,
  obs: WindowObservation,
  policy: MonitorPolicy,
): MonitorStep {
  if (state.lastWindowStart !== null && obs.windowStart <= state.lastWindowStart) {
    return { state, verdict: 'stale', action: null, suppressed: false };
  }
  const verdict = classifyWindow(obs.features, state.open, policy.clearRatio);
  const at = { windowStart: obs.windowStart, windowEnd: obs.windowEnd };

  if (verdict === 'insufficient') {
    return {
      state: { ...state, lastWindowStart: obs.windowStart },
      verdict,
      action: null,
      suppressed: false,
    };
  }

  const overNow = obs.features.filter((f) => f.status === 'drifted').map(drifted);
  const featureHistory = recordWindow(state.featureHistory ?? [], overNow, policy.fireAfter.n);
  const seen = { ...state, lastWindowStart: obs.windowStart, featureHistory };

  const open = state.open;
  if (open !== null) {
    switch (verdict) {
      case 'over': {
        // Named features get their latest values; features that reached M of N join.
        const named = new Set(open.features.map((f) => f.feature));
        const latest = featureHistory
          .filter((h) => named.has(h.latest.feature) || overCount(h) >= policy.fireAfter.m)
          .map((h) => h.latest);
        const next: OpenEventState = {
          ...open,
          lastOverWindowStart: obs.windowStart,
          features: unionFeatures(open.features, latest),
          clearStreak: 0,
          windowsOver: open.windowsOver + 1,
        };
        const overHere = new Set(overNow.map((f) => f.feature));
        return {
          state: { ...seen, open: next },
          verdict,
          action: {
            type: 'update',
            ...at,
            features: next.features.filter((f) => overHere.has(f.feature)),
            eventFeatures: next.features,
            windowsOver: next.windowsOver,
          },
          suppressed: false,
        };
      }
      case 'between':
      case 'ok':
        return {
          state: { ...seen, open: { ...open, clearStreak: 0 } },
          verdict,
          action: null,
          suppressed: false,
        };
      case 'under': {
        const clearStreak = open.clearStreak + 1;
        if (clearStreak < policy.clearAfter) {
          return {
            state: { ...seen, open: { ...open, clearStreak } },
            verdict,
            action: null,
            suppressed: false,
          };
        }
        return {
          state: {
            ...seen,
            open: null,
            recent: [],
            featureHistory: [],
            cooldownUntil: obs.windowEnd + policy.cooldownMs,
          },
          verdict,
          action: { type: 'resolve', ...at, openedWindowStart: open.openedWindowStart },
          suppressed: false,
        };
      }
    }
  }

  // No event open: `ok` or `over` (the others need an open event).
  const isOver = verdict === 'over';
  const recent = [...state.recent, isOver].slice(-policy.fireAfter.n);
  const overWindows = recent.filter(Boolean).length;
  const fires = isOver && overWindows >= policy.fireAfter.m;
  const cooling = state.cooldownUntil !== null && obs.windowStart < state.cooldownUntil;
  if (!fires || cooling) {
    return { state: { ...seen, recent }, verdict, action: null, suppressed: fires && cooling };
  }
  const features = namedFeatures(featureHistory, policy.fireAfter.m);
  return {
    state: {
      ...seen,
      recent: [],
      cooldownUntil: null,
      open: {
        openedWindowStart: obs.windowStart,
        openedWindowEnd: obs.windowEnd,
        lastOverWindowStart: obs.windowStart,
        features,
        clearStreak: 0,
        windowsOver: 1,
      },
    },
    verdict,
    action: { type: 'open', ...at, features, overWindows, ofWindows: recent.length },
    suppressed: false,
  };
}

/** Feed a sequence of windows (in order); the steps, one per window. */
export function runMonitor(
  observations: Iterable<WindowObservation>,
  policy: MonitorPolicy,
  state: MonitorState = INITIAL_MONITOR_STATE,
): MonitorStep[] {
  const steps: MonitorStep[] = [];
  let s = state;
  for (const obs of observations) {
    const step = stepMonitor(s, obs, policy);
    steps.push(step);
    s = step.state;
  }
  return steps;
}

const finite = z.number().refine(Number.isFinite, 'must be finite');
const DriftedFeatureSchema = z.object({
  feature: z.string(),
  kind: z.enum(['numeric', 'categorical']),
  metric: z.string(),
  value: z.number(),
  threshold: z.number(),
  n: z.number(),
  referenceN: z.number(),
});

/** Schema of a persisted `MonitorState` (the shell stores states as JSON). */
export const MonitorStateSchema = z.object({
  lastWindowStart: finite.nullable(),
  recent: z.array(z.boolean()).max(1000),
  // Absent in states stored by earlier versions: no history yet.
  featureHistory: z
    .array(z.object({ latest: DriftedFeatureSchema, over: z.array(z.boolean()).max(1000) }))
    .default([]),
  open: z
    .object({
      openedWindowStart: finite,
      openedWindowEnd: finite,
      lastOverWindowStart: finite,
      features: z.array(DriftedFeatureSchema),
      clearStreak: z.int().min(0),
      windowsOver: z.int().min(0),
    })
    .nullable(),
  cooldownUntil: finite.nullable(),
});
