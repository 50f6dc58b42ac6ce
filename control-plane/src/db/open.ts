/**
 * Opening the database: the one place that picks a driver (ARCHITECTURE §2).
 *
 * - `databaseUrl` set: PostgreSQL through postgres.js (a connection pool).
 * - otherwise PGlite, the embedded default, stored in `<dataDir>/pgdata`, or in memory when `dataDir`
 *   is undefined (tests).
 *
 * Either way the schema migrations in `control-plane/drizzle/` are applied before the database is
 * handed out; applying them again is a no-op.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { EdgefleetError } from '@edgefleet/protocol';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Logger } from 'pino';
import type { Database } from './database.js';
import * as schema from './schema.js';

/**
 * The generated migrations. `src/db/` and `dist/db/` sit at the same depth in the package, so the
 * same relative path works from the TypeScript sources (tests) and from the build.
 */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle/', import.meta.url));

/** Session-level advisory lock key that serialises migrations between control-plane replicas. */
const MIGRATION_LOCK_KEY = 0x45_46_4d_49; // 'EFMI'

export type DatabaseKind = 'pglite' | 'postgres';

/** The logger calls the database layer makes (a pino logger fits). */
export type DatabaseLogger = Pick<Logger, 'debug' | 'info'>;

export interface OpenDatabaseOptions {
  /** Data dir of the control plane; PGlite keeps its files in `<dataDir>/pgdata`. Unused with a URL. */
  dataDir?: string;
  /** `postgres://...`: use PostgreSQL instead of PGlite. */
  databaseUrl?: string;
  logger?: DatabaseLogger;
  /** PostgreSQL pool size. Default 10. */
  maxConnections?: number;
  /** Seconds to wait for a PostgreSQL connection before giving up. Default 10. */
  connectTimeoutSeconds?: number;
}

export interface OpenedDatabase {
  db: Database;
  kind: DatabaseKind;
  /** Apply any migrations not yet applied (done once by `openDatabase`; a no-op when up to date). */
  migrate(): Promise<void>;
  /** Close the connection(s). Safe to call more than once. */
  close(): Promise<void>;
  /**
   * PostgreSQL only (undefined with PGlite, where one process owns the database): try to take the
   * session-level advisory lock `key` on a connection of its own. Resolves to the held lock, or to
   * undefined when another session holds it.
   */
  tryLock?: (key: number) => Promise<SessionLock | undefined>;
}

/** A session-level advisory lock held on a dedicated PostgreSQL connection. */
export interface SessionLock {
  /**
   * Whether the lock is still held. False once its connection was lost: the server then dropped the
   * lock with the session (a reconnected session does not hold it).
   */
  held(): Promise<boolean>;
  /** Unlock and close the connection. Safe to call more than once. */
  release(): Promise<void>;
}

/** Data dirs with a PGlite instance open in this process: two instances on one dir corrupt it. */
const openPgliteDirs = new Set<string>();

/** Open the database chosen by `options` and bring its schema up to date. */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<OpenedDatabase> {
  return options.databaseUrl === undefined
    ? openPglite(options)
    : openPostgres(options.databaseUrl, options);
}

async function openPglite(options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const dataDir =
    options.dataDir === undefined ? undefined : join(resolve(options.dataDir), 'pgdata');
  if (dataDir !== undefined) {
    if (openPgliteDirs.has(dataDir)) {
      throw new EdgefleetError('EF_CONFLICT', `The database in ${dataDir} is already open.`, {
        details: { dataDir },
      });
    }
    openPgliteDirs.add(dataDir);
  }
  let client: PGlite | undefined;
  try {
    if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
    client = await PGlite.create(dataDir === undefined ? {} : { dataDir });
  } catch (err) {
    if (dataDir !== undefined) openPgliteDirs.delete(dataDir);
    throw new EdgefleetError(
      'EF_DATABASE_UNAVAILABLE',
      `Cannot open the embedded database in ${dataDir ?? 'memory'}: ${messageOf(err)}`,
      { details: { reason: 'database_unavailable', kind: 'pglite' }, cause: err },
    );
  }
  const pglite = client;
  const db = drizzlePglite({ client: pglite, schema });
  let closed = false;
  const opened: OpenedDatabase = {
    db,
    kind: 'pglite',
    async migrate() {
      await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER }).catch((err: unknown) => {
        throw migrationError(err);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await pglite.close();
      } finally {
        if (dataDir !== undefined) openPgliteDirs.delete(dataDir);
      }
    },
  };
  try {
    await opened.migrate();
  } catch (err) {
    await opened.close().catch(() => undefined);
    throw err;
  }
  options.logger?.info({ kind: 'pglite', dataDir: dataDir ?? ':memory:' }, 'database ready');
  return opened;
}

