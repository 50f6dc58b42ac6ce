/**
 * The output features of each release (predicted class, top score, regressor values), named as its
 * feature spec names them. Wave health reads only these from the per-device windows, so that table
 * stores only these (see `write-batch.ts`), and the rollout gates compare them between releases.
 *
 * A release never changes once signed, so a release's names are read from its envelope once and kept
 * (a bounded map; an unknown release id is not remembered, as it may be created later).
 */
import { FeatureSpecSchema, type ReleaseDocument } from '@edgefleet/protocol';
import type { Database } from '../db/database.js';
import { getRelease } from '../db/releases.js';
import { outputFeatureNames } from './rollups.js';

/** The output feature names in a stored release envelope; none when it has no (valid) spec. */
function outputsOf(envelope: string): string[] {
  let signed: Partial<ReleaseDocument> | undefined;
  try {
    signed = (JSON.parse(envelope) as { signed?: Partial<ReleaseDocument> }).signed;
  } catch {
    return [];
  }
  const spec = FeatureSpecSchema.safeParse(signed?.featureSpec);
  return spec.success ? outputFeatureNames(spec.data) : [];
}

export class ReleaseOutputs {
  private readonly known = new Map<string, readonly string[]>();

  constructor(
    private readonly db: Database,
    private readonly capacity = 1024,
  ) {}

  /** The release's output feature names; empty for an unknown release or one without a spec. */
  async of(releaseId: string): Promise<readonly string[]> {
    const cached = this.known.get(releaseId);
    if (cached !== undefined) return cached;
    const release = await getRelease(this.db, releaseId);
    if (release === undefined) return [];
    const names = outputsOf(release.envelope);
    if (this.known.size >= this.capacity) this.known.clear();
    this.known.set(releaseId, names);
    return names;
  }

  /** `of` for each id, as sets. */
  async sets(releaseIds: Iterable<string>): Promise<Map<string, ReadonlySet<string>>> {
    const out = new Map<string, ReadonlySet<string>>();
    for (const id of releaseIds) if (!out.has(id)) out.set(id, new Set(await this.of(id)));
    return out;
  }
}
