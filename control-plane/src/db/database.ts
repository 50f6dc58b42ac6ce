/**
 * The one database type data code sees. Both drivers (PGlite and postgres.js) produce a `PgDatabase`
 * over the same schema; data functions take this supertype and never learn which driver they got
 * (STYLE.md, drizzle). A transaction handle (`db.transaction(async (tx) => ...)`) is a `Database` too,
 * so functions compose inside a caller's transaction.
 *
 * PGlite is a single connection: inside a transaction callback always use `tx`, never the outer `db`
 * (a query on the outer handle waits for the transaction to end, which waits for the query: deadlock).
 * Outside transactions, PGlite queues concurrent queries itself, so no other serialisation is needed.
 *
 * Use the query builder (`select`, `insert`, `$count`, ...): its results look the same on both drivers.
 * `db.execute` returns the driver's own result shape (an array on postgres.js, `{rows}` on PGlite).
 */
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type * as schema from './schema.js';

export type Schema = typeof schema;

/** The common supertype of the PGlite and PostgreSQL drizzle databases over the Edgefleet schema. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
