/**
 * The drift monitor: a pure state machine per model release x cohort x feature set, fed one window's
 * drift report at a time (in window order), deciding when an event opens, updates and resolves.
 *
 * - A window is read as `over` (some feature drifted: above its threshold with enough samples),
 *   `ok`, or `insufficient` (no feature could be compared). While an event is open, a window that is
 *   not over is `under` when every feature of the event that could be compared is at most
 *   `clearRatio` x its threshold (hysteresis), else `between`.
 * - Fire: an over window when at least `m` of the last `n` evaluated windows are over, no event is
 *   open and no cooldown runs. One open event per key: while open, over windows update it.
 * - Resolve: `clearAfter` consecutive under windows (between and over windows restart the count).
 * - Cooldown: after a resolve, nothing opens until `cooldownMs` after the resolving window's end
 *   (window time, not wall time, so a replay decides the same). Over windows during the cooldown are
 *   remembered for M-of-N but open nothing.
 * - Insufficient windows neither fire nor clear, and do not count towards M-of-N.
 * - A window at or before the last one seen is `stale` and changes nothing (replays are harmless).
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

/** The event the monitor holds open. */
export interface OpenEventState {
  readonly openedWindowStart: number;
  readonly openedWindowEnd: number;
  readonly lastOverWindowStart: number;
  /** Every feature that went over while open, with its latest values, most drifted first. */
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
  readonly open: OpenEventState | null;
  /** No event opens for windows starting before this (epoch ms). */
  readonly cooldownUntil: number | null;
}

export const INITIAL_MONITOR_STATE: MonitorState = Object.freeze({
  lastWindowStart: null,
  recent: [],
  open: null,
  cooldownUntil: null,
});

/** What the monitor asks its shell to do after a window. */
export type MonitorAction =
  | {
      readonly type: 'open';
      readonly windowStart: number;
      readonly windowEnd: number;
      /** The features over threshold in this window, most drifted first. */
      readonly features: readonly DriftedFeature[];
      /** Over windows among the last `ofWindows` evaluated ones. */
      readonly overWindows: number;
      readonly ofWindows: number;
    }
  | {
      readonly type: 'update';
      readonly windowStart: number;
      readonly windowEnd: number;
      /** The features over threshold in this window. */
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

/** How a window reads, given whether (and on which features) an event is open. */
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
  const seen = { ...state, lastWindowStart: obs.windowStart };
  const at = { windowStart: obs.windowStart, windowEnd: obs.windowEnd };
  const overFeatures = (): DriftedFeature[] =>
    obs.features
      .filter((f) => f.status === 'drifted')
      .map(drifted)
      .sort(bySeverity);

  if (verdict === 'insufficient') {
    return { state: seen, verdict, action: null, suppressed: false };
  }

  const open = state.open;
  if (open !== null) {
    switch (verdict) {
      case 'over': {
        const features = overFeatures();
        const next: OpenEventState = {
          ...open,
          lastOverWindowStart: obs.windowStart,
          features: unionFeatures(open.features, features),
          clearStreak: 0,
          windowsOver: open.windowsOver + 1,
        };
        return {
          state: { ...seen, open: next },
          verdict,
          action: {
            type: 'update',
            ...at,
            features,
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
  const features = overFeatures();
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
