/**
 * Writing one ingest batch, in one transaction:
 *
 * 1. drop messages of unknown or decommissioned devices;
 * 2. dedupe telemetry by (deviceId, seq) against `telemetry_seqs` (insert ... on conflict do nothing:
 *    the rows that come back are the new windows, so a re-sent window is merged exactly once, also
 *    across restarts and replicas);
 * 3. merge the new windows into `telemetry_device_windows` (device x release x window; counts,
 *    latency and only the release's output features, which is all wave health reads: the inputs'
 *    sketches would make this table ~20x larger for nothing) and
 *    `telemetry_aggregates` (release x cohort x window): new rows are inserted as they are, existing
 *    ones are locked (`for update`), merged in memory and written back. An aggregate row this process
 *    wrote last is not read back when it is unchanged since: its decoded totals come from the
 *    `AggregateCache` (see there for the version check that keeps replicas correct);
 * 4. upsert `device_health` from each device's latest window;
 * 5. last seen, presence and reported state of the devices (one statement each for the batch).
 *
 * Each step is one statement per 1000 rows whatever the batch size, each binding its rows as one
 * JSON document (see `recordset.ts`).
 */
import type { RandomSource } from '@edgefleet/protocol';
import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import type { Database } from '../db/database.js';
import {
  deviceHealth,
  devices,
  type JsonObject,
  telemetryAggregates,
  telemetryDeviceWindows,
  telemetrySeqs,
} from '../db/schema.js';
import type { AggregateCache, CachedAggregate } from './aggregate-cache.js';
import type { CohortOf } from './cohort.js';
import { keyIn, recordset, selectRows } from './recordset.js';
import { selectFeatures } from './rollups.js';
import type {
  DropReason,
  IngestItem,
  PresenceItem,
  StateItem,
  StatusItem,
  TelemetryItem,
} from './decode.js';
import {
  decodeStoredTotals,
  encodeSketches,
  mergeTotals,
  type StoredTotals,
  type TelemetryTotals,
} from './totals.js';

