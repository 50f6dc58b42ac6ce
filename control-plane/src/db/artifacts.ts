/**
 * Metadata of content-addressed artifacts. The bytes live in the artifact store on disk (or behind a
 * CDN); the database only knows that a sha256 exists, how long it is and what it holds.
 */
import { EdgefleetError } from '@edgefleet/protocol';
import { eq } from 'drizzle-orm';
import type { Database } from './database.js';
import { mapSqlErrors, SQLSTATE } from './errors.js';
import { artifacts, type Artifact, type NewArtifact } from './schema.js';

/**
 * Record an artifact. Recording the same sha256 again is a no-op that returns the stored row (content
 * addressing: same hash, same bytes); a different length for a known sha256 is EF_CONFLICT.
 */
export async function recordArtifact(db: Database, artifact: NewArtifact): Promise<Artifact> {
  const [inserted] = await mapSqlErrors(
    () => db.insert(artifacts).values(artifact).onConflictDoNothing().returning(),
    {
      [SQLSTATE.checkViolation]: {
        code: 'EF_BAD_REQUEST',
        message: 'An artifact needs a lower-case hex sha256 and a non-negative length.',
        details: { sha256: artifact.sha256 },
      },
    },
  );
  if (inserted !== undefined) return inserted;
  const existing = await getArtifact(db, artifact.sha256);
  if (existing?.length !== artifact.length) {
    throw new EdgefleetError(
      'EF_CONFLICT',
      `Artifact ${artifact.sha256} is already recorded with another length.`,
      { details: { sha256: artifact.sha256, length: existing?.length } },
    );
  }
  return existing;
}

export async function getArtifact(db: Database, sha256: string): Promise<Artifact | undefined> {
  const [row] = await db.select().from(artifacts).where(eq(artifacts.sha256, sha256));
  return row;
}
