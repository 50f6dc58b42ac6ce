/**
 * A batch of rows as one bound parameter: `jsonb_to_recordset($1::jsonb) as r(col type, ...)`.
 *
 * A multi-row `values (...), (...)` statement binds every column of every row as its own parameter
 * (a 500-row batch of device windows is ~6,500 of them); building, binding and parsing those costs
 * more than the rows themselves, above all on PGlite. One JSON document per statement costs one
 * `JSON.stringify` and one parse on the server, on PGlite and PostgreSQL alike. The document is bound
 * as `jsonb`, not `json`: a `json` document is parsed once to check it, again by `json_to_recordset`,
 * and each `jsonb` column (the sketches, most of the bytes) a third time, while `jsonb_to_recordset`
 * hands out the already parsed values (on PGlite a fifth less time for a batch of device windows,
 * see bench/README.md). It also replaces
 * long `(a, b, c) in ((...), (...))` lists, whose expression trees overflow PGlite's stack with a
 * few hundred keys.
 */
import { getTableColumns, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core';

/** `col type, ...`: the column definition list of `jsonb_to_recordset` for these columns. */
function definitions(columns: readonly AnyPgColumn[]): SQL {
  return sql.join(
    columns.map((c) => sql`${sql.identifier(c.name)} ${sql.raw(c.getSQLType())}`),
    sql`, `,
  );
}

/** One JSON object per row, keyed by column name (Dates become ISO strings, as `timestamptz` reads). */
function document(columns: readonly AnyPgColumn[], rows: readonly (readonly unknown[])[]): string {
  return JSON.stringify(
    rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i] ?? null]))),
  );
}

/**
 * `select r.c1, r.c2, ... from jsonb_to_recordset(...) as r(...)` over every column of `table`, in
 * the table's column order (the order drizzle's `insert(table).select(...)` inserts in). Each row
 * must give every column: a missing one would be inserted as null, not as its default.
 */
export function selectRows<T extends PgTable>(
  table: T,
  rows: readonly { readonly [K in keyof T['$inferSelect']]: T['$inferSelect'][K] }[],
): SQL {
  const entries = Object.entries(getTableColumns(table)) as [string, AnyPgColumn][];
  const columns = entries.map(([, c]) => c);
  const values = rows.map((r) => entries.map(([key]) => (r as Record<string, unknown>)[key]));
  return sql`select ${sql.join(
    columns.map((c) => sql`r.${sql.identifier(c.name)}`),
    sql`, `,
  )} from jsonb_to_recordset(${document(columns, values)}::jsonb) as r(${definitions(columns)})`;
}

/**
 * `(c1, c2, ...) in (select ... from jsonb_to_recordset(...))`: the rows of a table whose key is one
 * of `keys` (each key: the values of `columns`, in order).
 */
export function keyIn(columns: readonly AnyPgColumn[], keys: readonly (readonly unknown[])[]): SQL {
  return sql`(${sql.join([...columns], sql`, `)}) in (select ${sql.join(
    columns.map((c) => sql`k.${sql.identifier(c.name)}`),
    sql`, `,
  )} from jsonb_to_recordset(${document(columns, keys)}::jsonb) as k(${definitions(columns)}))`;
}

/**
 * `jsonb_to_recordset(...) as alias`, for joins: `columns` are names and SQL types
 * of the document's fields, `rows` their values in that order.
 */
export function recordset(
  alias: string,
  columns: readonly (readonly [name: string, type: string])[],
  rows: readonly (readonly unknown[])[],
): SQL {
  const doc = JSON.stringify(
    rows.map((row) => Object.fromEntries(columns.map(([n], i) => [n, row[i] ?? null]))),
  );
  return sql`jsonb_to_recordset(${doc}::jsonb) as ${sql.identifier(alias)}(${sql.join(
    columns.map(([n, t]) => sql`${sql.identifier(n)} ${sql.raw(t)}`),
    sql`, `,
  )})`;
}
