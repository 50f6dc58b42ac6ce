/**
 * The rollout spec: what an operator asks for in `POST /v1/rollouts` (ARCHITECTURE §5 step 3). Parsed
 * once at the boundary; the normalized result (durations in seconds, defaults filled in) is what is
 * stored with the rollout and what the planner reads. Parsing a normalized spec again yields the same
 * spec, so it can be re-validated when it is read back from the database.
 *
 * Decisions written down here (the API docs repeat them):
 * - Wave sizes are cumulative: `{count: 5}` then `{percent: 10}` means "5 devices after the first wave,
 *   10 % of the matching fleet after the second". Percentages are of the fleet that matched the selector
 *   when the rollout started (rounded up, so a non-empty fleet always gets a non-empty canary).
 * - The last wave must be `{percent: 100}`: every matching device is covered, including devices that
 *   enrol while the rollout runs. Write it out; it is never implied. With no `waves` at all the rollout
 *   is one wave `all` of 100 %.
 * - A wave's soak (duration and/or healthy inferences) is the device's soak: it travels in the directive
 *   and a device reports `succeeded` only after it, so the device timeout must be longer than the soak.
 * - The failure action applies both to a wave that fails its gate and to tripped abort criteria: `pause`
 *   (the default: nothing happens to the fleet without an operator) or `abort` (fleet rollback).
 */
import { z } from 'zod';
import { fail, ok, type Result, type Soak } from '@edgefleet/protocol';
import { isLabelKey, parseSelector } from '../devices/selector.js';

// --- Durations ------------------------------------------------------------------------------------

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
const DURATION_TEXT = /^(\d+[smhd])+$/;
/** The longest duration a spec may name (soaks, timeouts): 30 days. */
export const MAX_DURATION_SECONDS = 30 * 86_400;

/** Seconds in a duration such as `90s`, `10m`, `1h30m` or `2d`; undefined if it is not one. */
export function parseDurationSeconds(text: string): number | undefined {
  if (!DURATION_TEXT.test(text)) return undefined;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhd])/g)) {
    total += Number(n) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
  }
  return total;
}

/** A duration: whole seconds, or text such as `90s`, `10m`, `1h30m`, `2d`. Parsed to seconds. */
const DURATION_HINT = 'a duration: whole seconds, or text such as 90s, 10m, 1h30m, 2d';

export const DurationSchema = z
  .union([z.int().min(0), z.string().regex(DURATION_TEXT, DURATION_HINT)], {
    error: DURATION_HINT,
  })
  .transform((v, ctx) => {
    const seconds = typeof v === 'number' ? v : parseDurationSeconds(v)!;
    if (seconds > MAX_DURATION_SECONDS) {
      ctx.addIssue({ code: 'custom', message: 'at most 30 days' });
      return z.NEVER;
    }
    return seconds;
  });

// --- Waves ----------------------------------------------------------------------------------------

/** A wave's cumulative size: a device count, or a percentage of the matching fleet at start. */
export const WaveSizeSchema = z.union(
  [
    z.strictObject({ count: z.int().min(1).max(10_000_000) }),
    z.strictObject({ percent: z.number().gt(0).max(100) }),
  ],
  { error: 'size is {count: n} (n >= 1) or {percent: p} (0 < p <= 100)' },
);

