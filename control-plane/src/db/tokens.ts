/**
 * Credentials: device MQTT tokens, enrollment tokens and operator bearer tokens.
 *
 * No token is stored in clear. Enrollment and operator tokens are long random strings, so a plain
 * sha256 of the token (`hashToken`) is enough and lets a lookup use the unique index. Device tokens are
 * stored in Mosquitto's PBKDF2-SHA512 `$7$` form so the same hash can go into a Mosquitto password file;
 * checking one is the caller's job (it needs the salt from the hash).
 */
import { createHash } from 'node:crypto';
import { EdgefleetError } from '@edgefleet/protocol';
import { and, asc, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { mapSqlErrors, SQLSTATE } from './errors.js';
import {
  deviceTokens,
  enrollmentTokens,
  operatorTokens,
  type DeviceToken,
  type EnrollmentToken,
  type NewEnrollmentToken,
  type NewOperatorToken,
  type OperatorToken,
} from './schema.js';

/** sha256 (lower-case hex) of a high-entropy token, the form enrollment and operator tokens are kept in. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

// --- Device tokens -------------------------------------------------------------------------------

/** Store a new MQTT credential for a device (`tokenHash` in Mosquitto's `$7$` PBKDF2 form). */
export async function addDeviceToken(
  db: Database,
  deviceId: string,
  tokenHash: string,
  at: Date = new Date(),
): Promise<DeviceToken> {
  const [row] = await mapSqlErrors(
    () => db.insert(deviceTokens).values({ deviceId, tokenHash, createdAt: at }).returning(),
    {
      [SQLSTATE.foreignKeyViolation]: {
        code: 'EF_NOT_FOUND',
        message: `No device ${deviceId}.`,
        details: { deviceId },
      },
    },
  );
  return row!;
}

/** The device's credentials that are not revoked, newest first. */
export async function listActiveDeviceTokens(
  db: Database,
  deviceId: string,
): Promise<DeviceToken[]> {
  return db
    .select()
    .from(deviceTokens)
    .where(and(eq(deviceTokens.deviceId, deviceId), isNull(deviceTokens.revokedAt)))
    .orderBy(sql`${deviceTokens.id} desc`);
}

/** Revoke every live credential of a device; returns how many were revoked. */
export async function revokeDeviceTokens(
  db: Database,
  deviceId: string,
  at: Date = new Date(),
): Promise<number> {
  const rows = await db
    .update(deviceTokens)
    .set({ revokedAt: at })
    .where(and(eq(deviceTokens.deviceId, deviceId), isNull(deviceTokens.revokedAt)))
    .returning({ id: deviceTokens.id });
  return rows.length;
}

// --- Enrollment tokens ---------------------------------------------------------------------------

/** Store an enrollment token (its hash). A duplicate id or hash is EF_CONFLICT. */
export async function createEnrollmentToken(
  db: Database,
  token: NewEnrollmentToken,
): Promise<EnrollmentToken> {
  const [row] = await mapSqlErrors(() => db.insert(enrollmentTokens).values(token).returning(), {
    [SQLSTATE.uniqueViolation]: {
      code: 'EF_CONFLICT',
      message: `Enrollment token ${token.id} already exists.`,
      details: { id: token.id },
    },
    [SQLSTATE.checkViolation]: {
      code: 'EF_BAD_REQUEST',
      message: 'An enrollment token needs maxUses >= 1.',
    },
  });
  return row!;
}

export async function getEnrollmentToken(
  db: Database,
  id: string,
): Promise<EnrollmentToken | undefined> {
  const [row] = await db.select().from(enrollmentTokens).where(eq(enrollmentTokens.id, id));
  return row;
}

/** All enrollment tokens, newest first (hashes included: the API layer leaves them out). */
export async function listEnrollmentTokens(db: Database): Promise<EnrollmentToken[]> {
  return db
    .select()
    .from(enrollmentTokens)
    .orderBy(sql`${enrollmentTokens.createdAt} desc`, asc(enrollmentTokens.id));
}

/** Revoke an enrollment token; EF_NOT_FOUND if there is none with this id. Idempotent. */
export async function revokeEnrollmentToken(
  db: Database,
  id: string,
  at: Date = new Date(),
): Promise<EnrollmentToken> {
  const [row] = await db
    .update(enrollmentTokens)
    .set({
      revokedAt: sql`coalesce(${enrollmentTokens.revokedAt}, ${sql.param(at, enrollmentTokens.revokedAt)})`,
    })
    .where(eq(enrollmentTokens.id, id))
    .returning();
  if (row === undefined) {
    throw new EdgefleetError('EF_NOT_FOUND', `No enrollment token ${id}.`, { details: { id } });
  }
  return row;
}

/** Why an enrollment token could not be used. */
export type EnrollmentRefusal = 'unknown' | 'revoked' | 'expired' | 'exhausted';

export type ConsumeEnrollmentResult =
  { ok: true; token: EnrollmentToken } | { ok: false; reason: EnrollmentRefusal };

/**
 * Use an enrollment token once. The use is counted by a single conditional UPDATE, so concurrent
 * callers can never push `uses` past `maxUses` (PostgreSQL re-checks the WHERE clause on the row after
 * waiting for a concurrent updater; the table's CHECK constraint backs this up).
 */
export async function consumeEnrollmentToken(
  db: Database,
  tokenHash: string,
  now: Date = new Date(),
): Promise<ConsumeEnrollmentResult> {
  const [row] = await db
    .update(enrollmentTokens)
    .set({ uses: sql`${enrollmentTokens.uses} + 1` })
    .where(
      and(
        eq(enrollmentTokens.tokenHash, tokenHash),
        isNull(enrollmentTokens.revokedAt),
        gt(enrollmentTokens.expiresAt, now),
        lt(enrollmentTokens.uses, enrollmentTokens.maxUses),
      ),
    )
    .returning();
  if (row !== undefined) return { ok: true, token: row };

  const [current] = await db
    .select()
    .from(enrollmentTokens)
    .where(eq(enrollmentTokens.tokenHash, tokenHash));
  if (current === undefined) return { ok: false, reason: 'unknown' };
  if (current.revokedAt !== null) return { ok: false, reason: 'revoked' };
  if (current.expiresAt <= now) return { ok: false, reason: 'expired' };
  return { ok: false, reason: 'exhausted' };
}

// --- Operator tokens -----------------------------------------------------------------------------

/** Store an operator token (its hash). A duplicate id or hash is EF_CONFLICT. */
export async function createOperatorToken(
  db: Database,
  token: NewOperatorToken,
): Promise<OperatorToken> {
  const [row] = await mapSqlErrors(() => db.insert(operatorTokens).values(token).returning(), {
    [SQLSTATE.uniqueViolation]: {
      code: 'EF_CONFLICT',
      message: `Operator token ${token.id} already exists.`,
      details: { id: token.id },
    },
  });
  return row!;
}

/** The operator token with this hash if it is neither revoked nor expired at `now`. */
export async function findActiveOperatorToken(
  db: Database,
  tokenHash: string,
  now: Date = new Date(),
): Promise<OperatorToken | undefined> {
  const [row] = await db
    .select()
    .from(operatorTokens)
    .where(
      and(
        eq(operatorTokens.tokenHash, tokenHash),
        isNull(operatorTokens.revokedAt),
        or(isNull(operatorTokens.expiresAt), gt(operatorTokens.expiresAt, now)),
      ),
    );
  return row;
}

/** Note that a token was used (at most once a minute per token, to keep requests read-only). */
export async function markOperatorTokenUsed(
  db: Database,
  id: string,
  at: Date = new Date(),
): Promise<void> {
  const aMinuteAgo = new Date(at.getTime() - 60_000);
  await db
    .update(operatorTokens)
    .set({ lastUsedAt: at })
    .where(
      and(
        eq(operatorTokens.id, id),
        or(isNull(operatorTokens.lastUsedAt), lt(operatorTokens.lastUsedAt, aMinuteAgo)),
      ),
    );
}

/** All operator tokens, oldest first (hashes included: the API layer leaves them out). */
export async function listOperatorTokens(db: Database): Promise<OperatorToken[]> {
  return db
    .select()
    .from(operatorTokens)
    .orderBy(asc(operatorTokens.createdAt), asc(operatorTokens.id));
}

/** Revoke an operator token; EF_NOT_FOUND if there is none with this id. Idempotent. */
export async function revokeOperatorToken(
  db: Database,
  id: string,
  at: Date = new Date(),
): Promise<OperatorToken> {
  const [row] = await db
    .update(operatorTokens)
    .set({
      revokedAt: sql`coalesce(${operatorTokens.revokedAt}, ${sql.param(at, operatorTokens.revokedAt)})`,
    })
    .where(eq(operatorTokens.id, id))
    .returning();
  if (row === undefined) {
    throw new EdgefleetError('EF_NOT_FOUND', `No operator token ${id}.`, { details: { id } });
  }
  return row;
}