async function openPostgres(url: string, options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const connectTimeout = options.connectTimeoutSeconds ?? 10;
  const onnotice = (notice: postgres.Notice): void => {
    options.logger?.debug({ notice: notice.message }, 'postgres notice');
  };
  const where = describeUrl(url);
  const migrate = () => migratePostgresLocked(url, where, connectTimeout, onnotice);
  await migrate();

  const client = postgres(url, {
    max: options.maxConnections ?? 10,
    connect_timeout: connectTimeout,
    onnotice,
  });
  const db = drizzlePostgres({ client, schema });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await client.end({ timeout: 5 });
  };
  try {
    await db.execute(sql`select 1`);
  } catch (err) {
    await close();
    throw unreachable(where, err);
  }
  options.logger?.info({ kind: 'postgres', at: where }, 'database ready');
  const tryLock = (key: number) => tryAdvisoryLock(url, key, connectTimeout, onnotice);
  return { db, kind: 'postgres', migrate, close, tryLock };
}

/**
 * `pg_try_advisory_lock(key)` on a client of its own (one connection, never recycled): a pooled or
 * reserved connection can be closed by the pool's `max_lifetime` and silently reopened, which would
 * drop the lock without anyone noticing.
 */
async function tryAdvisoryLock(
  url: string,
  key: number,
  connectTimeout: number,
  onnotice: (notice: postgres.Notice) => void,
): Promise<SessionLock | undefined> {
  let connectionLost = false;
  const conn = postgres(url, {
    max: 1,
    connect_timeout: connectTimeout,
    // 0 = never: the connection must live as long as the lock.
    idle_timeout: 0,
    max_lifetime: 0,
    onnotice,
    onclose: () => {
      connectionLost = true;
    },
  });
  let ended = false;
  const end = async (): Promise<void> => {
    if (ended) return;
    ended = true;
    await conn.end({ timeout: 5 });
  };
  try {
    const [row] = await conn<
      { locked: boolean }[]
    >`select pg_try_advisory_lock(${key}::bigint) as locked`;
    if (row?.locked !== true) {
      await end();
      return undefined;
    }
  } catch (err) {
    await end().catch(() => undefined);
    throw err;
  }
  return {
    async held() {
      if (connectionLost || ended) return false;
      try {
        // A one-argument (bigint) advisory lock shows as classid = high half, objid = low half,
        // objsubid = 1 in pg_locks.
        const [row] = await conn<{ held: boolean }[]>`
          select exists (
            select 1 from pg_locks
            where locktype = 'advisory' and granted and pid = pg_backend_pid()
              and objsubid = 1
              and ((classid::bigint << 32) | objid::bigint) = ${key}::bigint
          ) as held`;
        return row?.held === true && !connectionLost;
      } catch {
        return false;
      }
    },
    async release() {
      if (ended) return;
      if (!connectionLost) {
        await conn`select pg_advisory_unlock(${key}::bigint)`.catch(() => undefined);
      }
      await end();
    },
  };
}

/**
 * Apply the migrations over one dedicated connection that holds a session advisory lock, so replicas
 * starting together apply each migration once. Connecting is also the reachability check.
 */
async function migratePostgresLocked(
  url: string,
  where: string,
  connectTimeout: number,
  onnotice: (notice: postgres.Notice) => void,
): Promise<void> {
  const conn = postgres(url, { max: 1, connect_timeout: connectTimeout, onnotice });
  try {
    try {
      await conn`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    } catch (err) {
      throw unreachable(where, err);
    }
    try {
      await migratePostgres(drizzlePostgres({ client: conn, schema }), {
        migrationsFolder: MIGRATIONS_FOLDER,
      });
    } catch (err) {
      throw migrationError(err);
    } finally {
      await conn`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => undefined);
    }
  } finally {
    await conn.end({ timeout: 5 });
  }
}

function unreachable(where: string, err: unknown): EdgefleetError {
  return new EdgefleetError(
    'EF_DATABASE_UNAVAILABLE',
    `Cannot connect to PostgreSQL at ${where}: ${messageOf(err)}`,
    { details: { reason: 'database_unreachable', kind: 'postgres', at: where }, cause: err },
  );
}

function migrationError(err: unknown): EdgefleetError {
  return new EdgefleetError(
    'EF_DATABASE_UNAVAILABLE',
    `Applying the database migrations in ${MIGRATIONS_FOLDER} failed: ${messageOf(err)}`,
    { details: { reason: 'migration_failed' }, cause: err },
  );
}

/** `host:port/database` of a connection URL, without credentials, for messages and logs. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port === '' ? '5432' : u.port}${u.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
    return typeof code === 'string' && !err.message.includes(code)
      ? `${err.message} [${code}]${cause}`
      : `${err.message}${cause}`;
  }
  return String(err);
}
