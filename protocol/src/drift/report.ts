/**
 * Drift reports: every feature of a live profile compared with the reference profile.
 *
 * Each feature gets one primary metric that decides its status, plus the values of the other metrics
 * of its kind for context. A metric's threshold is its materiality floor (how much drift matters:
 * `DEFAULT_DRIFT_THRESHOLDS`), raised on small windows to the value that drift-free windows of that
 * size exceed with probability `falseAlarmRate` (see `./noise.ts`): gates compare distances, never
 * p-values, but a distance measured on 200 values is mostly noise.
 *
 * Defaults and why (measured by `bench/drift-eval.ts`: 1000 drift-free windows per distribution and
 * size, reference of 100,000 values, KLL k = 200 on both sides):
 * - Primary numeric metric: Jensen-Shannon distance on 10 reference-quantile bins, floor 0.1 (about
 *   PSI 0.055, a ~0.25 sigma mean shift of a normal feature). It flags a 0.5 sigma shift in 100% of
 *   n = 1000 windows for all four distributions, and with the allowance (0.159 at n = 200, below the
 *   floor from n ~ 500) fires in at most 0.5% of drift-free n = 200 windows and never at n >= 1000.
 *   A fixed JS 0.1 would fire in 29-32% of drift-free n = 200 windows.
 * - PSI keeps its customary fixed 0.2 as a secondary metric. It does not false-alarm (0 of 12,000
 *   windows; PSI ~ chi2(9)/n puts 0.2 beyond the 99.99th percentile at n = 200) but it is too blunt
 *   for the power target: a 0.5 sigma shift of a normal feature has a decile PSI of 0.24 and is
 *   missed in 7.5% of n = 1000 windows (92.5% power < 95%).
 * - KS: at least max(0.1, 2 x rank error) as asked, plus the allowance (a fixed 0.1 fires in ~4% of
 *   n = 200 windows). It is insensitive to spread: a variance x2 keeps the normal's KS under 0.1.
 * - Normalised Wasserstein, 0.1: informative, but no distribution-free allowance exists and its
 *   noise depends on the tails (31% false alarms at n = 200, 11% for lognormal at n = 1000).
 * - Categorical: JS distance of frequency vectors, floor 0.1 with the same allowance (0.2-0.3% false
 *   alarms at n = 200); L-infinity 0.2 as secondary.
 * - minSamples 200: below it nothing is concluded (insufficient_data).
 */
import { z } from 'zod';
import type { Profile } from '../profiles/profile.js';
import {
  frequencyVectors,
  linfOfVectors,
  occupiedBuckets,
  type FrequencySummary,
} from './categorical-metrics.js';
import {
  binBoth,
  DEFAULT_BINS,
  jsDistanceOfProbabilities,
  ksDistance,
  normalizedWasserstein,
  psiOfProbabilities,
  type BatchQuantileSummary,
  type Binned,
} from './numeric-metrics.js';
import { effectiveSampleSize, jsNoise, ksNoise, linfNoise, psiNoise } from './noise.js';

export const NUMERIC_METRICS = ['js', 'psi', 'ks', 'wasserstein'] as const;
export const CATEGORICAL_METRICS = ['categorical_js', 'linf'] as const;

/** Numeric metrics: Jensen-Shannon distance and PSI on reference-quantile bins, KS, W1 / std. */
export type NumericMetric = (typeof NUMERIC_METRICS)[number];
/** Categorical metrics: Jensen-Shannon distance and L-infinity of frequency vectors. */
export type CategoricalMetric = (typeof CATEGORICAL_METRICS)[number];
export type DriftMetric = NumericMetric | CategoricalMetric;

/**
 * `ok`: compared, within threshold. `drifted`: the primary metric is above its threshold.
 * `insufficient_data`: fewer than `minSamples` values on either side, or the feature is missing
 * from one profile (or has a different kind there): nothing is concluded.
 */
export type DriftStatus = 'ok' | 'drifted' | 'insufficient_data';