export interface BatchContext {
  /** Aggregation window length (ms); windows are aligned to multiples of it (epoch based). */
  readonly windowMs: number;
  readonly cohortOf: CohortOf;
  readonly random?: RandomSource;
  /** Commit time written to `updated_at` columns. */
  readonly now: Date;
  /** Decoded aggregate rows written before (updated once the batch commits). */
  readonly aggregateCache?: AggregateCache;
  /**
   * The features each release's device windows keep (its output features, `ReleaseOutputs`); a
   * release not in the map keeps none. Undefined: device windows keep the whole profile.
   */
  readonly deviceWindowFeatures?: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface BatchOutcome {
  /** New telemetry windows written. */
  readonly windows: number;
  readonly dropped: readonly { readonly item: IngestItem; readonly reason: DropReason }[];
  /** Sketches left out of a merge because they conflict with the stored ones. */
  readonly conflicts: number;
  /** Device-window and aggregate rows written. */
  readonly deviceWindowRows: number;
  readonly aggregateRows: number;
  /** Status and state messages of known devices, in arrival order, for callbacks after commit. */
  readonly statuses: readonly StatusItem[];
  readonly states: readonly StateItem[];
}

/** Rows per statement (bound as one JSON document: this only bounds the statement's size). */
const CHUNK = 1000;

function chunks<T>(xs: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

const excluded = (column: AnyPgColumn): SQL => sql`excluded.${sql.identifier(column.name)}`;

/** Start of the aggregation window a device window belongs to (the one its start falls in). */
export function alignWindow(startMs: number, windowMs: number): number {
  return Math.floor(startMs / windowMs) * windowMs;
}

function windowTotals(t: TelemetryItem): TelemetryTotals {
  return {
    inferences: t.msg.requests,
    errors: t.msg.errors,
    windowsMerged: 1,
    latency: t.latency,
    profile: t.profile,
    executionProvider: t.msg.executionProvider,
  };
}

interface Group<K> {
  readonly key: K;
  readonly id: string;
  totals: TelemetryTotals;
  /** The sketches' stored form when already at hand (a single window: as the device sent it). */
  wire: { profile: JsonObject | null; latency: JsonObject | null } | undefined;
}

const sketchesOf = (g: Group<unknown>) => g.wire ?? encodeSketches(g.totals);

/** How one table stores merged totals under a key. */
interface MergeTarget<K> {
  /** Insert the groups whose key is new; the ids of the rows inserted. */
  insertNew(tx: Database, groups: readonly Group<K>[]): Promise<Set<string>>;
  /** Lock and read the stored rows of these keys. */
  lockStored(tx: Database, keys: readonly K[]): Promise<{ id: string; stored: StoredTotals }[]>;
  /** Overwrite the rows of these groups with their merged totals. */
  writeMerged(tx: Database, groups: readonly Group<K>[]): Promise<void>;
}

/** Merge the groups into a table: insert what is new, merge what exists. Returns sketch conflicts. */
async function mergeInto<K>(
  tx: Database,
  target: MergeTarget<K>,
  groups: readonly Group<K>[],
  random: RandomSource | undefined,
): Promise<number> {
  if (groups.length === 0) return 0;
  const inserted = new Set<string>();
  for (const part of chunks(groups)) {
    for (const id of await target.insertNew(tx, part)) inserted.add(id);
  }
  const existing = groups.filter((g) => !inserted.has(g.id));
  if (existing.length === 0) return 0;
  const byId = new Map(existing.map((g) => [g.id, g]));
  let conflicts = 0;
  for (const part of chunks(existing)) {
    for (const { id, stored } of await target.lockStored(
      tx,
      part.map((g) => g.key),
    )) {
      const g = byId.get(id);
      if (g === undefined) continue;
      const decoded = decodeStoredTotals(stored, random);
      const merged = mergeTotals([decoded.totals, g.totals], random);
      g.totals = merged.totals;
      g.wire = undefined;
      conflicts += decoded.undecodable + merged.conflicts;
    }
    await target.writeMerged(tx, part);
  }
  return conflicts;
}

interface DeviceWindowKey {
  readonly deviceId: string;
  readonly releaseId: string;
  readonly windowStart: number;
  readonly cohort: string;
}

function deviceWindowTarget(ctx: BatchContext): MergeTarget<DeviceWindowKey> {
  const t = telemetryDeviceWindows;
  const idOf = (deviceId: string, releaseId: string, windowStart: number) =>
    `${deviceId}\u0000${releaseId}\u0000${windowStart}`;
  const rowOf = (g: Group<DeviceWindowKey>) => ({
    deviceId: g.key.deviceId,
    releaseId: g.key.releaseId,
    windowStart: new Date(g.key.windowStart),
    windowSeconds: ctx.windowMs / 1000,
    cohort: g.key.cohort,
    ...sketchesOf(g),
    inferences: g.totals.inferences,
    errors: g.totals.errors,
    windowsMerged: g.totals.windowsMerged,
    executionProvider: g.totals.executionProvider,
    updatedAt: ctx.now,
  });
  return {
    async insertNew(tx, groups) {
      const rows = await tx
        .insert(t)
        .select(selectRows(t, groups.map(rowOf)))
        .onConflictDoNothing()
        .returning({ deviceId: t.deviceId, releaseId: t.releaseId, windowStart: t.windowStart });
      return new Set(rows.map((r) => idOf(r.deviceId, r.releaseId, r.windowStart.getTime())));
    },
    async lockStored(tx, keys) {
      const rows = await tx
        .select()
        .from(t)
        .where(
          keyIn(
            [t.deviceId, t.releaseId, t.windowStart],
            keys.map((k) => [k.deviceId, k.releaseId, new Date(k.windowStart)]),
          ),
        )
        .for('update');
      return rows.map((r) => ({
        id: idOf(r.deviceId, r.releaseId, r.windowStart.getTime()),
        stored: r,
      }));
    },
    async writeMerged(tx, groups) {
      await tx
        .insert(t)
        .select(selectRows(t, groups.map(rowOf)))
        .onConflictDoUpdate({
          target: [t.deviceId, t.releaseId, t.windowStart],
          set: {
            cohort: excluded(t.cohort),
            profile: excluded(t.profile),
            latency: excluded(t.latency),
            inferences: excluded(t.inferences),
            errors: excluded(t.errors),
            windowsMerged: excluded(t.windowsMerged),
            executionProvider: excluded(t.executionProvider),
            updatedAt: excluded(t.updatedAt),
          },
        });
    },
  };
}

interface AggregateKey {
  readonly releaseId: string;
  readonly cohort: string;
  readonly windowStart: number;
}

const aggregateIdOf = (releaseId: string, cohort: string, windowStart: number) =>
  `${releaseId}\u0000${cohort}\u0000${windowStart}`;

interface AggregateTarget extends MergeTarget<AggregateKey> {
  /** Lock the stored rows of these keys, reading only their version (see `AggregateCache`). */
  lockVersions(
    tx: Database,
    keys: readonly AggregateKey[],
  ): Promise<Map<string, { windowsMerged: number; updatedAt: number }>>;
}

function aggregateTarget(ctx: BatchContext): AggregateTarget {
  const t = telemetryAggregates;
  const idOf = aggregateIdOf;
  const rowOf = (g: Group<AggregateKey>) => ({
    releaseId: g.key.releaseId,
    cohort: g.key.cohort,
    windowStart: new Date(g.key.windowStart),
    windowSeconds: ctx.windowMs / 1000,
    ...sketchesOf(g),
    inferences: g.totals.inferences,
    errors: g.totals.errors,
    windowsMerged: g.totals.windowsMerged,
    updatedAt: ctx.now,
  });
  const whereKeys = (keys: readonly AggregateKey[]) =>
    keyIn(
      [t.releaseId, t.cohort, t.windowStart],
      keys.map((k) => [k.releaseId, k.cohort, new Date(k.windowStart)]),
    );
  return {
    async lockVersions(tx, keys) {
      const rows = await tx
        .select({
          releaseId: t.releaseId,
          cohort: t.cohort,
          windowStart: t.windowStart,
          windowsMerged: t.windowsMerged,
          updatedAt: t.updatedAt,
        })
        .from(t)
        .where(whereKeys(keys))
        .for('update');
      return new Map(
        rows.map((r) => [
          idOf(r.releaseId, r.cohort, r.windowStart.getTime()),
          { windowsMerged: r.windowsMerged, updatedAt: r.updatedAt.getTime() },
        ]),
      );
    },
    async insertNew(tx, groups) {
      const rows = await tx
        .insert(t)
        .select(selectRows(t, groups.map(rowOf)))
        .onConflictDoNothing()
        .returning({ releaseId: t.releaseId, cohort: t.cohort, windowStart: t.windowStart });
      return new Set(rows.map((r) => idOf(r.releaseId, r.cohort, r.windowStart.getTime())));
    },
    async lockStored(tx, keys) {
      const rows = await tx.select().from(t).where(whereKeys(keys)).for('update');
      return rows.map((r) => ({
        id: idOf(r.releaseId, r.cohort, r.windowStart.getTime()),
        stored: r,
      }));
    },
    async writeMerged(tx, groups) {
      await tx
        .insert(t)
        .select(selectRows(t, groups.map(rowOf)))
        .onConflictDoUpdate({
          target: [t.releaseId, t.cohort, t.windowStart],
          set: {
            profile: excluded(t.profile),
            latency: excluded(t.latency),
            inferences: excluded(t.inferences),
            errors: excluded(t.errors),
            windowsMerged: excluded(t.windowsMerged),
            updatedAt: excluded(t.updatedAt),
          },
        });
    },
  };
}

/** Windows by key: the id (the key as one string) -> the key and its windows, in arrival order. */
function bucketWindows<K>(
  windows: readonly TelemetryItem[],
  keyOf: (w: TelemetryItem) => { key: K; id: string },
): Map<string, { key: K; items: TelemetryItem[] }> {
  const byId = new Map<string, { key: K; items: TelemetryItem[] }>();
  for (const w of windows) {
    const k = keyOf(w);
    const g = byId.get(k.id);
    if (g === undefined) byId.set(k.id, { key: k.key, items: [w] });
    else g.items.push(w);
  }
  return byId;
}

/**
 * The window with only the named features in its profile (decoded and wire form alike; null when
 * none is left), for the per-device table.
 */
export function onlyFeatures(w: TelemetryItem, names: ReadonlySet<string>): TelemetryItem {
  if (w.profile === null || w.msg.profile === null) return w;
  const kept = w.profile.names.filter((n) => names.has(n));
  if (kept.length === w.profile.names.length) return w;
  if (kept.length === 0) return { ...w, profile: null, msg: { ...w.msg, profile: null } };
  const wire = w.msg.profile;
  return {
    ...w,
    profile: selectFeatures(w.profile, kept),
    msg: {
      ...w.msg,
      profile: { ...wire, features: Object.fromEntries(kept.map((n) => [n, wire.features[n]!])) },
    },
  };
}

/** The windows of one key merged into a group (a single window keeps its wire form). */
function groupOf<K>(
  id: string,
  key: K,
  items: readonly TelemetryItem[],
  random: RandomSource | undefined,
): { group: Group<K>; conflicts: number } {
  const [only] = items;
  if (items.length === 1 && only !== undefined) {
    // The common case for device windows: nothing to merge, nothing to re-encode.
    const wire = {
      profile: only.msg.profile as unknown as JsonObject | null,
      latency: only.msg.latencyMs as unknown as JsonObject | null,
    };
    return { group: { id, key, totals: windowTotals(only), wire }, conflicts: 0 };
  }
  const merged = mergeTotals(items.map(windowTotals), random);
  return {
    group: { id, key, totals: merged.totals, wire: undefined },
    conflicts: merged.conflicts,
  };
}

/** Group windows by key, each group's totals merged. Returns the groups and sketch conflicts. */
function groupWindows<K>(
  windows: readonly TelemetryItem[],
  keyOf: (w: TelemetryItem) => { key: K; id: string },
  random: RandomSource | undefined,
): { groups: Group<K>[]; conflicts: number } {
  let conflicts = 0;
  const groups: Group<K>[] = [];
  for (const [id, g] of bucketWindows(windows, keyOf)) {
    const r = groupOf(id, g.key, g.items, random);
    conflicts += r.conflicts;
    groups.push(r.group);
  }
  return { groups, conflicts };
}

/**
 * Merge windows into `telemetry_aggregates`. A row cached at the version it has in the table (locked
 * first) gets the windows merged into the cached totals, in one merge; the others go the way of
 * `mergeInto` (insert the new rows, read and decode the existing ones). Returns the sketch conflicts
 * and the cache entries to set once the batch commits.
 */
async function mergeAggregates(
  tx: Database,
  ctx: BatchContext,
  buckets: ReadonlyMap<string, { key: AggregateKey; items: TelemetryItem[] }>,
): Promise<{ conflicts: number; rows: number; cached: [string, CachedAggregate][] }> {
  const target = aggregateTarget(ctx);
  const cache = ctx.aggregateCache;
  const now = ctx.now.getTime();
  const merged = new Map<string, Group<AggregateKey>>();
  let conflicts = 0;
  const mergeWith = (
    base: TelemetryTotals,
    id: string,
    key: AggregateKey,
    parts: TelemetryTotals[],
  ) => {
    const m = mergeTotals([base, ...parts], ctx.random);
    conflicts += m.conflicts;
    merged.set(id, { id, key, totals: m.totals, wire: undefined });
  };

  const unknown: string[] = [];
  const stale: string[] = [];
  const cachedIds = cache === undefined ? [] : [...buckets.keys()].filter((id) => cache.has(id));
  for (const id of buckets.keys()) if (cache?.has(id) !== true) unknown.push(id);
  if (cache !== undefined) {
    for (const part of chunks(cachedIds)) {
      const versions = await target.lockVersions(
        tx,
        part.map((id) => buckets.get(id)!.key),
      );
      for (const id of part) {
        const b = buckets.get(id)!;
        const entry = cache.get(id);
        const v = versions.get(id);
        if (v === undefined || entry === undefined) {
          // Gone (pruned): written again from scratch.
          cache.delete(id);
          unknown.push(id);
        } else if (v.windowsMerged !== entry.windowsMerged || v.updatedAt !== entry.updatedAt) {
          // Written by someone else since: read it back.
          cache.delete(id);
          stale.push(id);
        } else {
          mergeWith(entry.totals, id, b.key, b.items.map(windowTotals));
        }
      }
    }
  }

  // Not cached: insert the new rows as they are; the ones that exist are read back below.
  const own = new Map<string, Group<AggregateKey>>();
  for (const id of unknown) {
    const b = buckets.get(id)!;
    const g = groupOf(id, b.key, b.items, ctx.random);
    conflicts += g.conflicts;
    own.set(id, g.group);
  }
  const inserted = new Set<string>();
  for (const part of chunks([...own.values()])) {
    for (const id of await target.insertNew(tx, part)) inserted.add(id);
  }
  const toRead = [...stale, ...[...own.keys()].filter((id) => !inserted.has(id))];
  for (const part of chunks(toRead)) {
    const stored = await target.lockStored(
      tx,
      part.map((id) => buckets.get(id)!.key),
    );
    for (const { id, stored: row } of stored) {
      const b = buckets.get(id);
      if (b === undefined) continue;
      const decoded = decodeStoredTotals(row, ctx.random);
      conflicts += decoded.undecodable;
      const g = own.get(id);
      mergeWith(
        decoded.totals,
        id,
        b.key,
        g === undefined ? b.items.map(windowTotals) : [g.totals],
      );
    }
  }
  const rewrite = [...merged.values()];
  for (const part of chunks(rewrite)) await target.writeMerged(tx, part);

  const cached: [string, CachedAggregate][] = [];
  for (const g of [...rewrite, ...[...inserted].map((id) => own.get(id)!)]) {
    cached.push([
      g.id,
      { totals: g.totals, windowsMerged: g.totals.windowsMerged, updatedAt: now },
    ]);
  }
  return { conflicts, rows: buckets.size, cached };
}

/** `excluded.col` when the incoming window is not older than the stored one, else the stored value. */
function ifNewer(column: AnyPgColumn): SQL {
  return sql`case when excluded.window_start >= ${deviceHealth.windowStart} then ${excluded(column)} else ${column} end`;
}

async function upsertHealth(tx: Database, fresh: readonly TelemetryItem[], now: Date) {
  const latest = new Map<string, TelemetryItem>();
  const drops = new Map<string, number>();
  for (const w of fresh) {
    drops.set(w.deviceId, (drops.get(w.deviceId) ?? 0) + w.msg.droppedWindows);
    const prev = latest.get(w.deviceId);
    const start = Date.parse(w.msg.window.start);
    if (
      prev === undefined ||
      start > Date.parse(prev.msg.window.start) ||
      (start === Date.parse(prev.msg.window.start) && w.msg.seq > prev.msg.seq)
    ) {
      latest.set(w.deviceId, w);
    }
  }
  const rows = [...latest.values()].map((w) => {
    const start = Date.parse(w.msg.window.start);
    const end = Date.parse(w.msg.window.end);
    const q = (p: number) =>
      w.latency === null || w.latency.isEmpty ? null : w.latency.quantile(p);
    return {
      deviceId: w.deviceId,
      releaseId: w.msg.releaseId,
      windowStart: new Date(start),
      windowSeconds: Math.round((end - start) / 1000),
      inferences: w.msg.requests,
      errors: w.msg.errors,
      latencyP50Ms: q(0.5),
      latencyP95Ms: q(0.95),
      executionProvider: w.msg.executionProvider,
      spoolDrops: drops.get(w.deviceId) ?? 0,
      details: {
        seq: w.msg.seq,
        windowEnd: w.msg.window.end,
        errorRate: w.msg.requests === 0 ? null : w.msg.errors / w.msg.requests,
        late: w.msg.late,
      },
      updatedAt: now,
    };
  });
  const t = deviceHealth;
  for (const part of chunks(rows)) {
    await tx
      .insert(t)
      .select(selectRows(t, part))
      .onConflictDoUpdate({
        target: t.deviceId,
        set: {
          releaseId: ifNewer(t.releaseId),
          windowStart: ifNewer(t.windowStart),
          windowSeconds: ifNewer(t.windowSeconds),
          inferences: ifNewer(t.inferences),
          errors: ifNewer(t.errors),
          latencyP50Ms: ifNewer(t.latencyP50Ms),
          latencyP95Ms: ifNewer(t.latencyP95Ms),
          executionProvider: ifNewer(t.executionProvider),
          details: ifNewer(t.details),
          spoolDrops: sql`${t.spoolDrops} + ${excluded(t.spoolDrops)}`,
          updatedAt: excluded(t.updatedAt),
        },
      });
  }
}

/**
 * Last seen (greatest of the stored and the batch's latest message) and, for devices that sent
 * `presence`, the online flag: every device of the batch in one statement per chunk (what
 * `touchDevice` does for one), so a reconnect storm is not one statement per device.
 */
async function touchDevices(
  tx: Database,
  lastSeen: ReadonlyMap<string, number>,
  presence: ReadonlyMap<string, PresenceItem>,
): Promise<void> {
  for (const part of chunks([...lastSeen])) {
    const values = recordset(
      'v',
      [
        ['id', 'text'],
        ['at', 'timestamptz'],
        ['online', 'boolean'],
      ],
      part.map(([id, at]) => [id, new Date(at), presence.get(id)?.online ?? null]),
    );
    await tx.execute(
      sql`update ${devices} set last_seen_at = greatest(${devices.lastSeenAt}, v.at),
            online = coalesce(v.online, ${devices.online})
          from ${values}
          where ${devices.id} = v.id and ${devices.status} = 'active'`,
    );
  }
}

/** The reported state of many devices in one statement (what `recordDeviceState` does for one). */
async function recordStates(tx: Database, states: readonly StateItem[]): Promise<void> {
  for (const part of chunks(states)) {
    const values = recordset(
      'v',
      [
        ['id', 'text'],
        ['release', 'text'],
        ['ort', 'text'],
        ['providers', 'jsonb'],
      ],
      part.map((s) => [
        s.deviceId,
        s.msg.release?.releaseId ?? null,
        s.msg.runtime.ortVersion,
        [...s.msg.runtime.availableProviders],
      ]),
    );
    await tx.execute(
      sql`update ${devices} set current_release_id = v.release, ort_version = v.ort,
            execution_providers = v.providers
          from ${values}
          where ${devices.id} = v.id`,
    );
  }
}

/** Write a batch (see the module comment). The caller counts `dropped` and runs the callbacks. */
export async function writeBatch(
  db: Database,
  items: readonly IngestItem[],
  ctx: BatchContext,
): Promise<BatchOutcome> {
  let cacheUpdates: [string, CachedAggregate][] = [];
  const outcome = await db.transaction(async (tx): Promise<BatchOutcome> => {
    const dropped: { item: IngestItem; reason: DropReason }[] = [];
    const ids = [...new Set(items.map((i) => i.deviceId))];
    const known = new Map<string, { labels: Record<string, string>; hardwareClass: string }>();
    for (const part of chunks(ids, 1000)) {
      const rows = await tx
        .select({ id: devices.id, labels: devices.labels, hardwareClass: devices.hardwareClass })
        .from(devices)
        .where(
          and(
            keyIn(
              [devices.id],
              part.map((id) => [id]),
            ),
            eq(devices.status, 'active'),
          ),
        );
      for (const r of rows) known.set(r.id, r);
    }

    const telemetry: TelemetryItem[] = [];
    const statuses: StatusItem[] = [];
    const states = new Map<string, StateItem>();
    const presence = new Map<string, PresenceItem>();
    const lastSeen = new Map<string, number>();
    const firstByKey = new Set<string>();
    for (const item of items) {
      if (!known.has(item.deviceId)) {
        dropped.push({ item, reason: 'unknown_device' });
        continue;
      }
      lastSeen.set(item.deviceId, Math.max(lastSeen.get(item.deviceId) ?? 0, item.receivedAt));
      switch (item.kind) {
        case 'telemetry': {
          const key = `${item.deviceId}\u0000${item.msg.seq}`;
          if (firstByKey.has(key)) dropped.push({ item, reason: 'duplicate' });
          else {
            firstByKey.add(key);
            telemetry.push(item);
          }
          break;
        }
        case 'status':
          statuses.push(item);
          break;
        case 'state':
          states.set(item.deviceId, item);
          break;
        case 'presence':
          presence.set(item.deviceId, item);
          break;
      }
    }

    // Dedupe against everything ingested before (this process or another, before a restart).
    const isNew = new Set<string>();
    for (const part of chunks(telemetry)) {
      const rows = await tx
        .insert(telemetrySeqs)
        .select(
          selectRows(
            telemetrySeqs,
            part.map((w) => ({
              deviceId: w.deviceId,
              seq: w.msg.seq,
              windowStart: new Date(w.msg.window.start),
              receivedAt: new Date(w.receivedAt),
            })),
          ),
        )
        .onConflictDoNothing()
        .returning({ deviceId: telemetrySeqs.deviceId, seq: telemetrySeqs.seq });
      for (const r of rows) isNew.add(`${r.deviceId}\u0000${r.seq}`);
    }
    const fresh: TelemetryItem[] = [];
    for (const w of telemetry) {
      if (isNew.has(`${w.deviceId}\u0000${w.msg.seq}`)) fresh.push(w);
      else dropped.push({ item: w, reason: 'duplicate' });
    }

    // Windows without a release (no model served) only feed device health.
    const withRelease = fresh.filter((w) => w.msg.releaseId !== null);
    const cohorts = new Map<string, string>();
    for (const [id, d] of known) cohorts.set(id, ctx.cohortOf(d));
    const bucket = (w: TelemetryItem) => alignWindow(Date.parse(w.msg.window.start), ctx.windowMs);

    const perDevice = groupWindows<DeviceWindowKey>(
      ctx.deviceWindowFeatures === undefined
        ? withRelease
        : withRelease.map((w) =>
            onlyFeatures(w, ctx.deviceWindowFeatures!.get(w.msg.releaseId!) ?? new Set()),
          ),
      (w) => {
        const key = {
          deviceId: w.deviceId,
          releaseId: w.msg.releaseId!,
          windowStart: bucket(w),
          cohort: cohorts.get(w.deviceId) ?? '',
        };
        return { key, id: `${key.deviceId}\u0000${key.releaseId}\u0000${key.windowStart}` };
      },
      ctx.random,
    );
    const perCohort = bucketWindows<AggregateKey>(withRelease, (w) => {
      const key = {
        releaseId: w.msg.releaseId!,
        cohort: cohorts.get(w.deviceId) ?? '',
        windowStart: bucket(w),
      };
      return { key, id: aggregateIdOf(key.releaseId, key.cohort, key.windowStart) };
    });
    // The same windows make up both groupings: count their conflicts once (the aggregates').
    await mergeInto(tx, deviceWindowTarget(ctx), perDevice.groups, ctx.random);
    const aggregates = await mergeAggregates(tx, ctx, perCohort);

    await upsertHealth(tx, fresh, ctx.now);
    // Last seen covers every item's device (states and presence included).
    await touchDevices(tx, lastSeen, presence);
    await recordStates(tx, [...states.values()]);
    cacheUpdates = aggregates.cached;
    return {
      windows: fresh.length,
      dropped,
      conflicts: aggregates.conflicts,
      deviceWindowRows: perDevice.groups.length,
      aggregateRows: aggregates.rows,
      statuses,
      states: [...states.values()],
    };
  });
  // Committed: what was written is what the rows hold now.
  for (const [id, entry] of cacheUpdates) ctx.aggregateCache?.set(id, entry);
  return outcome;
}