export const SoakSpecSchema = z
  .strictObject({
    /** Time the device must serve the new release healthily before it reports `succeeded`. */
    duration: DurationSchema.optional(),
    /** Healthy inferences the device must serve before it reports `succeeded`. */
    minInferences: z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .prefault({});

/**
 * What a wave must show to pass. The success ratio is `succeeded / members` (timed-out devices count
 * as not succeeded). The other gates compare the wave's telemetry over its window with the baseline
 * release; they are skipped (and recorded as skipped) while no telemetry is available.
 */
export const GatesSchema = z
  .strictObject({
    minSuccessRatio: z.number().min(0).max(1).default(0.95),
    /** Errors per inference on the new release, absolute. Also sent to devices as the soak limit. */
    maxErrorRate: z.number().min(0).max(1).optional(),
    /** p95 latency of the wave divided by the baseline's p95. */
    maxP95LatencyRatio: z.number().gt(0).optional(),
    /** Output drift distance of the wave's outputs from the baseline's (the telemetry's metric). */
    maxOutputDrift: z.number().min(0).optional(),
  })
  .prefault({});

const WAVE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const WaveSpecSchema = z.strictObject({
  name: z
    .string()
    .regex(WAVE_NAME, 'a wave name: 1-64 of A-Z a-z 0-9 . _ -, starting alphanumeric'),
  size: WaveSizeSchema,
  soak: SoakSpecSchema,
  gates: GatesSchema,
  /** Overrides the rollout's device timeout for this wave. */
  deviceTimeout: DurationSchema.optional(),
});

// --- Rate, criteria, approval, window -------------------------------------------------------------

export const RateSchema = z
  .strictObject({
    /** New directives per minute (any 60-second window), before any ramp. */
    maxPerMinute: z.int().min(1).max(1_000_000).default(60),
    /** Multiply the rate by `rampFactor` after every `rampAfter` succeeded devices. */
    rampAfter: z.int().min(1).optional(),
    rampFactor: z.number().gt(1).max(10).default(2),
    /** Ceiling of the ramped rate (default: no ceiling beyond the disruption budget). */
    rampMaxPerMinute: z.int().min(1).max(1_000_000).optional(),
  })
  .prefault({});

export const ABORT_METRICS = [
  /** failed / decided devices */
  'failed_ratio',
  /** timed_out / decided devices */
  'timed_out_ratio',
  /** rolled_back / decided devices */
  'rolled_back_ratio',
  /** errors per inference of the devices on the new release */
  'error_rate',
  /** p95 latency of the new release / p95 latency of the baseline */
  'p95_latency_ratio',
  /** output drift of the new release from the baseline */
  'output_drift',
] as const;
export type AbortMetric = (typeof ABORT_METRICS)[number];

/** Metrics that are ratios of device counts (threshold in [0, 1]). */
export const DEVICE_RATIO_METRICS: ReadonlySet<AbortMetric> = new Set([
  'failed_ratio',
  'timed_out_ratio',
  'rolled_back_ratio',
]);

/**
 * Trips when `metric > threshold` once at least `minDevices` devices back the value (decided devices
 * for the ratios, devices with telemetry for the health metrics).
 */
export const AbortCriterionSchema = z
  .strictObject({
    metric: z.enum(ABORT_METRICS),
    threshold: z.number().min(0),
    minDevices: z.int().min(1).default(10),
  })
  .refine(
    (c) => !(DEVICE_RATIO_METRICS.has(c.metric) || c.metric === 'error_rate') || c.threshold <= 1,
    {
      error: 'the threshold of a ratio metric is at most 1',
      path: ['threshold'],
    },
  );

export const ApprovalSchema = z
  .strictObject({
    beforeFirstWave: z.boolean().default(false),
    betweenWaves: z.boolean().default(false),
  })
  .prefault({});

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const CLOCK_TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/**
 * When new directives may be sent: on `days`, from `start` to `end` (`HH:MM`, UTC). A window whose end
 * is before its start runs past midnight into the next day. Devices already updating carry on outside
 * the window; only new assignments wait.
 */
export const MaintenanceWindowSchema = z
  .strictObject({
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .default([...WEEKDAYS]),
    start: z.string().regex(CLOCK_TIME, 'a time of day HH:MM (24 h)'),
    end: z.string().regex(CLOCK_TIME, 'a time of day HH:MM (24 h)'),
    tz: z.literal('UTC', { error: 'only UTC is supported' }).default('UTC'),
  })
  .refine((w) => w.start !== w.end, { error: 'start and end must differ', path: ['end'] });

/** `hardwareClass` (the device's own field) or a label key. */
const SpreadKeySchema = z
  .string()
  .refine((k) => k === 'hardwareClass' || isLabelKey(k), 'hardwareClass or a label key');

const SelectorTextSchema = z
  .string()
  .max(2048)
  .default('')
  .superRefine((text, ctx) => {
    try {
      parseSelector(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
    }
  });

const ReleaseIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:+@-]*$/, 'a release id');

const DEFAULT_WAVES = [
  { name: 'all', size: { percent: 100 }, soak: {}, gates: {} },
] satisfies z.input<typeof WaveSpecSchema>[];

// --- The spec -------------------------------------------------------------------------------------

export const RolloutSpecSchema = z
  .strictObject({
    releaseId: ReleaseIdSchema,
    /** The release to compare health with; default: the release most matching devices run now. */
    baselineReleaseId: ReleaseIdSchema.optional(),
    /** Label selector over the fleet (`site=berlin,hw in (jetson,rpi5)`); empty matches every device. */
    selector: SelectorTextSchema,
    waves: z.array(WaveSpecSchema).min(1).max(100).prefault(DEFAULT_WAVES),
    /** Wave membership is spread evenly over the groups these keys form. */
    spreadBy: z.array(SpreadKeySchema).max(4).default(['hardwareClass', 'site']),
    rate: RateSchema,
    /** Disruption budget: devices updating at once (directive sent, no final report yet). */
    maxConcurrent: z.int().min(1).max(1_000_000).default(50),
    /** A device that has not reached a final state this long after its directive is `timed_out`. */
    deviceTimeout: DurationSchema.default(1800),
    abortCriteria: z.array(AbortCriterionSchema).max(20).default([]),
    onFailure: z.enum(['pause', 'abort']).default('pause'),
    approval: ApprovalSchema,
    maintenanceWindow: MaintenanceWindowSchema.optional(),
  })
  .superRefine((spec, ctx) => {
    const last = spec.waves.at(-1)!;
    if (!('percent' in last.size) || last.size.percent !== 100) {
      ctx.addIssue({
        code: 'custom',
        path: ['waves', spec.waves.length - 1, 'size'],
        message:
          'the last wave must be {percent: 100} so that every matching device is covered (wave sizes are cumulative)',
      });
    }
    const names = new Set<string>();
    let lastCount = 0;
    let lastPercent = 0;
    spec.waves.forEach((wave, i) => {
      if (names.has(wave.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['waves', i, 'name'],
          message: `wave name ${wave.name} is used twice`,
        });
      }
      names.add(wave.name);
      const size = wave.size;
      const [value, previous, unit] =
        'count' in size ? [size.count, lastCount, ' devices'] : [size.percent, lastPercent, '%'];
      if (value < previous) {
        ctx.addIssue({
          code: 'custom',
          path: ['waves', i, 'size'],
          message: `wave sizes are cumulative (devices covered after the wave) and cannot shrink: ${value}${unit} follows ${previous}${unit}`,
        });
      }
      if ('count' in size) lastCount = size.count;
      else lastPercent = size.percent;
      const timeout = wave.deviceTimeout ?? spec.deviceTimeout;
      if (wave.soak.duration !== undefined && wave.soak.duration >= timeout) {
        ctx.addIssue({
          code: 'custom',
          path: ['waves', i, 'soak', 'duration'],
          message: `the soak (${wave.soak.duration}s) must be shorter than the device timeout (${timeout}s): a device reports success only after its soak`,
        });
      }
    });
    const { rate } = spec;
    if (rate.rampMaxPerMinute !== undefined && rate.rampAfter === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['rate', 'rampMaxPerMinute'],
        message: 'rampMaxPerMinute needs rampAfter',
      });
    }
    if (rate.rampMaxPerMinute !== undefined && rate.rampMaxPerMinute < rate.maxPerMinute) {
      ctx.addIssue({
        code: 'custom',
        path: ['rate', 'rampMaxPerMinute'],
        message: 'rampMaxPerMinute must be at least maxPerMinute',
      });
    }
  });