/**
 * Materiality floors: a metric above its floor (and above the noise allowance of the window size)
 * is drift. The KS threshold is also at least twice the sketches' normalised rank error.
 */
export const DEFAULT_DRIFT_THRESHOLDS: Readonly<Record<DriftMetric, number>> = Object.freeze({
  psi: 0.2,
  js: 0.1,
  ks: 0.1,
  wasserstein: 0.1,
  categorical_js: 0.1,
  linf: 0.2,
});

/** Defaults of `driftReport` besides the thresholds. */
export const DEFAULT_DRIFT_OPTIONS: {
  readonly numericMetric: NumericMetric;
  readonly categoricalMetric: CategoricalMetric;
  readonly minSamples: number;
  readonly bins: number;
  readonly sampleSizeAware: boolean;
  readonly falseAlarmRate: number;
} = Object.freeze({
  numericMetric: 'js',
  categoricalMetric: 'categorical_js',
  /** Fewer values than this in the live window (or the reference): insufficient_data. */
  minSamples: 200,
  bins: DEFAULT_BINS,
  /** Raise thresholds to the noise allowance of the window size (`./noise.ts`). */
  sampleSizeAware: true,
  /** Per feature-window false-alarm rate the noise allowance is set for (target: <= 1%). */
  falseAlarmRate: 0.001,
});

const metricSchema = z.enum([...NUMERIC_METRICS, ...CATEGORICAL_METRICS]);
const thresholdsSchema = z.partialRecord(metricSchema, z.number().min(0));

/** Per-feature overrides. */
export const FeatureDriftOptionsSchema = z.strictObject({
  numericMetric: z.enum(NUMERIC_METRICS).optional(),
  categoricalMetric: z.enum(CATEGORICAL_METRICS).optional(),
  thresholds: thresholdsSchema.optional(),
  minSamples: z.number().int().min(1).optional(),
});

/** Options of `driftReport` (validate operator configuration with this schema). */
export const DriftReportOptionsSchema = z.strictObject({
  numericMetric: z.enum(NUMERIC_METRICS).optional(),
  categoricalMetric: z.enum(CATEGORICAL_METRICS).optional(),
  thresholds: thresholdsSchema.optional(),
  minSamples: z.number().int().min(1).optional(),
  bins: z.number().int().min(2).max(1000).optional(),
  sampleSizeAware: z.boolean().optional(),
  falseAlarmRate: z.number().gt(0).lt(1).optional(),
  /** Overrides by feature name. */
  features: z.record(z.string(), FeatureDriftOptionsSchema).optional(),
});

export type FeatureDriftOptions = z.infer<typeof FeatureDriftOptionsSchema>;
export type DriftReportOptions = z.infer<typeof DriftReportOptionsSchema>;

/** One metric of one feature. */
export interface MetricResult {
  readonly metric: DriftMetric;
  readonly value: number;
  readonly threshold: number;
  /** value > threshold. */
  readonly drifted: boolean;
}

/** The verdict on one feature: its primary metric, and all metrics of its kind. */
export interface FeatureDrift extends MetricResult {
  readonly feature: string;
  readonly kind: 'numeric' | 'categorical';
  /** Values in the live window (numeric: finite values). */
  readonly n: number;
  /** Values in the reference. */
  readonly referenceN: number;
  readonly status: DriftStatus;
  /** Every metric of the feature's kind, the primary one included (empty without data). */
  readonly metrics: readonly MetricResult[];
  /** Why the status is insufficient_data, when it is. */
  readonly reason?: string;
}

export interface DriftReport {
  /** drifted if any feature drifted; insufficient_data if no feature could be compared; else ok. */
  readonly status: DriftStatus;
  /** Names of the drifted features. */
  readonly drifted: readonly string[];
  /** One entry per feature of either profile, by name. */
  readonly features: readonly FeatureDrift[];
}

/** The settings that decide thresholds for one comparison (resolved from the options). */
export interface ThresholdSettings {
  readonly thresholds: Readonly<Record<DriftMetric, number>>;
  readonly sampleSizeAware: boolean;
  readonly falseAlarmRate: number;
  readonly bins: number;
}

