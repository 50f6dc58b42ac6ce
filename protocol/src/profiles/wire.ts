/**
 * Wire form of a profile (inside telemetry windows and as the reference profile file of a release):
 *
 * ```
 * { v: 1,
 *   window?: { start, end },                       ISO 8601 date-times, start <= end
 *   features: { [name]: { kind: 'numeric', summary: NumericSummaryJson, kll: base64 KLL bytes }
 *                     | { kind: 'categorical', items: FrequentItemsJson } } }
 * ```
 *
 * `decodeProfile` validates everything and never throws: a device is not trusted to send well-formed
 * sketches. Caps bound the work and memory one profile can cost before anything is allocated for it.
 */
import { z } from 'zod';
import { fail, ok, type Failure, type Result } from '../errors.js';
import { FrequentItems, FrequentItemsJsonSchema } from '../sketches/frequent-items.js';
import { KLL_MAX_BYTES, KllSketch } from '../sketches/kll.js';
import { NumericSummary, NumericSummaryJsonSchema } from '../sketches/numeric-summary.js';
import type { RandomSource } from '../sketches/types.js';
import { Profile, type FeatureSketch } from './profile.js';

export const PROFILE_WIRE_VERSION = 1;

/** Caps applied by `decodeProfile`. */
export interface ProfileLimits {
  /** Most features in one profile. Default 10,000. */
  readonly maxFeatures?: number;
  /** Longest base64 KLL sketch, in characters. Default 262,144 (~196 KiB, ~24k items). */
  readonly maxKllChars?: number;
  /** Most frequent-items entries of one categorical feature. Default 4096 (the sketch's own cap). */
  readonly maxItems?: number;
}

export const DEFAULT_PROFILE_LIMITS: Readonly<Required<ProfileLimits>> = Object.freeze({
  maxFeatures: 10_000,
  maxKllChars: 262_144,
  maxItems: 4096,
});

/** Longest feature name: `<tensor>.<kind>.<column>` with 128-character parts fits. */
const FEATURE_NAME_MAX = 512;

export const FeatureNameSchema = z
  .string()
  .min(1)
  .max(FEATURE_NAME_MAX)
  .regex(/^[^\s]+$/, 'must not contain white space');

export const ProfileWindowSchema = z
  .strictObject({
    start: z.iso.datetime({ offset: true }),
    end: z.iso.datetime({ offset: true }),
  })
  .refine((w) => Date.parse(w.start) <= Date.parse(w.end), {
    error: 'window start must not be after its end',
  });

export const NumericFeatureWireSchema = z.strictObject({
  kind: z.literal('numeric'),
  summary: NumericSummaryJsonSchema,
  /** `KllSketch.toBase64()` (`decodeProfile` applies the tighter `maxKllChars` first). */
  kll: z.string().max(Math.ceil(KLL_MAX_BYTES / 3) * 4),
});

export const CategoricalFeatureWireSchema = z.strictObject({
  kind: z.literal('categorical'),
  items: FrequentItemsJsonSchema,
});

export const FeatureWireSchema = z.discriminatedUnion('kind', [
  NumericFeatureWireSchema,
  CategoricalFeatureWireSchema,
]);

export const ProfileWireSchema = z.strictObject({
  v: z.literal(PROFILE_WIRE_VERSION),
  window: ProfileWindowSchema.optional(),
  features: z.record(FeatureNameSchema, FeatureWireSchema),
});

export type ProfileWire = z.infer<typeof ProfileWireSchema>;
export type FeatureWire = z.infer<typeof FeatureWireSchema>;

function encodeFeature(s: FeatureSketch): FeatureWire {
  return s.kind === 'numeric'
    ? { kind: 'numeric', summary: s.summary.toJSON(), kll: s.kll.toBase64() }
    : { kind: 'categorical', items: s.items.toJSON() };
}

