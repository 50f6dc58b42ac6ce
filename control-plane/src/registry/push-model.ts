/**
 * Pushing a model version (ARCHITECTURE §5 step 1): the ONNX file is stored content-addressed and
 * inspected with onnxruntime; an optional reference dataset (CSV with a header row, a JSON array of
 * row objects, or JSON lines) becomes the version's reference profile, stored as an artifact.
 */
import { text } from 'node:stream/consumers';
import {
  checkFeatureSpec,
  EdgefleetError,
  encodeProfile,
  parseCsv,
  profileFromRows,
  type FeatureSpec,
} from '@edgefleet/protocol';
import { recordArtifact } from '../db/artifacts.js';
import { createModelVersion } from '../db/models.js';
import type { ModelVersion, ModelVersionMetadata } from '../db/schema.js';
import type { Database } from '../db/database.js';
import type { ArtifactStore, StoredArtifact } from './artifact-store.js';
import { defaultFeatureSpec } from './default-feature-spec.js';
import { inspectModel, type ModelInspection } from './inspect-model.js';

/** Largest reference dataset parsed in memory. */
export const MAX_REFERENCE_BYTES = 256 * 1024 * 1024;

export type DataRows = Record<string, unknown>[];

/** Parse a reference dataset: CSV (header row), a JSON array of objects, or JSON lines. */
export function parseDataset(body: string, filename = ''): DataRows {
  const trimmed = body.trimStart();
  const bad = (why: string) =>
    new EdgefleetError(
      'EF_BAD_REQUEST',
      `the reference dataset ${filename || ''} cannot be read: ${why}`.replace('  ', ' '),
    );
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (e) {
      throw bad(`invalid JSON (${(e as Error).message})`);
    }
    if (
      !Array.isArray(parsed) ||
      !parsed.every((r) => typeof r === 'object' && r !== null && !Array.isArray(r))
    ) {
      throw bad('a JSON dataset must be an array of row objects');
    }
    return parsed as DataRows;
  }
  if (trimmed.startsWith('{')) {
    const rows: DataRows = [];
    for (const [i, line] of trimmed.split(/\r?\n/).entries()) {
      if (line.trim() === '') continue;
      try {
        const r = JSON.parse(line) as unknown;
        if (typeof r !== 'object' || r === null || Array.isArray(r))
          throw new Error('not an object');
        rows.push(r as Record<string, unknown>);
      } catch (e) {
        throw bad(`line ${i + 1}: ${(e as Error).message}`);
      }
    }
    return rows;
  }
  const csv = parseCsv(body);
  if (!csv.ok) throw bad(csv.message);
  return csv.value;
}

export interface PushModelInput {
  readonly name: string;
  readonly version: string;
  readonly model: StoredArtifact;
  readonly reference?: StoredArtifact & { filename: string };
  readonly featureSpec?: FeatureSpec;
  readonly metadata: ModelVersionMetadata;
  readonly createdBy: string | null;
}

export interface PushedModel {
  readonly version: ModelVersion;
  readonly inspection: ModelInspection;
  readonly featureSpec: FeatureSpec;
  readonly referenceRows: number;
}

/** Inspect, profile and record a model version whose files are already in the artifact store. */
export async function pushModelVersion(
  db: Database,
  store: ArtifactStore,
  input: PushModelInput,
): Promise<PushedModel> {
  const inspection = await inspectModel(store.path(input.model.sha256));
  let rows: DataRows = [];
  if (input.reference) {
    if (input.reference.length > MAX_REFERENCE_BYTES) {
      throw new EdgefleetError(
        'EF_TOO_LARGE',
        `the reference dataset is larger than ${MAX_REFERENCE_BYTES} bytes; sample it`,
      );
    }
    rows = parseDataset(await text(store.read(input.reference.sha256)), input.reference.filename);
    if (rows.length === 0)
      throw new EdgefleetError('EF_BAD_REQUEST', 'the reference dataset has no rows');
  }
  const header = rows.length > 0 ? Object.keys(rows[0]!) : [];
  const featureSpec = input.featureSpec ?? defaultFeatureSpec(inspection, header);
  const checked = checkFeatureSpec(featureSpec);
  if (!checked.ok) throw new EdgefleetError('EF_BAD_REQUEST', `feature spec: ${checked.message}`);
  for (const s of featureSpec.inputs) {
    if (!inspection.inputs.some((v) => v.name === s.input)) {
      throw new EdgefleetError(
        'EF_BAD_REQUEST',
        `feature spec names input "${s.input}", which the model does not have`,
      );
    }
  }
  for (const s of featureSpec.outputs) {
    if (!inspection.outputs.some((v) => v.name === s.output)) {
      throw new EdgefleetError(
        'EF_BAD_REQUEST',
        `feature spec names output "${s.output}", which the model does not have`,
      );
    }
  }
  await recordArtifact(db, {
    sha256: input.model.sha256,
    length: input.model.length,
    mediaType: 'application/onnx',
  });
  let referenceProfileSha256: string | null = null;
  if (rows.length > 0) {
    const profile = profileFromRows(rows, featureSpec);
    if (!profile.ok)
      throw new EdgefleetError('EF_BAD_REQUEST', `reference dataset: ${profile.message}`, {
        details: { ...profile.details },
      });
    const stored = await store.putBytes(
      new TextEncoder().encode(JSON.stringify(encodeProfile(profile.value))),
    );
    await recordArtifact(db, {
      sha256: stored.sha256,
      length: stored.length,
      mediaType: 'application/vnd.edgefleet.profile+json',
    });
    referenceProfileSha256 = stored.sha256;
  }
  const version = await createModelVersion(db, {
    modelName: input.name,
    version: input.version,
    artifactSha256: input.model.sha256,
    inspection: inspection as never,
    metadata: input.metadata,
    featureSpec: featureSpec,
    referenceProfileSha256,
    createdBy: input.createdBy,
  });
  return { version, inspection, featureSpec, referenceRows: rows.length };
}