/** Resolve the settings for one feature. */
export function thresholdSettings(
  opts: DriftReportOptions = {},
  feature?: string,
): ThresholdSettings & {
  readonly numericMetric: NumericMetric;
  readonly categoricalMetric: CategoricalMetric;
  readonly minSamples: number;
} {
  const f = feature === undefined ? undefined : opts.features?.[feature];
  return {
    thresholds: { ...DEFAULT_DRIFT_THRESHOLDS, ...opts.thresholds, ...f?.thresholds },
    sampleSizeAware: opts.sampleSizeAware ?? DEFAULT_DRIFT_OPTIONS.sampleSizeAware,
    falseAlarmRate: opts.falseAlarmRate ?? DEFAULT_DRIFT_OPTIONS.falseAlarmRate,
    bins: opts.bins ?? DEFAULT_DRIFT_OPTIONS.bins,
    numericMetric: f?.numericMetric ?? opts.numericMetric ?? DEFAULT_DRIFT_OPTIONS.numericMetric,
    categoricalMetric:
      f?.categoricalMetric ?? opts.categoricalMetric ?? DEFAULT_DRIFT_OPTIONS.categoricalMetric,
    minSamples: f?.minSamples ?? opts.minSamples ?? DEFAULT_DRIFT_OPTIONS.minSamples,
  };
}

function result(metric: DriftMetric, value: number, threshold: number): MetricResult {
  return { metric, value, threshold, drifted: value > threshold };
}

/** Two numeric distributions to compare. */
export interface NumericComparison {
  readonly reference: BatchQuantileSummary;
  readonly live: BatchQuantileSummary;
  /** Population standard deviation of the reference (from its `NumericSummary`). */
  readonly referenceStd: number;
  /** Largest normalised rank error of the two summaries (KLL: `normalizedRankError()`; exact: 0). */
  readonly rankError: number;
}

/**
 * One numeric metric of a comparison, with its threshold: the floor raised to the noise allowance of
 * the effective sample size when `sampleSizeAware`. Normalised Wasserstein is not distribution-free
 * (its noise depends on the tails), so it gets no allowance: its floor alone applies.
 */
export function numericMetric(
  c: NumericComparison,
  metric: NumericMetric,
  s: ThresholdSettings,
  binned?: Binned,
): MetricResult {
  const floor = s.thresholds[metric];
  const nEff = effectiveSampleSize(c.reference.n, c.live.n);
  const allow = (noise: number) => (s.sampleSizeAware ? noise : 0);
  switch (metric) {
    case 'js':
    case 'psi': {
      const b = binned ?? binBoth(c.reference, c.live, s.bins);
      const bins = b.reference.length;
      return metric === 'js'
        ? result(
            metric,
            jsDistanceOfProbabilities(b.reference, b.live),
            Math.max(floor, allow(jsNoise(bins, nEff, s.falseAlarmRate))),
          )
        : result(
            metric,
            psiOfProbabilities(b.reference, b.live),
            Math.max(floor, allow(psiNoise(bins, nEff, s.falseAlarmRate))),
          );
    }
    case 'ks':
      return result(
        metric,
        ksDistance(c.reference, c.live),
        Math.max(floor, 2 * c.rankError, allow(ksNoise(nEff, s.falseAlarmRate))),
      );
    case 'wasserstein':
      return result(metric, normalizedWasserstein(c.reference, c.live, c.referenceStd), floor);
  }
}

/** Every numeric metric of a comparison (see `numericMetric`), in `NUMERIC_METRICS` order. */
export function numericMetrics(c: NumericComparison, s: ThresholdSettings): MetricResult[] {
  const binned = binBoth(c.reference, c.live, s.bins);
  return NUMERIC_METRICS.map((m) => numericMetric(c, m, s, binned));
}

