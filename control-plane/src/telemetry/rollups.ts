/**
 * Health rollups, the read side of ingest: what the rollout gates ask (error rate, p95 latency and
 * the output distribution of a wave, a release or a baseline) and what a baseline-window drift
 * reference is made of.
 *
 * - A set of device ids (a rollout wave): merged from `telemetry_device_windows`, which keeps
 *   device x release x window rows for the device-window retention.
 * - Otherwise (a release, optionally one cohort): merged from `telemetry_aggregates`, kept longer.
 */
import {
  featureDescriptors,
  Profile,
  type DDSketch,
  type FeatureSpec,
  type RandomSource,
} from '@edgefleet/protocol';
import { and, eq, gte, inArray, lt, type SQL } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import {
  deviceHealth,
  telemetryAggregates,
  telemetryDeviceWindows,
  type DeviceHealth,
} from '../db/schema.js';
import { decodeStoredTotals, mergeTotals, type TelemetryTotals } from './totals.js';

export interface HealthQuery {
  readonly releaseId: string;
  /** Aggregation windows starting in [from, to). */
  readonly from: Date;
  readonly to: Date;
  /** Only these devices (e.g. a rollout wave); read from the per-device windows. */
  readonly deviceIds?: readonly string[];
  /** Only this cohort. */
  readonly cohort?: string;
  /** Keep only these features in the returned profile (e.g. `outputFeatureNames(spec)`). */
  readonly features?: readonly string[];
}

export interface HealthRollup {
  readonly releaseId: string;
  readonly from: Date;
  readonly to: Date;
  /** Where the numbers come from. */
  readonly source: 'device_windows' | 'aggregates';
  /** Device windows merged. */
  readonly windows: number;
  /** Distinct devices with data (device-set queries only). */
  readonly devices?: number;
  readonly requests: number;
  readonly errors: number;
  /** errors / requests; null without requests. */
  readonly errorRate: number | null;
  readonly p50LatencyMs: number | null;
  readonly p95LatencyMs: number | null;
  readonly p99LatencyMs: number | null;
  readonly latency: DDSketch | null;
  /** The merged profile (restricted to `features` when given); null when no window had one. */
  readonly profile: Profile | null;
  /** Sketches that could not be merged (conflicting kinds or parameters). */
  readonly conflicts: number;
}

/** Names of the output features of a feature spec (prediction drift, output distribution gates). */
export function outputFeatureNames(spec: FeatureSpec): string[] {
  return featureDescriptors(spec)
    .filter((d) => d.source === 'output')
    .map((d) => d.name);
}

/** A profile with only the named features (the same sketches, not copies). */
export function selectFeatures(profile: Profile, names: Iterable<string>): Profile {
  const keep = new Set(names);
  return new Profile(
    profile.entries().filter(([n]) => keep.has(n)),
    profile.window,
  );
}

function quantile(latency: DDSketch | null, q: number): number | null {
  return latency === null || latency.isEmpty ? null : latency.quantile(q);
}

/** Merge telemetry of a release over a time range (see the module comment for the source). */
export async function healthOf(
  db: Database,
  query: HealthQuery,
  options: { random?: RandomSource } = {},
): Promise<HealthRollup> {
  const parts: TelemetryTotals[] = [];
  let conflicts = 0;
  let devices: number | undefined;
  const source = query.deviceIds === undefined ? 'aggregates' : 'device_windows';
  if (query.deviceIds !== undefined) {
    const t = telemetryDeviceWindows;
    const seen = new Set<string>();
    // Chunked: waves can be large, and each id is a bound parameter.
    for (let i = 0; i < query.deviceIds.length; i += 1000) {
      const ids = query.deviceIds.slice(i, i + 1000);
      if (ids.length === 0) continue;
      const where: (SQL | undefined)[] = [
        eq(t.releaseId, query.releaseId),
        inArray(t.deviceId, ids),
        gte(t.windowStart, query.from),
        lt(t.windowStart, query.to),
        query.cohort === undefined ? undefined : eq(t.cohort, query.cohort),
      ];
      for (const row of await db
        .select()
        .from(t)
        .where(and(...where))) {
        seen.add(row.deviceId);
        const d = decodeStoredTotals(row, options.random);
        conflicts += d.undecodable;
        parts.push(d.totals);
      }
    }
    devices = seen.size;
  } else {
    const t = telemetryAggregates;
    const rows = await db
      .select()
      .from(t)
      .where(
        and(
          eq(t.releaseId, query.releaseId),
          gte(t.windowStart, query.from),
          lt(t.windowStart, query.to),
          query.cohort === undefined ? undefined : eq(t.cohort, query.cohort),
        ),
      );
    for (const row of rows) {
      const d = decodeStoredTotals(row, options.random);
      conflicts += d.undecodable;
      parts.push(d.totals);
    }
  }
  const merged = mergeTotals(parts, options.random);
  const t = merged.totals;
  const profile =
    t.profile === null || query.features === undefined
      ? t.profile
      : selectFeatures(t.profile, query.features);
  return {
    releaseId: query.releaseId,
    from: query.from,
    to: query.to,
    source,
    windows: t.windowsMerged,
    ...(devices === undefined ? {} : { devices }),
    requests: t.inferences,
    errors: t.errors,
    errorRate: t.inferences === 0 ? null : t.errors / t.inferences,
    p50LatencyMs: quantile(t.latency, 0.5),
    p95LatencyMs: quantile(t.latency, 0.95),
    p99LatencyMs: quantile(t.latency, 0.99),
    latency: t.latency,
    profile,
    conflicts: conflicts + merged.conflicts,
  };
}

/** The latest health row of each of these devices (devices without telemetry are absent). */
export async function deviceHealthOf(
  db: Database,
  deviceIds: readonly string[],
): Promise<DeviceHealth[]> {
  const out: DeviceHealth[] = [];
  for (let i = 0; i < deviceIds.length; i += 1000) {
    const ids = deviceIds.slice(i, i + 1000);
    if (ids.length === 0) continue;
    out.push(...(await db.select().from(deviceHealth).where(inArray(deviceHealth.deviceId, ids))));
  }
  return out;
}
