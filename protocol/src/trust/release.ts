/**
 * The release document (`_type: 'release'`, ARCHITECTURE §3): one model version with everything a
 * device needs to install it, signed by the release role. Files are named by plain names and pinned
 * by sha256 and length; the model, health-check sample and reference profile are names from that list.
 */
import { z } from 'zod';
import { canonicalBytes } from '../canonical-json.js';
import { type Envelope, signEnvelope } from '../crypto/envelope.js';
import type { SigningKey } from '../crypto/keys.js';
import { Sha256HexSchema, sha256Hex } from '../crypto/sha256.js';
import { FeatureSpecSchema } from '../profiles/feature-spec.js';
import { CompatSchema } from './compat.js';
import { CounterSchema, LengthSchema, TrustNameSchema, TimestampSchema } from './fields.js';
import { checkFilePath } from './paths.js';
import { addCodedIssue, orThrow, parseWith } from './validate.js';

export const MAX_RELEASE_FILES = 64;

export const SignedFileSchema = z.strictObject({
  sha256: Sha256HexSchema,
  length: LengthSchema,
});

export const HealthCheckSchema = z.strictObject({
  /** A listed file holding the sample input and its expected output. */
  sample: z.string(),
  /** Absolute and relative tolerance when comparing outputs (numpy.allclose semantics). */
  atol: z.number().min(0),
  rtol: z.number().min(0),
});

export const ReleaseDocumentSchema = z
  .strictObject({
    _type: z.literal('release'),
    releaseId: TrustNameSchema,
    model: z.strictObject({ name: TrustNameSchema, version: TrustNameSchema }),
    /** Monotonic per model name; a device refuses a counter below the one it installed. */
    releaseCounter: CounterSchema,
    files: z.record(z.string(), SignedFileSchema),
    /** Which listed file is the ONNX model. */
    modelFile: z.string(),
    compat: CompatSchema,
    featureSpec: FeatureSpecSchema,
    healthCheck: HealthCheckSchema.nullable(),
    /** A listed file holding the reference profile (made from training/reference data). */
    referenceProfile: z.string().optional(),
    createdAt: TimestampSchema,
    expires: TimestampSchema,
  })
  .superRefine((release, ctx) => {
    const paths = Object.keys(release.files);
    if (paths.length === 0 || paths.length > MAX_RELEASE_FILES) {
      ctx.addIssue({
        code: 'custom',
        message: `a release lists between 1 and ${MAX_RELEASE_FILES} files`,
        path: ['files'],
      });
    }
    for (const path of paths) {
      const checked = checkFilePath(path);
      if (!checked.ok) addCodedIssue(ctx, 'EF_PATH_INVALID', checked.message, ['files', path]);
    }
    const mustBeListed = (name: string, at: readonly PropertyKey[]) => {
      const checked = checkFilePath(name);
      if (!checked.ok) addCodedIssue(ctx, 'EF_PATH_INVALID', checked.message, at);
      else if (!Object.hasOwn(release.files, name)) {
        ctx.addIssue({ code: 'custom', message: `${name} is not a listed file`, path: [...at] });
      }
    };
    mustBeListed(release.modelFile, ['modelFile']);
    if (release.healthCheck !== null)
      mustBeListed(release.healthCheck.sample, ['healthCheck', 'sample']);
    if (release.referenceProfile !== undefined) {
      mustBeListed(release.referenceProfile, ['referenceProfile']);
    }
  });

/** The signed part of a release document. */
export type ReleaseDocument = z.infer<typeof ReleaseDocumentSchema>;

/** Check and sign a release document with release-role keys. Throws EdgefleetError if it is invalid. */
export function signRelease(
  release: ReleaseDocument,
  keys: readonly SigningKey[],
): Envelope<ReleaseDocument> {
  return signEnvelope(orThrow(parseWith(ReleaseDocumentSchema, release, 'release')), keys);
}

/** The hash a directive names its release by: hex sha256 of the canonical bytes of `signed`. */
export function releaseSha256(release: { readonly signed: unknown }): string {
  return sha256Hex(canonicalBytes(release.signed));
}
