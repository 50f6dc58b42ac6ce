/**
 * Telemetry totals: what any number of device windows add up to (counts, a latency DDSketch and an
 * input/output profile), merged exactly (counts) or within the sketches' error bounds. Pure; used by
 * ingest (device windows into stored rows) and rollups (stored rows into one answer).
 */
import {
  DDSketch,
  decodeProfile,
  encodeProfile,
  mergeProfiles,
  type Profile,
  type RandomSource,
} from '@edgefleet/protocol';
import type { JsonObject } from '../db/schema.js';

export interface TelemetryTotals {
  inferences: number;
  errors: number;
  /** Device windows that went into these totals. */
  windowsMerged: number;
  latency: DDSketch | null;
  profile: Profile | null;
  /** The execution provider of the latest window merged in (null when unknown). */
  executionProvider: string | null;
}

export function emptyTotals(): TelemetryTotals {
  return {
    inferences: 0,
    errors: 0,
    windowsMerged: 0,
    latency: null,
    profile: null,
    executionProvider: null,
  };
}

/** Merged totals, and how many inputs had a sketch that could not be merged with the others. */
export interface MergedTotals {
  readonly totals: TelemetryTotals;
  /** Profiles or latency sketches left out because they conflict (feature kind, KLL k, alpha). */
  readonly conflicts: number;
}

/** Merge profiles, leaving out any that conflicts with what was merged before it. */
function mergeAllProfiles(
  profiles: readonly Profile[],
  random?: RandomSource,
): { profile: Profile | null; conflicts: number } {
  if (profiles.length === 0) return { profile: null, conflicts: 0 };
  const all = mergeProfiles(profiles, random);
  if (all.ok) return { profile: all.value, conflicts: 0 };
  // Slow path (rare): one at a time, so one bad window does not cost the others.
  let acc = profiles[0]!.clone(random);
  let conflicts = 0;
  for (const p of profiles.slice(1)) {
    const r = mergeProfiles([acc, p], random);
    if (r.ok) acc = r.value;
    else conflicts++;
  }
  return { profile: acc, conflicts };
}

function mergeAllLatencies(sketches: readonly DDSketch[]): {
  latency: DDSketch | null;
  conflicts: number;
} {
  const first = sketches[0];
  if (first === undefined) return { latency: null, conflicts: 0 };
  const acc = new DDSketch({ alpha: first.alpha, maxBuckets: first.maxBuckets });
  let conflicts = 0;
  for (const s of sketches) {
    if (s.alpha === acc.alpha) acc.merge(s);
    else conflicts++;
  }
  return { latency: acc, conflicts };
}

/** Totals of several totals (inputs unchanged). The latest non-null execution provider wins. */
export function mergeTotals(
  parts: readonly TelemetryTotals[],
  random?: RandomSource,
): MergedTotals {
  const profiles = mergeAllProfiles(
    parts.flatMap((p) => (p.profile === null ? [] : [p.profile])),
    random,
  );
  const latencies = mergeAllLatencies(
    parts.flatMap((p) => (p.latency === null ? [] : [p.latency])),
  );
  let executionProvider: string | null = null;
  for (const p of parts) executionProvider = p.executionProvider ?? executionProvider;
  return {
    totals: {
      inferences: parts.reduce((s, p) => s + p.inferences, 0),
      errors: parts.reduce((s, p) => s + p.errors, 0),
      windowsMerged: parts.reduce((s, p) => s + p.windowsMerged, 0),
      latency: latencies.latency,
      profile: profiles.profile,
      executionProvider,
    },
    conflicts: profiles.conflicts + latencies.conflicts,
  };
}

/** The stored (JSON) forms of the sketches. */
export function encodeSketches(t: TelemetryTotals): {
  profile: JsonObject | null;
  latency: JsonObject | null;
} {
  return {
    profile: t.profile === null ? null : encodeProfile(t.profile),
    latency: t.latency === null ? null : t.latency.toJSON(),
  };
}

/** A stored row's columns, as read back. */
export interface StoredTotals {
  readonly inferences: number;
  readonly errors: number;
  readonly windowsMerged: number;
  readonly profile: JsonObject | null;
  readonly latency: JsonObject | null;
  readonly executionProvider?: string | null;
}

/**
 * Totals from a stored row. Our own rows decode unless the database was edited by hand; a sketch
 * that does not decode is dropped (and counted), the counts are kept.
 */
export function decodeStoredTotals(
  row: StoredTotals,
  random?: RandomSource,
): { totals: TelemetryTotals; undecodable: number } {
  let undecodable = 0;
  let profile: Profile | null = null;
  if (row.profile !== null) {
    const p = decodeProfile(row.profile, random === undefined ? {} : { random });
    if (p.ok) profile = p.value;
    else undecodable++;
  }
  let latency: DDSketch | null = null;
  if (row.latency !== null) {
    const l = DDSketch.fromJSON(row.latency);
    if (l.ok) latency = l.value;
    else undecodable++;
  }
  return {
    totals: {
      inferences: row.inferences,
      errors: row.errors,
      windowsMerged: row.windowsMerged,
      latency,
      profile,
      executionProvider: row.executionProvider ?? null,
    },
    undecodable,
  };
}
