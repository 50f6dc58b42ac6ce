/**
 * Drift data the API reads and writes: monitor configuration per model, drift events, retraining
 * requests, and the per-window metric series with each monitor's current status
 * (`GET /v1/drift`). The evaluator writes events, requests and series; this module only reads them
 * (and flips a retraining request to `delivered`).
 */
import { EdgefleetError } from '@edgefleet/protocol';
import { and, asc, desc, eq, gte, inArray, lt, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../db/database.js';
import { mapSqlErrors, SQLSTATE } from '../db/errors.js';
import {
  driftEvents,
  driftMonitors,
  driftWindowResults,
  retrainingRequests,
  type DriftEvent,
  type DriftEventStatus,
  type JsonObject,
  type RetrainingRequest,
  type RetrainingRequestStatus,
  type WebhookDelivery,
} from '../db/schema.js';
import { MonitorConfigSchema, type MonitorConfig, type MonitorConfigInput } from './config.js';

// --- Monitor configuration -------------------------------------------------------------------------

/** The stored configuration of a model (defaults applied), or undefined when none is stored. */
export async function getMonitorConfig(
  db: Database,
  model: string,
): Promise<MonitorConfig | undefined> {
  const [row] = await db.select().from(driftMonitors).where(eq(driftMonitors.modelName, model));
  if (row === undefined) return undefined;
  const parsed = MonitorConfigSchema.safeParse(row.config);
  // Stored configurations were validated when written; one that no longer parses (an older
  // schema) falls back to the defaults rather than stopping the monitor.
  return parsed.success ? parsed.data : undefined;
}

/**
 * Validate and store a model's monitor configuration (`PUT /v1/models/{name}/monitor`), replacing
 * any previous one. EF_BAD_REQUEST on invalid input, EF_NOT_FOUND for an unknown model.
 */
export async function setMonitorConfig(
  db: Database,
  model: string,
  input: MonitorConfigInput,
  options: { updatedBy?: string; now?: Date } = {},
): Promise<MonitorConfig> {
  const parsed = MonitorConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new EdgefleetError('EF_BAD_REQUEST', z.prettifyError(parsed.error), {
      details: { model },
    });
  }
  const config = parsed.data as unknown as JsonObject;
  const at = options.now ?? new Date();
  await mapSqlErrors(
    () =>
      db
        .insert(driftMonitors)
        .values({ modelName: model, config, updatedBy: options.updatedBy ?? null, updatedAt: at })
        .onConflictDoUpdate({
          target: driftMonitors.modelName,
          set: { config, updatedBy: options.updatedBy ?? null, updatedAt: at },
        }),
    {
      [SQLSTATE.foreignKeyViolation]: {
        code: 'EF_NOT_FOUND',
        message: `No model ${model}.`,
        details: { model },
      },
    },
  );
  return parsed.data;
}

// --- Events and retraining requests ---------------------------------------------------------------

export interface ListDriftEventsOptions {
  readonly model?: string;
  readonly releaseId?: string;
  readonly cohort?: string;
  readonly status?: DriftEventStatus;
  /** Keyset paging: events with a smaller id (newest first). */
  readonly before?: number;
  /** Default 100, at most 1000. */
  readonly limit?: number;
}

/** Drift events, newest first. */
export async function listDriftEvents(
  db: Database,
  options: ListDriftEventsOptions = {},
): Promise<DriftEvent[]> {
  const t = driftEvents;
  const where: (SQL | undefined)[] = [
    options.model === undefined ? undefined : eq(t.modelName, options.model),
    options.releaseId === undefined ? undefined : eq(t.releaseId, options.releaseId),
    options.cohort === undefined ? undefined : eq(t.cohort, options.cohort),
    options.status === undefined ? undefined : eq(t.status, options.status),
    options.before === undefined ? undefined : lt(t.id, options.before),
  ];
  return db
    .select()
    .from(t)
    .where(and(...where))
    .orderBy(desc(t.id))
    .limit(Math.min(Math.max(options.limit ?? 100, 1), 1000));
}

