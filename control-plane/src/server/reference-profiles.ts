/**
 * Reference profiles for drift evaluation, read from each release's signed files: the release names
 * its reference profile file, whose sha256 locates the artifact. Decoded once per release.
 */
import { text } from 'node:stream/consumers';
import { decodeProfile, type Profile, type ReleaseDocument } from '@edgefleet/protocol';
import type { Database } from '../db/database.js';
import { getRelease } from '../db/releases.js';
import type { ArtifactStore } from '../registry/artifact-store.js';

export function createReferenceProfiles(
  db: Database,
  artifacts: ArtifactStore,
): (releaseId: string) => Promise<Profile | undefined> {
  const cache = new Map<string, Profile | undefined>();
  return async function referenceProfile(releaseId: string): Promise<Profile | undefined> {
    if (cache.has(releaseId)) return cache.get(releaseId);
    const release = await getRelease(db, releaseId);
    if (!release) return undefined;
    const doc = (JSON.parse(release.envelope) as { signed: ReleaseDocument }).signed;
    const file = doc.referenceProfile === undefined ? undefined : doc.files[doc.referenceProfile];
    let profile: Profile | undefined;
    if (file) {
      const decoded = decodeProfile(JSON.parse(await text(artifacts.read(file.sha256))));
      profile = decoded.ok ? decoded.value : undefined;
    }
    cache.set(releaseId, profile);
    return profile;
  };
}