/** Every categorical metric of a comparison, with thresholds (see `numericMetrics`). */
export function categoricalMetrics(
  reference: FrequencySummary,
  live: FrequencySummary,
  s: ThresholdSettings,
): MetricResult[] {
  const t = s.thresholds;
  const nEff = effectiveSampleSize(reference.n, live.n);
  const v = frequencyVectors(reference, live);
  const buckets = Math.max(2, occupiedBuckets(v));
  const allow = (noise: number) => (s.sampleSizeAware ? noise : 0);
  const linf = linfOfVectors(v);
  return [
    result(
      'categorical_js',
      jsDistanceOfProbabilities(v.reference, v.live),
      Math.max(t.categorical_js, allow(jsNoise(buckets, nEff, s.falseAlarmRate))),
    ),
    result('linf', linf, Math.max(t.linf, allow(linfNoise(buckets, nEff, s.falseAlarmRate)))),
  ];
}

function noData(
  feature: string,
  kind: 'numeric' | 'categorical',
  metric: DriftMetric,
  threshold: number,
  n: number,
  referenceN: number,
  reason: string,
): FeatureDrift {
  return {
    feature,
    kind,
    metric,
    value: NaN,
    threshold,
    drifted: false,
    n,
    referenceN,
    status: 'insufficient_data',
    metrics: [],
    reason,
  };
}

/**
 * Compare a live profile with the reference profile, feature by feature (the union of both
 * profiles' features, by name). Pure; never throws on well-typed input.
 */
export function driftReport(
  reference: Profile,
  live: Profile,
  opts: DriftReportOptions = {},
): DriftReport {
  const names = [...new Set([...reference.names, ...live.names])].sort();
  const features: FeatureDrift[] = [];
  for (const feature of names) {
    const s = thresholdSettings(opts, feature);
    const ref = reference.get(feature);
    const cur = live.get(feature);
    const kind = (ref ?? cur)!.kind;
    const metric = kind === 'numeric' ? s.numericMetric : s.categoricalMetric;
    const floor = s.thresholds[metric];
    const count = (x: typeof ref) =>
      x === undefined ? 0 : x.kind === 'numeric' ? x.summary.count : x.items.n;
    const n = count(cur);
    const referenceN = count(ref);
    if (ref === undefined || cur === undefined) {
      const why = ref === undefined ? 'not in the reference profile' : 'not in the live profile';
      features.push(noData(feature, kind, metric, floor, n, referenceN, why));
      continue;
    }
    let metrics: MetricResult[];
    if (ref.kind === 'numeric' && cur.kind === 'numeric') {
      metrics = numericMetrics(
        {
          reference: ref.kll,
          live: cur.kll,
          referenceStd: ref.summary.std,
          rankError: Math.max(ref.kll.normalizedRankError(), cur.kll.normalizedRankError()),
        },
        s,
      );
    } else if (ref.kind === 'categorical' && cur.kind === 'categorical') {
      metrics = categoricalMetrics(ref.items, cur.items, s);
    } else {
      const why = `${ref.kind} in the reference profile but ${cur.kind} in the live profile`;
      features.push(noData(feature, kind, metric, floor, n, referenceN, why));
      continue;
    }
    const primary = metrics.find((m) => m.metric === metric)!;
    if (n < s.minSamples || referenceN < s.minSamples) {
      const why = `${Math.min(n, referenceN)} values; at least ${s.minSamples} are needed`;
      features.push({
        ...noData(feature, kind, metric, primary.threshold, n, referenceN, why),
        value: primary.value,
        metrics: metrics.map((m) => ({ ...m, drifted: false })),
      });
      continue;
    }
    features.push({
      feature,
      kind,
      ...primary,
      n,
      referenceN,
      status: primary.drifted ? 'drifted' : 'ok',
      metrics,
    });
  }
  const drifted = features.filter((f) => f.status === 'drifted').map((f) => f.feature);
  const compared = features.some((f) => f.status !== 'insufficient_data');
  return {
    status: drifted.length > 0 ? 'drifted' : compared ? 'ok' : 'insufficient_data',
    drifted,
    features,
  };
}