/** The wire form of a profile; features in name order, so equal profiles encode equally. */
export function encodeProfile(profile: Profile): ProfileWire {
  const features: Record<string, FeatureWire> = {};
  for (const [name, s] of profile.entries()) features[name] = encodeFeature(s);
  return profile.window === undefined
    ? { v: PROFILE_WIRE_VERSION, features }
    : {
        v: PROFILE_WIRE_VERSION,
        window: { start: profile.window.start, end: profile.window.end },
        features,
      };
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === 'object' && u !== null && !Array.isArray(u);

/** Options of `decodeProfile`. */
export interface DecodeProfileOptions extends ProfileLimits {
  /** Coin flips of the decoded KLL sketches (for reproducible merges later). */
  readonly random?: RandomSource;
}

/**
 * Validate and decode a profile's wire form (already parsed from JSON). Fails with
 * EF_UNSUPPORTED_VERSION for another `v`, EF_TOO_LARGE beyond the limits, EF_MALFORMED otherwise
 * (schema violations, undecodable sketches, a KLL sketch whose count differs from its summary's
 * count of finite values). Never throws.
 */
export function decodeProfile(input: unknown, opts: DecodeProfileOptions = {}): Result<Profile> {
  const limits = { ...DEFAULT_PROFILE_LIMITS, ...opts };
  if (!isRecord(input)) return fail('EF_MALFORMED', 'profile: expected an object');
  if (input.v !== PROFILE_WIRE_VERSION && typeof input.v === 'number') {
    return fail('EF_UNSUPPORTED_VERSION', `profile: version ${input.v} is not supported`);
  }
  // Cheap checks before the schema walks (and copies) everything.
  const raw = input.features;
  if (isRecord(raw)) {
    const names = Object.keys(raw);
    if (names.length > limits.maxFeatures) {
      return fail('EF_TOO_LARGE', `profile: ${names.length} features exceed ${limits.maxFeatures}`);
    }
    // JSON.parse makes `__proto__` an own key; the schema would silently drop it.
    if (Object.hasOwn(raw, '__proto__')) {
      return fail('EF_MALFORMED', 'profile: "__proto__" is not a feature name');
    }
    for (const name of names) {
      const f = raw[name];
      if (!isRecord(f)) continue;
      if (typeof f.kll === 'string' && f.kll.length > limits.maxKllChars) {
        return fail(
          'EF_TOO_LARGE',
          `profile: feature "${name}" has a KLL sketch over the size cap`,
        );
      }
      const items = isRecord(f.items) ? f.items.items : undefined;
      if (Array.isArray(items) && items.length > limits.maxItems) {
        return fail(
          'EF_TOO_LARGE',
          `profile: feature "${name}" has more than ${limits.maxItems} items`,
        );
      }
    }
  }
  const parsed = ProfileWireSchema.safeParse(input);
  if (!parsed.success) {
    // Hostile input can produce thousands of issues: report the first few.
    const issues = parsed.error.issues;
    const shown = issues.slice(0, 5).map((i) => `${i.path.map(String).join('.')}: ${i.message}`);
    if (issues.length > shown.length) shown.push(`and ${issues.length - shown.length} more`);
    return fail('EF_MALFORMED', `profile: ${shown.join('; ')}`, { issues: issues.length });
  }
  const features: [string, FeatureSketch][] = [];
  for (const [name, f] of Object.entries(parsed.data.features)) {
    if (f.kind === 'numeric') {
      // `ProfileWireSchema` has validated the summary and the item lists.
      const summary = NumericSummary.fromValid(f.summary);
      const kll = KllSketch.fromBase64(
        f.kll,
        opts.random === undefined ? {} : { random: opts.random },
      );
      if (!kll.ok) return withFeature(kll, name);
      if (kll.value.n !== summary.count) {
        return fail(
          'EF_MALFORMED',
          `profile: feature "${name}" has ${kll.value.n} values in its KLL sketch but ${summary.count} in its summary`,
          { feature: name },
        );
      }
      features.push([name, { kind: 'numeric', summary, kll: kll.value }]);
    } else {
      features.push([name, { kind: 'categorical', items: FrequentItems.fromValid(f.items) }]);
    }
  }
  return ok(new Profile(features, parsed.data.window));
}

function withFeature(f: Failure, name: string): Failure {
  return fail(f.code, `profile: feature "${name}": ${f.message}`, { feature: name });
}
