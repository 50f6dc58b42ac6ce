/**
 * The fleet at a glance (`GET /v1/fleet/summary`, the dashboard's overview): devices matching a
 * filter counted by connection, release, hardware class, label and latest deployment state. Five
 * grouped queries, whatever the fleet's size.
 */
import { count, desc, sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { filterSql, type DeviceFilter } from './devices.js';
import { deviceDeployments, devices } from './schema.js';

export interface FleetSummary {
  readonly total: number;
  readonly online: number;
  readonly offline: number;
  /** Devices per running release id (`none`: no model installed). */
  readonly byRelease: Record<string, number>;
  readonly byHardwareClass: Record<string, number>;
  /** Devices per label key and value. */
  readonly byLabel: Record<string, Record<string, number>>;
  /** Devices per state of their latest deployment (`none`: never deployed to). */
  readonly byDeploymentState: Record<string, number>;
}

function tally(rows: readonly { k: string | null; n: number }[], none = 'none') {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.k ?? none] = (out[r.k ?? none] ?? 0) + r.n;
  return out;
}

export async function fleetSummary(db: Database, filter: DeviceFilter = {}): Promise<FleetSummary> {
  const where = filterSql(filter);
  const n = count();
  const byOnline = await db
    .select({ online: devices.online, n })
    .from(devices)
    .where(where)
    .groupBy(devices.online);
  const byRelease = await db
    .select({ k: devices.currentReleaseId, n })
    .from(devices)
    .where(where)
    .groupBy(devices.currentReleaseId)
    .orderBy(desc(n));
  const byHardware = await db
    .select({ k: devices.hardwareClass, n })
    .from(devices)
    .where(where)
    .groupBy(devices.hardwareClass);
  const labels = await db
    .select({ key: sql<string>`l.key`, value: sql<string>`l.value`, n })
    .from(sql`${devices} cross join lateral jsonb_each_text(${devices.labels}) as l`)
    .where(where)
    .groupBy(sql`l.key`, sql`l.value`);
  const latest = sql`(select distinct on (${deviceDeployments.deviceId}) ${deviceDeployments.deviceId} as device_id, ${deviceDeployments.state} as state from ${deviceDeployments} order by ${deviceDeployments.deviceId}, ${deviceDeployments.id} desc)`;
  const states = await db
    .select({ k: sql<string | null>`dd.state`, n })
    .from(sql`${devices} left join ${latest} as dd on dd.device_id = ${devices.id}`)
    .where(where)
    .groupBy(sql`dd.state`);
  const byLabel: Record<string, Record<string, number>> = {};
  for (const l of labels) (byLabel[l.key] ??= {})[l.value] = l.n;
  const online = byOnline.find((r) => r.online)?.n ?? 0;
  const total = byOnline.reduce((a, r) => a + r.n, 0);
  return {
    total,
    online,
    offline: total - online,
    byRelease: tally(byRelease),
    byHardwareClass: tally(byHardware),
    byLabel,
    byDeploymentState: tally(states),
  };
}
