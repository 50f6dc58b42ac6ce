/**
 * Whether a release fits a device: hardware class, onnxruntime version range, ONNX opset and
 * required execution providers. Failures name the fact that did not fit, for the operator.
 */
import { z } from 'zod';
import { fail, ok, type Result } from '../errors.js';
import { TrustNameSchema } from './fields.js';

/** A parsed semantic version (semver 2.0.0; build metadata is dropped, it has no precedence). */
export interface Semver {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly prerelease: readonly (number | string)[];
}

const NUMERIC = /^(0|[1-9][0-9]*)$/;
const IDENTIFIER = /^[0-9A-Za-z-]+$/;

function numeric(s: string): number | undefined {
  if (!NUMERIC.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Parse `MAJOR.MINOR.PATCH[-prerelease][+build]`; undefined if it is not semver 2.0.0. */
export function parseSemver(s: string): Semver | undefined {
  if (s.length > 256) return undefined;
  const plus = s.indexOf('+');
  const build = plus < 0 ? undefined : s.slice(plus + 1);
  if (build?.split('.').some((id) => !IDENTIFIER.test(id))) return undefined;
  const body = plus < 0 ? s : s.slice(0, plus);
  const dash = body.indexOf('-');
  const core = (dash < 0 ? body : body.slice(0, dash)).split('.');
  if (core.length !== 3) return undefined;
  const [major, minor, patch] = core.map(numeric);
  if (major === undefined || minor === undefined || patch === undefined) return undefined;
  const prerelease: (number | string)[] = [];
  if (dash >= 0) {
    for (const id of body.slice(dash + 1).split('.')) {
      if (!IDENTIFIER.test(id)) return undefined;
      if (/^[0-9]+$/.test(id)) {
        const n = numeric(id); // numeric identifiers have no leading zeros [semver §9]
        if (n === undefined) return undefined;
        prerelease.push(n);
      } else {
        prerelease.push(id);
      }
    }
  }
  return { major, minor, patch, prerelease };
}

function compareIdentifiers(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.sign(a - b);
  if (typeof a === 'number') return -1; // numeric identifiers sort before alphanumeric [semver §11.4.3]
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semver precedence [semver §11]: negative if a < b, 0 if equal, positive if a > b. */
export function compareSemver(a: Semver, b: Semver): number {
  const core = Math.sign(a.major - b.major) || Math.sign(a.minor - b.minor);
  if (core !== 0) return core;
  const patch = Math.sign(a.patch - b.patch);
  if (patch !== 0) return patch;
  // A pre-release sorts before its release [semver §11.3].
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return Math.sign(b.prerelease.length - a.prerelease.length);
  }
  for (let i = 0; i < Math.min(a.prerelease.length, b.prerelease.length); i++) {
    const c = compareIdentifiers(a.prerelease[i]!, b.prerelease[i]!);
    if (c !== 0) return c;
  }
  return Math.sign(a.prerelease.length - b.prerelease.length);
}

export const SemverSchema = z
  .string()
  .refine((s) => parseSemver(s) !== undefined, 'must be a semantic version (1.20.0)');

/** What a release requires of the device that installs it. */
export const CompatSchema = z.strictObject({
  /** Hardware classes the release is built for; empty means any. */
  hardwareClasses: z.array(TrustNameSchema).max(256),
  /** onnxruntime versions the model was tested with: `min <= v < maxExclusive`. */
  ort: z
    .strictObject({ min: SemverSchema.optional(), maxExclusive: SemverSchema.optional() })
    .optional(),
  /** The model's ai.onnx opset. */
  opset: z.number().int().min(1).max(1000).optional(),
  /** Execution providers the device must offer (e.g. CUDAExecutionProvider). */
  requiredEps: z.array(TrustNameSchema).max(32),
});

export type Compat = z.infer<typeof CompatSchema>;

/** The facts a device states about itself, which a release's compat is checked against. */
export interface DeviceFacts {
  readonly deviceId: string;
  readonly hardwareClass: string;
  /** The onnxruntime version the agent runs, e.g. `1.20.1`. */
  readonly ortVersion: string;
  /** Execution providers available on this device. */
  readonly executionProviders: readonly string[];
  /** Highest ai.onnx opset the runtime supports; when absent the opset is not checked. */
  readonly maxOpset?: number;
}

function incompatible(fact: string, message: string, details: Record<string, unknown>) {
  return fail('EF_INCOMPATIBLE', message, { fact, ...details });
}

/** EF_INCOMPATIBLE, with `details.fact` naming the first requirement the device does not meet. */
export function checkCompat(compat: Compat, device: DeviceFacts): Result<void> {
  const { hardwareClasses } = compat;
  if (hardwareClasses.length > 0 && !hardwareClasses.includes(device.hardwareClass)) {
    return incompatible(
      'hardwareClass',
      `hardware class ${device.hardwareClass} is not one of ${hardwareClasses.join(', ')}`,
      { required: hardwareClasses, actual: device.hardwareClass },
    );
  }
  if (compat.ort !== undefined) {
    const { min, maxExclusive } = compat.ort;
    const actual = parseSemver(device.ortVersion);
    const required = { min, maxExclusive };
    if (actual === undefined) {
      return incompatible('ortVersion', `onnxruntime version ${device.ortVersion} is not semver`, {
        required,
        actual: device.ortVersion,
      });
    }
    const below = min !== undefined && compareSemver(actual, parseSemver(min)!) < 0;
    const above =
      maxExclusive !== undefined && compareSemver(actual, parseSemver(maxExclusive)!) >= 0;
    if (below || above) {
      return incompatible(
        'ortVersion',
        `onnxruntime ${device.ortVersion} is outside [${min ?? '*'}, ${maxExclusive ?? '*'})`,
        { required, actual: device.ortVersion },
      );
    }
  }
  if (compat.opset !== undefined && device.maxOpset !== undefined) {
    if (compat.opset > device.maxOpset) {
      return incompatible(
        'opset',
        `the model needs opset ${compat.opset}; the runtime supports up to ${device.maxOpset}`,
        { required: compat.opset, actual: device.maxOpset },
      );
    }
  }
  const missing = compat.requiredEps.filter((ep) => !device.executionProviders.includes(ep));
  if (missing.length > 0) {
    return incompatible(
      'executionProviders',
      `missing required execution provider(s): ${missing.join(', ')}`,
      { required: compat.requiredEps, actual: device.executionProviders, missing },
    );
  }
  return ok(undefined);
}
