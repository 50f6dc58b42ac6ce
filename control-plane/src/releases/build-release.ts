/**
 * Building and signing a release document (ARCHITECTURE §3, §5 step 2): the model version's files
 * (model, reference profile, a health-check sample computed here by running the model), compat from the
 * inspection plus the request, the feature spec, the next release counter of the model, an expiry.
 *
 * The same function makes the "rollback" releases of automatic fleet rollback: a NEW release with a
 * higher counter that points at an older version's artifacts, so devices' anti-rollback stays intact.
 */
import {
  canonicalize,
  EdgefleetError,
  FeatureSpecSchema,
  isoTimestamp,
  releaseSha256,
  signRelease,
  type Compat,
  type ReleaseDocument,
} from '@edgefleet/protocol';
import { recordArtifact } from '../db/artifacts.js';
import type { Database } from '../db/database.js';
import { getModelVersion } from '../db/models.js';
import { createRelease } from '../db/releases.js';
import type { Release } from '../db/schema.js';
import type { Keyring } from '../keys/keyring.js';
import type { ArtifactStore } from '../registry/artifact-store.js';
import { buildHealthCheckSample } from '../registry/health-check-sample.js';
import type { ModelInspection } from '../registry/inspect-model.js';

export const MODEL_FILE = 'model.onnx';
export const REFERENCE_PROFILE_FILE = 'reference-profile.json';
export const HEALTH_CHECK_FILE = 'health-check.json';
export const DEFAULT_RELEASE_LIFETIME_MS = 90 * 86_400_000;
export const DEFAULT_TOLERANCE = { atol: 1e-4, rtol: 1e-3 } as const;

export interface BuildReleaseInput {
  readonly model: string;
  readonly version: string;
  readonly hardwareClasses?: readonly string[];
  readonly requiredEps?: readonly string[];
  readonly ort?: Compat['ort'];
  readonly lifetimeMs?: number;
  /** Health-check tolerances, or null to ship without a health check. */
  readonly healthCheck?: { atol: number; rtol: number } | null;
  readonly createdBy?: string | null;
}

export interface ReleaseDeps {
  readonly db: Database;
  readonly artifacts: ArtifactStore;
  readonly keyring: Keyring;
  readonly now: () => Date;
}

export async function buildRelease(deps: ReleaseDeps, input: BuildReleaseInput): Promise<Release> {
  const mv = await getModelVersion(deps.db, input.model, input.version);
  if (!mv) {
    throw new EdgefleetError(
      'EF_NOT_FOUND',
      `model ${input.model} has no version ${input.version}; push it first`,
    );
  }
  const inspection = mv.inspection as unknown as ModelInspection;
  const spec = FeatureSpecSchema.safeParse(mv.featureSpec ?? { inputs: [], outputs: [] });
  if (!spec.success) throw new EdgefleetError('EF_INTERNAL', 'stored feature spec is invalid');
  const modelStat = await deps.artifacts.stat(mv.artifactSha256);
  if (!modelStat)
    throw new EdgefleetError(
      'EF_INTERNAL',
      `artifact ${mv.artifactSha256} is missing from the store`,
    );

  const files: ReleaseDocument['files'] = {
    [MODEL_FILE]: { sha256: modelStat.sha256, length: modelStat.length },
  };
  let healthCheck: ReleaseDocument['healthCheck'] = null;
  const tolerance = input.healthCheck === undefined ? DEFAULT_TOLERANCE : input.healthCheck;
  if (tolerance !== null) {
    const sample = await buildHealthCheckSample(
      deps.artifacts.path(mv.artifactSha256),
      inspection,
      spec.data,
    );
    const stored = await deps.artifacts.putBytes(new TextEncoder().encode(JSON.stringify(sample)));
    await recordArtifact(deps.db, {
      sha256: stored.sha256,
      length: stored.length,
      mediaType: 'application/json',
    });
    files[HEALTH_CHECK_FILE] = { sha256: stored.sha256, length: stored.length };
    healthCheck = { sample: HEALTH_CHECK_FILE, atol: tolerance.atol, rtol: tolerance.rtol };
  }
  let referenceProfile: string | undefined;
  if (mv.referenceProfileSha256) {
    const ref = await deps.artifacts.stat(mv.referenceProfileSha256);
    if (ref) {
      files[REFERENCE_PROFILE_FILE] = { sha256: ref.sha256, length: ref.length };
      referenceProfile = REFERENCE_PROFILE_FILE;
    }
  }
  const compat: Compat = {
    hardwareClasses: [...(input.hardwareClasses ?? [])],
    requiredEps: [...(input.requiredEps ?? [])],
    ...(input.ort ? { ort: input.ort } : {}),
    ...(inspection.opset !== null ? { opset: inspection.opset } : {}),
  };
  const now = deps.now().getTime();
  const expires = now + (input.lifetimeMs ?? DEFAULT_RELEASE_LIFETIME_MS);
  const releaseKeys = deps.keyring.signingKeys('release');
  return createRelease(deps.db, {
    modelName: input.model,
    modelVersion: input.version,
    build: (releaseCounter) => {
      const doc: ReleaseDocument = {
        _type: 'release',
        releaseId: `${input.model}@${input.version}-r${releaseCounter}`,
        model: { name: input.model, version: input.version },
        releaseCounter,
        files,
        modelFile: MODEL_FILE,
        compat,
        featureSpec: spec.data,
        healthCheck,
        ...(referenceProfile ? { referenceProfile } : {}),
        createdAt: isoTimestamp(now),
        expires: isoTimestamp(expires),
      };
      const envelope = signRelease(doc, releaseKeys);
      return {
        releaseId: doc.releaseId,
        envelope: canonicalize(envelope),
        sha256: releaseSha256(envelope),
        createdBy: input.createdBy ?? null,
        expiresAt: new Date(expires),
      };
    },
  });
}