export interface ListRetrainingRequestsOptions {
  readonly model?: string;
  readonly releaseId?: string;
  readonly status?: RetrainingRequestStatus;
  /** Keyset paging: requests created before this one (newest first). */
  readonly before?: Date;
  /** Default 100, at most 1000. */
  readonly limit?: number;
}

/** Retraining requests (`GET /v1/retraining-requests`), newest first. */
export async function listRetrainingRequests(
  db: Database,
  options: ListRetrainingRequestsOptions = {},
): Promise<RetrainingRequest[]> {
  const t = retrainingRequests;
  const where: (SQL | undefined)[] = [
    options.model === undefined ? undefined : eq(t.modelName, options.model),
    options.releaseId === undefined ? undefined : eq(t.releaseId, options.releaseId),
    options.status === undefined ? undefined : eq(t.status, options.status),
    options.before === undefined ? undefined : lt(t.createdAt, options.before),
  ];
  return db
    .select()
    .from(t)
    .where(and(...where))
    .orderBy(desc(t.createdAt), desc(t.id))
    .limit(Math.min(Math.max(options.limit ?? 100, 1), 1000));
}

export async function getRetrainingRequest(
  db: Database,
  id: string,
): Promise<RetrainingRequest | undefined> {
  const [row] = await db.select().from(retrainingRequests).where(eq(retrainingRequests.id, id));
  return row;
}

/**
 * Mark the retraining request a delivered webhook carried as `delivered` (wire this as the webhook
 * dispatcher's `onDelivered`). Other deliveries are ignored. True if a request changed.
 */
export async function markRetrainingRequestDelivered(
  db: Database,
  delivery: Pick<WebhookDelivery, 'event' | 'payload'>,
): Promise<boolean> {
  if (delivery.event !== 'retraining.requested') return false;
  const data = delivery.payload.data as { id?: unknown } | undefined;
  if (typeof data?.id !== 'string') return false;
  const rows = await db
    .update(retrainingRequests)
    .set({ status: 'delivered' })
    .where(and(eq(retrainingRequests.id, data.id), eq(retrainingRequests.status, 'pending')))
    .returning({ id: retrainingRequests.id });
  return rows.length > 0;
}

/**
 * Retention of the drift history: delete window results (the metric series) that started before
 * `before`, and resolved events (with their retraining requests' link cleared) resolved before it.
 * Open events and retraining requests are kept.
 */
export async function pruneDriftHistory(
  db: Database,
  before: Date,
): Promise<{ windowResults: number; events: number }> {
  return db.transaction(async (tx) => {
    const results = await tx
      .delete(driftWindowResults)
      .where(lt(driftWindowResults.windowStart, before))
      .returning({ releaseId: driftWindowResults.releaseId });
    const old = and(eq(driftEvents.status, 'resolved'), lt(driftEvents.resolvedAt, before));
    const ids = (await tx.select({ id: driftEvents.id }).from(driftEvents).where(old)).map(
      (r) => r.id,
    );
    if (ids.length > 0) {
      await tx
        .update(retrainingRequests)
        .set({ driftEventId: null })
        .where(inArray(retrainingRequests.driftEventId, ids));
      await tx.delete(driftEvents).where(inArray(driftEvents.id, ids));
    }
    return { windowResults: results.length, events: ids.length };
  });
}

// --- Series and status (GET /v1/drift) -----------------------------------------------------------

export interface DriftQuery {
  readonly model: string;
  readonly releaseId?: string;
  readonly cohort?: string;
  /** Windows starting in [from, to). */
  readonly from: Date;
  readonly to: Date;
}

/** One point of a feature's metric series. */
export interface DriftPoint {
  readonly windowStart: string;
  /** null when the window had too little data to compute it. */
  readonly value: number | null;
  readonly threshold: number;
  readonly status: string;
  readonly n: number;
}

