/**
 * Signed releases. The releaseCounter is monotonic per model (ARCHITECTURE §3): it is handed out by
 * incrementing `models.last_release_counter` in a single UPDATE, whose row lock makes concurrent
 * callers queue; the unique index on (model, counter) backs this up.
 */
import { EdgefleetError } from '@edgefleet/protocol';
import { and, asc, desc, eq, lt, sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { mapSqlErrors, SQLSTATE } from './errors.js';
import { models, releases, type NewRelease, type Release } from './schema.js';

/**
 * Hand out the model's next release counter. Atomic: concurrent callers get distinct, increasing
 * values. A counter whose release is never stored is simply skipped (gaps are allowed, reuse is not).
 * Prefer `createRelease`, which allocates and stores in one transaction.
 */
export async function nextReleaseCounter(db: Database, modelName: string): Promise<number> {
  const [row] = await db
    .update(models)
    .set({ lastReleaseCounter: sql`${models.lastReleaseCounter} + 1` })
    .where(eq(models.name, modelName))
    .returning({ counter: models.lastReleaseCounter });
  if (row === undefined) {
    throw new EdgefleetError('EF_NOT_FOUND', `No model ${modelName}.`, {
      details: { model: modelName },
    });
  }
  return row.counter;
}

/** What the caller builds once it knows the counter: typically the signed release document. */
export type ReleaseBody = Omit<NewRelease, 'modelName' | 'modelVersion' | 'releaseCounter'>;

export interface CreateReleaseInput {
  modelName: string;
  modelVersion: string;
  /**
   * Build (sign) the release for the allocated counter. Runs inside the transaction that holds the
   * model's row lock, so keep it short: on PGlite every other query waits for it.
   */
  build(releaseCounter: number): ReleaseBody | Promise<ReleaseBody>;
}

/**
 * Allocate the next release counter and store the release built for it, in one transaction: if
 * building or storing fails, the counter is not spent. An existing releaseId is EF_CONFLICT; an unknown
 * model or version is EF_NOT_FOUND.
 */
export async function createRelease(db: Database, input: CreateReleaseInput): Promise<Release> {
  const where = { model: input.modelName, version: input.modelVersion };
  return mapSqlErrors(
    () =>
      db.transaction(async (tx) => {
        const releaseCounter = await nextReleaseCounter(tx, input.modelName);
        const body = await input.build(releaseCounter);
        const [row] = await tx
          .insert(releases)
          .values({
            ...body,
            modelName: input.modelName,
            modelVersion: input.modelVersion,
            releaseCounter,
          })
          .returning();
        return row!;
      }),
    {
      [SQLSTATE.uniqueViolation]: {
        code: 'EF_CONFLICT',
        message: 'A release with this id or counter already exists.',
        details: where,
      },
      [SQLSTATE.foreignKeyViolation]: {
        code: 'EF_NOT_FOUND',
        message: `No version ${input.modelVersion} of model ${input.modelName}.`,
        details: where,
      },
    },
  );
}

/**
 * Store a release whose counter the caller allocated with `nextReleaseCounter`. A duplicate releaseId
 * or counter is EF_CONFLICT; an unknown model version is EF_NOT_FOUND.
 */
export async function insertRelease(db: Database, release: NewRelease): Promise<Release> {
  const [row] = await mapSqlErrors(() => db.insert(releases).values(release).returning(), {
    [SQLSTATE.uniqueViolation]: {
      code: 'EF_CONFLICT',
      message: `Release ${release.releaseId} or counter ${release.releaseCounter} of ${release.modelName} already exists.`,
      details: { releaseId: release.releaseId, releaseCounter: release.releaseCounter },
    },
    [SQLSTATE.foreignKeyViolation]: {
      code: 'EF_NOT_FOUND',
      message: `No version ${release.modelVersion} of model ${release.modelName}.`,
      details: { model: release.modelName, version: release.modelVersion },
    },
  });
  return row!;
}

export async function getRelease(db: Database, releaseId: string): Promise<Release | undefined> {
  const [row] = await db.select().from(releases).where(eq(releases.releaseId, releaseId));
  return row;
}

/** The model's release with the highest counter. */
export async function latestRelease(db: Database, modelName: string): Promise<Release | undefined> {
  const [row] = await db
    .select()
    .from(releases)
    .where(eq(releases.modelName, modelName))
    .orderBy(desc(releases.releaseCounter))
    .limit(1);
  return row;
}

export interface ListReleasesOptions {
  /** Only this model's releases, newest (highest counter) first, pageable with `beforeCounter`. */
  modelName?: string;
  beforeCounter?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

/** Releases, newest first: by counter within one model, by creation time across models. */
export async function listReleases(
  db: Database,
  options: ListReleasesOptions = {},
): Promise<Release[]> {
  const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
  if (options.modelName === undefined) {
    return db
      .select()
      .from(releases)
      .orderBy(desc(releases.createdAt), asc(releases.releaseId))
      .limit(limit);
  }
  return db
    .select()
    .from(releases)
    .where(
      and(
        eq(releases.modelName, options.modelName),
        options.beforeCounter === undefined
          ? undefined
          : lt(releases.releaseCounter, options.beforeCounter),
      ),
    )
    .orderBy(desc(releases.releaseCounter))
    .limit(limit);
}
