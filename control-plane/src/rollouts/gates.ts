/**
 * Wave gates and abort criteria: pure judgements over device counts and the wave's health.
 *
 * Health comes from telemetry through a `HealthSource` (the telemetry rollups plug in here). Until a
 * source is wired, or while it has no data for a window, the health checks are recorded as skipped and
 * the device outcomes decide: the success ratio, where `succeeded` already means "served its soak".
 */
import type { DeviceDeploymentState } from '../db/schema.js';
import { DEVICE_RATIO_METRICS, type AbortCriterion, type AbortMetric, type Gates } from './spec.js';

// --- Health --------------------------------------------------------------------------------------

export interface HealthWindow {
  readonly from: Date;
  readonly to: Date;
}

/** Telemetry of a wave's devices on the rollout's release over a window. */
export interface WaveHealth {
  /** Devices that sent telemetry in the window. */
  readonly devices: number;
  readonly inferences: number;
  /** Errors per inference. */
  readonly errorRate: number;
  readonly p95LatencyMs: number;
  /** Distance of the wave's output profile from the baseline's (the telemetry's drift metric). */
  readonly outputDrift?: number;
}

/** Telemetry of the baseline release over the same window (devices not in the rollout). */
export interface BaselineHealth {
  readonly devices: number;
  readonly inferences: number;
  readonly errorRate: number;
  readonly p95LatencyMs: number;
}

export interface WaveHealthQuery {
  readonly rolloutId: string;
  readonly waveIndex: number;
  readonly releaseId: string;
  readonly baselineReleaseId: string | undefined;
  /** The wave's members. */
  readonly deviceIds: readonly string[];
  readonly window: HealthWindow;
}

export interface BaselineHealthQuery {
  readonly rolloutId: string;
  readonly releaseId: string;
  readonly window: HealthWindow;
}

/** Where gate evaluation reads health from; `undefined` means "no data for this window". */
export interface HealthSource {
  waveHealth(query: WaveHealthQuery): Promise<WaveHealth | undefined>;
  baselineHealth(query: BaselineHealthQuery): Promise<BaselineHealth | undefined>;
}

// --- Counts --------------------------------------------------------------------------------------

/** Deployment outcomes of a set of devices (a wave, or the whole rollout). */
export interface DeploymentCounts {
  readonly members: number;
  /** Not final yet (directive out, no final report). */
  readonly open: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly rolledBack: number;
  readonly timedOut: number;
  /** Final: succeeded + failed + rolled back + timed out. */
  readonly decided: number;
}

export function countDeployments(states: Iterable<DeviceDeploymentState>): DeploymentCounts {
  let members = 0;
  let succeeded = 0;
  let failed = 0;
  let rolledBack = 0;
  let timedOut = 0;
  for (const state of states) {
    members++;
    if (state === 'succeeded') succeeded++;
    else if (state === 'failed') failed++;
    else if (state === 'rolled_back') rolledBack++;
    else if (state === 'timed_out') timedOut++;
  }
  const decided = succeeded + failed + rolledBack + timedOut;
  return { members, open: members - decided, succeeded, failed, rolledBack, timedOut, decided };
}

// --- Checks --------------------------------------------------------------------------------------

export type GateMetric = 'success_ratio' | 'error_rate' | 'p95_latency_ratio' | 'output_drift';

/** Why a check could not be made (it then does not block). */
export type SkipReason = 'no_telemetry' | 'no_baseline' | 'too_few_devices';

/** One check of a gate or criterion, as recorded with the evaluation. */
export interface Check {
  readonly metric: GateMetric | AbortMetric;
  /** The measured value; null when skipped. */
  readonly value: number | null;
  readonly threshold: number;
  /** For gates: within the gate. For abort criteria: not tripped. Skipped checks pass. */
  readonly passed: boolean;
  readonly skipped?: SkipReason;
}

export interface Verdict {
  readonly passed: boolean;
  readonly checks: readonly Check[];
}

function skipped(metric: Check['metric'], threshold: number, why: SkipReason): Check {
  return { metric, value: null, threshold, passed: true, skipped: why };
}

function atMost(metric: Check['metric'], value: number, threshold: number): Check {
  return { metric, value, threshold, passed: value <= threshold };
}

