/**
 * Trust metadata: the chain of signed root documents and the public halves of the signing keys.
 */
import { EdgefleetError } from '@edgefleet/protocol';
import { and, asc, desc, eq, gt, sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { mapSqlErrors, SQLSTATE } from './errors.js';
import {
  signingKeys,
  trustRoots,
  type NewSigningKey,
  type SigningKey,
  type SigningRole,
  type TrustRoot,
} from './schema.js';

// --- Roots ---------------------------------------------------------------------------------------

/**
 * Append root version N+1 (or 1 for the first). Any other version is EF_ROOT_VERSION_INVALID, as on
 * the device; a concurrent append of the same version is EF_CONFLICT. Checking the signatures is the
 * caller's job.
 */
export async function appendTrustRoot(
  db: Database,
  root: { version: number; envelope: string; createdAt?: Date },
): Promise<TrustRoot> {
  const latest = await latestTrustRoot(db);
  const expected = (latest?.version ?? 0) + 1;
  if (root.version !== expected) {
    throw new EdgefleetError(
      'EF_ROOT_VERSION_INVALID',
      `The next root must have version ${expected}, not ${root.version}.`,
      { details: { expected, got: root.version } },
    );
  }
  const [row] = await mapSqlErrors(() => db.insert(trustRoots).values(root).returning(), {
    [SQLSTATE.uniqueViolation]: {
      code: 'EF_CONFLICT',
      message: `Root version ${root.version} was stored concurrently.`,
      details: { version: root.version },
    },
  });
  return row!;
}

export async function getTrustRoot(db: Database, version: number): Promise<TrustRoot | undefined> {
  const [row] = await db.select().from(trustRoots).where(eq(trustRoots.version, version));
  return row;
}

export async function latestTrustRoot(db: Database): Promise<TrustRoot | undefined> {
  const [row] = await db.select().from(trustRoots).orderBy(desc(trustRoots.version)).limit(1);
  return row;
}

/** Roots newer than `afterVersion` (default: all), oldest first: the chain a device walks. */
export async function listTrustRoots(db: Database, afterVersion = 0): Promise<TrustRoot[]> {
  return db
    .select()
    .from(trustRoots)
    .where(gt(trustRoots.version, afterVersion))
    .orderBy(asc(trustRoots.version));
}

// --- Signing keys --------------------------------------------------------------------------------

/** Record a signing key's public half. An existing keyid is EF_CONFLICT. */
export async function addSigningKey(db: Database, key: NewSigningKey): Promise<SigningKey> {
  const [row] = await mapSqlErrors(() => db.insert(signingKeys).values(key).returning(), {
    [SQLSTATE.uniqueViolation]: {
      code: 'EF_CONFLICT',
      message: `Signing key ${key.keyid} is already recorded.`,
      details: { keyid: key.keyid },
    },
  });
  return row!;
}

export async function getSigningKey(db: Database, keyid: string): Promise<SigningKey | undefined> {
  const [row] = await db.select().from(signingKeys).where(eq(signingKeys.keyid, keyid));
  return row;
}

/** Signing keys, oldest first; by default only active ones, optionally of one role. */
export async function listSigningKeys(
  db: Database,
  options: { role?: SigningRole; includeRetired?: boolean } = {},
): Promise<SigningKey[]> {
  return db
    .select()
    .from(signingKeys)
    .where(
      and(
        options.role === undefined ? undefined : eq(signingKeys.role, options.role),
        options.includeRetired === true ? undefined : eq(signingKeys.active, true),
      ),
    )
    .orderBy(asc(signingKeys.createdAt), asc(signingKeys.keyid));
}

/** Stop using a key (after a rotation). Idempotent; EF_NOT_FOUND for an unknown keyid. */
export async function retireSigningKey(
  db: Database,
  keyid: string,
  at: Date = new Date(),
): Promise<SigningKey> {
  const [row] = await db
    .update(signingKeys)
    .set({
      active: false,
      retiredAt: sql`coalesce(${signingKeys.retiredAt}, ${sql.param(at, signingKeys.retiredAt)})`,
    })
    .where(eq(signingKeys.keyid, keyid))
    .returning();
  if (row === undefined) {
    throw new EdgefleetError('EF_NOT_FOUND', `No signing key ${keyid}.`, { details: { keyid } });
  }
  return row;
}