/** The spec as written in a request. */
export type RolloutSpecInput = z.input<typeof RolloutSpecSchema>;
/** The normalized spec: defaults filled in, durations in seconds. */
export type RolloutSpec = z.output<typeof RolloutSpecSchema>;
export type WaveSpec = RolloutSpec['waves'][number];
export type WaveSize = WaveSpec['size'];
export type Gates = WaveSpec['gates'];
export type RateSpec = RolloutSpec['rate'];
export type AbortCriterion = RolloutSpec['abortCriteria'][number];
export type MaintenanceWindow = z.output<typeof MaintenanceWindowSchema>;

const MAX_REPORTED_ISSUES = 10;

/** Parse a spec into a Result: EF_BAD_REQUEST with every issue (`path: message`) on failure. */
export function parseRolloutSpec(input: unknown): Result<RolloutSpec> {
  const parsed = RolloutSpecSchema.safeParse(input);
  if (parsed.success) return ok(parsed.data);
  const issues = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path === '' ? issue.message : `${path}: ${issue.message}`;
  });
  return fail('EF_BAD_REQUEST', `The rollout spec is invalid: ${issues[0] ?? 'unknown issue'}`, {
    issues: issues.slice(0, MAX_REPORTED_ISSUES),
  });
}

/** The device timeout of wave `index`, in seconds. */
export function waveTimeoutSeconds(spec: RolloutSpec, index: number): number {
  return spec.waves[index]?.deviceTimeout ?? spec.deviceTimeout;
}

/** True when wave `index` may start only after an operator approves it. */
export function waveNeedsApproval(spec: RolloutSpec, index: number): boolean {
  return index === 0 ? spec.approval.beforeFirstWave : spec.approval.betweenWaves;
}

/** The soak a device of wave `index` must serve before it reports `succeeded` (in its directive). */
export function directiveSoak(spec: RolloutSpec, index: number): Soak | undefined {
  const wave = spec.waves[index];
  if (wave === undefined) return undefined;
  // A wave that names either soak condition gets exactly what it named: the other is 0, not the
  // device's default (a wave with no soak at all leaves both to the device).
  const named = wave.soak.minInferences !== undefined || wave.soak.duration !== undefined;
  const soak: Soak = {
    ...(named
      ? { minInferences: wave.soak.minInferences ?? 0, durationSec: wave.soak.duration ?? 0 }
      : {}),
    ...(wave.gates.maxErrorRate === undefined ? {} : { maxErrorRate: wave.gates.maxErrorRate }),
  };
  return Object.keys(soak).length === 0 ? undefined : soak;
}
