/**
 * Drift monitor configuration, per model (`PUT /v1/models/{name}/monitor`). Every field has a
 * default, so `{}` is a valid configuration and a model without one is monitored with the defaults.
 */
import { DEFAULT_DRIFT_OPTIONS, DriftReportOptionsSchema } from '@edgefleet/protocol';
import { z } from 'zod';

/** A stored aggregate window range used as the reference instead of the release's profile. */
export const BaselineWindowSchema = z
  .strictObject({
    /** The release whose aggregates form the baseline (default: the monitored release itself). */
    releaseId: z.string().min(1).max(128).optional(),
    /** Restrict the baseline to one cohort (default: every cohort of that release). */
    cohort: z.string().max(512).optional(),
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
  })
  .refine((b) => Date.parse(b.from) < Date.parse(b.to), {
    error: 'baseline.from must be before baseline.to',
  });

export const MonitorConfigSchema = z
  .strictObject({
    /** Monitor this model at all. */
    enabled: z.boolean().default(true),
    /**
     * Metric choice and thresholds, globally and per feature (the protocol's `DriftReportOptions`:
     * numericMetric, categoricalMetric, thresholds, features, bins, sampleSizeAware, falseAlarmRate).
     * Its `minSamples`, if given, is superseded by the top-level `minSamples`.
     */
    metricOverrides: DriftReportOptionsSchema.default({}),
    /** Fewer values than this in a window (per feature): the feature says nothing that window. */
    minSamples: z.int().min(1).max(1e9).default(DEFAULT_DRIFT_OPTIONS.minSamples),
    /** Open an event when at least `m` of the last `n` evaluated windows are over threshold. */
    fireAfter: z
      .strictObject({ m: z.int().min(1).max(100), n: z.int().min(1).max(100) })
      .refine((f) => f.m <= f.n, { error: 'fireAfter.m must not exceed fireAfter.n' })
      .default({ m: 2, n: 3 }),
    /** Resolve after this many consecutive evaluated windows under `clearRatio` x threshold. */
    clearAfter: z.int().min(1).max(1000).default(3),
    /** The lower (hysteresis) threshold, as a fraction of each feature's threshold. */
    clearRatio: z.number().gt(0).max(1).default(0.8),
    /** After an event resolves, no new event for the same key for this long (window time). */
    cooldownMs: z
      .int()
      .min(0)
      .max(30 * 86_400_000)
      .default(30 * 60_000),
    /**
     * `split`: inputs and outputs (prediction drift) are separate feature sets with separate events
     * when the release's feature spec says which is which; `single`: one feature set (`all`).
     */
    featureSets: z.enum(['split', 'single']).default('split'),
    /** Compare with stored aggregates of a baseline window instead of the release's reference profile. */
    baseline: BaselineWindowSchema.optional(),
  })
  .describe('Drift monitor configuration of a model');

/** A monitor configuration with every default applied. */
export type MonitorConfig = z.infer<typeof MonitorConfigSchema>;
/** What an operator sends (every field optional). */
export type MonitorConfigInput = z.input<typeof MonitorConfigSchema>;

/** The configuration used for models that have none stored. */
export const DEFAULT_MONITOR_CONFIG: MonitorConfig = Object.freeze(MonitorConfigSchema.parse({}));