/** p95 of the wave over p95 of the baseline, when both are known and the baseline's is positive. */
export function p95Ratio(
  health: WaveHealth,
  baseline: BaselineHealth | undefined,
): number | undefined {
  if (baseline === undefined || !(baseline.p95LatencyMs > 0)) return undefined;
  return health.p95LatencyMs / baseline.p95LatencyMs;
}

/**
 * Judge a finished wave: its success ratio must meet the gate (an empty wave passes), and its error
 * rate, p95 latency relative to the baseline and output drift relative to the baseline must stay
 * within the gate when they are measured.
 */
export function evaluateWaveGates(
  gates: Gates,
  counts: DeploymentCounts,
  health?: WaveHealth,
  baseline?: BaselineHealth,
): Verdict {
  const ratio = counts.members === 0 ? 1 : counts.succeeded / counts.members;
  const checks: Check[] = [
    {
      metric: 'success_ratio',
      value: ratio,
      threshold: gates.minSuccessRatio,
      passed: ratio >= gates.minSuccessRatio,
    },
  ];
  if (gates.maxErrorRate !== undefined) {
    checks.push(
      health === undefined
        ? skipped('error_rate', gates.maxErrorRate, 'no_telemetry')
        : atMost('error_rate', health.errorRate, gates.maxErrorRate),
    );
  }
  if (gates.maxP95LatencyRatio !== undefined) {
    const value = health === undefined ? undefined : p95Ratio(health, baseline);
    checks.push(
      value === undefined
        ? skipped(
            'p95_latency_ratio',
            gates.maxP95LatencyRatio,
            health === undefined ? 'no_telemetry' : 'no_baseline',
          )
        : atMost('p95_latency_ratio', value, gates.maxP95LatencyRatio),
    );
  }
  if (gates.maxOutputDrift !== undefined) {
    const value = health?.outputDrift;
    checks.push(
      value === undefined
        ? skipped('output_drift', gates.maxOutputDrift, 'no_telemetry')
        : atMost('output_drift', value, gates.maxOutputDrift),
    );
  }
  return { passed: checks.every((c) => c.passed), checks };
}

/** The value of one abort metric and how many devices back it; undefined when not measured. */
function measure(
  metric: AbortMetric,
  counts: DeploymentCounts,
  health: WaveHealth | undefined,
  baseline: BaselineHealth | undefined,
): { value: number; support: number } | SkipReason {
  if (DEVICE_RATIO_METRICS.has(metric)) {
    const n =
      metric === 'failed_ratio'
        ? counts.failed
        : metric === 'timed_out_ratio'
          ? counts.timedOut
          : counts.rolledBack;
    return { value: counts.decided === 0 ? 0 : n / counts.decided, support: counts.decided };
  }
  if (health === undefined) return 'no_telemetry';
  switch (metric) {
    case 'error_rate':
      return { value: health.errorRate, support: health.devices };
    case 'p95_latency_ratio': {
      const value = p95Ratio(health, baseline);
      return value === undefined ? 'no_baseline' : { value, support: health.devices };
    }
    case 'output_drift':
      return health.outputDrift === undefined
        ? 'no_telemetry'
        : { value: health.outputDrift, support: health.devices };
    default:
      return 'no_telemetry';
  }
}

/**
 * Evaluate abort criteria over the rollout's device counts (ratios are of decided devices) and the
 * current wave's health. A criterion trips when its value exceeds the threshold and at least
 * `minDevices` devices back the value. `passed` is false when any criterion tripped.
 */
export function evaluateAbortCriteria(
  criteria: readonly AbortCriterion[],
  counts: DeploymentCounts,
  health?: WaveHealth,
  baseline?: BaselineHealth,
): Verdict {
  const checks = criteria.map((c): Check => {
    const m = measure(c.metric, counts, health, baseline);
    if (typeof m === 'string') return skipped(c.metric, c.threshold, m);
    if (m.support < c.minDevices) return skipped(c.metric, c.threshold, 'too_few_devices');
    return {
      metric: c.metric,
      value: m.value,
      threshold: c.threshold,
      passed: m.value <= c.threshold,
    };
  });
  return { passed: checks.every((c) => c.passed), checks };
}
