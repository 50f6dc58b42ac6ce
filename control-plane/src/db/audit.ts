/**
 * The audit log: who did what to which resource, and how it ended (ARCHITECTURE §6: every change is
 * audited). Append-only; read newest first, paged by id.
 */
import { and, desc, eq, lt } from 'drizzle-orm';
import type { Database } from './database.js';
import { auditLog, type AuditEntry, type AuditOutcome, type JsonObject } from './schema.js';

export interface AuditRecord {
  actor: string;
  action: string;
  target?: string | null;
  outcome: AuditOutcome;
  details?: JsonObject;
  at?: Date;
}

/** Append one entry. */
export async function appendAudit(db: Database, record: AuditRecord): Promise<AuditEntry> {
  const [row] = await db.insert(auditLog).values(record).returning();
  return row!;
}

export interface ListAuditOptions {
  /** Only entries older than this id (the `nextBefore` of the previous page). */
  before?: number;
  /** Default 50, at most 500. */
  limit?: number;
  actor?: string;
  action?: string;
  target?: string;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Pass as `before` to get the next (older) page; undefined on the last page. */
  nextBefore: number | undefined;
}

/** A page of entries, newest first. */
export async function listAudit(db: Database, options: ListAuditOptions = {}): Promise<AuditPage> {
  const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
  // One extra row tells whether another page follows without a count query.
  const rows = await db
    .select()
    .from(auditLog)
    .where(
      and(
        options.before === undefined ? undefined : lt(auditLog.id, options.before),
        options.actor === undefined ? undefined : eq(auditLog.actor, options.actor),
        options.action === undefined ? undefined : eq(auditLog.action, options.action),
        options.target === undefined ? undefined : eq(auditLog.target, options.target),
      ),
    )
    .orderBy(desc(auditLog.id))
    .limit(limit + 1);
  const entries = rows.slice(0, limit);
  return {
    entries,
    nextBefore: rows.length > limit ? entries[entries.length - 1]?.id : undefined,
  };
}