export interface DriftSeries {
  readonly releaseId: string;
  readonly cohort: string;
  readonly featureSet: string;
  readonly feature: string;
  readonly metric: string;
  readonly points: DriftPoint[];
}

/** The current status of one monitor (model release x cohort x feature set). */
export interface MonitorStatus {
  readonly releaseId: string;
  readonly cohort: string;
  readonly featureSet: string;
  /** `firing` while an event is open; else how the last evaluated window read. */
  readonly status: 'firing' | 'ok' | 'over_threshold' | 'insufficient_data';
  readonly lastWindowStart: string;
  readonly openEvent: DriftEvent | null;
}

export interface DriftOverview {
  readonly model: string;
  readonly from: string;
  readonly to: string;
  readonly series: DriftSeries[];
  readonly monitors: MonitorStatus[];
}

/** The stored shape of one feature in a window result (see the evaluator). */
interface StoredFeature {
  feature: string;
  metric: string;
  value: number | null;
  threshold: number;
  status: string;
  n: number;
}

function verdictStatus(verdict: string): MonitorStatus['status'] {
  if (verdict === 'over') return 'over_threshold';
  if (verdict === 'insufficient') return 'insufficient_data';
  return 'ok';
}

/** Per-feature metric series over a time range and each monitor's current status. */
export async function driftOverview(db: Database, query: DriftQuery): Promise<DriftOverview> {
  const t = driftWindowResults;
  const rows = await db
    .select()
    .from(t)
    .where(
      and(
        eq(t.modelName, query.model),
        query.releaseId === undefined ? undefined : eq(t.releaseId, query.releaseId),
        query.cohort === undefined ? undefined : eq(t.cohort, query.cohort),
        gte(t.windowStart, query.from),
        lt(t.windowStart, query.to),
      ),
    )
    .orderBy(asc(t.releaseId), asc(t.cohort), asc(t.featureSet), asc(t.windowStart));
  const series = new Map<string, DriftSeries>();
  const latest = new Map<string, (typeof rows)[number]>();
  for (const row of rows) {
    const monitorKey = `${row.releaseId}\u0000${row.cohort}\u0000${row.featureSet}`;
    latest.set(monitorKey, row);
    for (const f of row.features as unknown as StoredFeature[]) {
      const key = `${monitorKey}\u0000${f.feature}`;
      let s = series.get(key);
      if (s === undefined) {
        s = {
          releaseId: row.releaseId,
          cohort: row.cohort,
          featureSet: row.featureSet,
          feature: f.feature,
          metric: f.metric,
          points: [],
        };
        series.set(key, s);
      }
      s.points.push({
        windowStart: row.windowStart.toISOString(),
        value: f.value,
        threshold: f.threshold,
        status: f.status,
        n: f.n,
      });
    }
  }
  const open = await listDriftEvents(db, {
    model: query.model,
    releaseId: query.releaseId,
    cohort: query.cohort,
    status: 'firing',
    limit: 1000,
  });
  const openByKey = new Map(
    open.map((e) => [`${e.releaseId}\u0000${e.cohort}\u0000${e.featureSet}`, e]),
  );
  const monitors = [...latest].map(([key, row]): MonitorStatus => {
    const event = openByKey.get(key) ?? null;
    return {
      releaseId: row.releaseId,
      cohort: row.cohort,
      featureSet: row.featureSet,
      status: event === null ? verdictStatus(row.verdict) : 'firing',
      lastWindowStart: row.windowStart.toISOString(),
      openEvent: event,
    };
  });
  // Events still open whose monitors evaluated nothing in the range are current status too.
  for (const [key, event] of openByKey) {
    if (latest.has(key)) continue;
    monitors.push({
      releaseId: event.releaseId,
      cohort: event.cohort,
      featureSet: event.featureSet,
      status: 'firing',
      lastWindowStart: event.lastWindowStart.toISOString(),
      openEvent: event,
    });
  }
  return {
    model: query.model,
    from: query.from.toISOString(),
    to: query.to.toISOString(),
    series: [...series.values()],
    monitors,
  };
}
