/**
 * A small key-value table for control-plane facts that fit no entity (bootstrap done, instance id).
 */
import { eq } from 'drizzle-orm';
import type { Database } from './database.js';
import { meta } from './schema.js';

export async function getMeta(db: Database, key: string): Promise<unknown> {
  const [row] = await db.select({ value: meta.value }).from(meta).where(eq(meta.key, key));
  return row?.value;
}

/** Set a value (JSON), replacing any previous one. */
export async function setMeta(
  db: Database,
  key: string,
  value: unknown,
  at: Date = new Date(),
): Promise<void> {
  await db
    .insert(meta)
    .values({ key, value, updatedAt: at })
    .onConflictDoUpdate({ target: meta.key, set: { value, updatedAt: at } });
}

/** Set a value only if the key is unset; true if this call set it (first writer wins). */
export async function setMetaIfAbsent(
  db: Database,
  key: string,
  value: unknown,
  at: Date = new Date(),
): Promise<boolean> {
  const rows = await db
    .insert(meta)
    .values({ key, value, updatedAt: at })
    .onConflictDoNothing()
    .returning({ key: meta.key });
  return rows.length > 0;
}
