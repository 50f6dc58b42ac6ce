import { randomBytes } from 'node:crypto';
import { DDSketch, decodeProfile } from '@edgefleet/protocol';
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Database } from '../db/database.js';
import { telemetryAggregates } from '../db/schema.js';
import { AggregateCache } from './aggregate-cache.js';
import { cohortFromLabels } from './cohort.js';
import {
  BACKENDS,
  profileOf,
  seedDevice,
  telemetryBytes,
  useIngestDatabase,
} from './fixtures.test-support.js';
import type { TelemetryTotals } from './totals.js';

const MIN = 60_000;
const NOW = Date.parse('2031-05-04T12:00:00.000Z');
const uid = () => randomBytes(4).toString('hex');

describe('AggregateCache', () => {
  const totals = (windowsMerged: number): TelemetryTotals => ({
    inferences: 0,
    errors: 0,
    windowsMerged,
    latency: null,
    profile: null,
    executionProvider: null,
  });
  const entry = (n: number) => ({ totals: totals(n), windowsMerged: n, updatedAt: 0 });

  it('keeps the most recently used entries', () => {
    const cache = new AggregateCache(2);
    cache.set('a', entry(1));
    cache.set('b', entry(2));
    expect(cache.get('a')?.windowsMerged).toBe(1);
    cache.set('c', entry(3));
    expect(cache.has('a')).toBe(true);
    expect(cache.has('b')).toBe(false);
    expect(cache.has('c')).toBe(true);
    expect(cache.size).toBe(2);
  });

  it('holds nothing with a size of 0, and refuses a negative size', () => {
    const cache = new AggregateCache(0);
    cache.set('a', entry(1));
    expect(cache.size).toBe(0);
    expect(() => new AggregateCache(-1)).toThrow(RangeError);
  });
});

for (const backend of BACKENDS) {
  describe(`aggregate cache in ingest on ${backend}`, () => {
    const { db, newIngest } = useIngestDatabase(backend, NOW, {
      cohortOf: cohortFromLabels({ labels: ['site'], hardwareClass: false }),
    });

    async function devices(n: number): Promise<string[]> {
      const prefix = `c-${uid()}`;
      const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
      for (const id of ids) await seedDevice(db(), id, { site: 'berlin' });
      return ids;
    }

    /** One device window in the aggregation window one minute ago: 10 requests, 10 values of x. */
    const windowOf = (deviceId: string, seq: number, release: string, start = NOW - MIN) =>
      telemetryBytes({
        deviceId,
        seq,
        start,
        durationMs: 10_000,
        releaseId: release,
        requests: 10,
        latencies: [1, 2, 3],
        profile: profileOf({ x: Array.from({ length: 10 }, (_, i) => i + seq) }),
      });

    const aggregateOf = async (release: string) => {
      const rows = await db()
        .select()
        .from(telemetryAggregates)
        .where(eq(telemetryAggregates.releaseId, release));
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      const profile = decodeProfile(row.profile);
      const x = profile.ok ? profile.value.get('x') : undefined;
      const latency = DDSketch.fromJSON(row.latency);
      return {
        windowsMerged: row.windowsMerged,
        inferences: row.inferences,
        values: x?.kind === 'numeric' ? x.summary.count : NaN,
        latencies: latency.ok ? latency.value.count : NaN,
      };
    };

    const exactly = (windows: number) => ({
      windowsMerged: windows,
      inferences: 10 * windows,
      values: 10 * windows,
      latencies: 3 * windows,
    });

    it('merges every window when two ingests (replicas) write the same aggregate in turns', async () => {
      const ids = await devices(3);
      const release = `rel-${uid()}`;
      const a = newIngest();
      const b = newIngest();
      let seq = 0;
      // Each writes after the other has changed the row it cached.
      for (const ingest of [a, b, a, b, a, a, b, b]) {
        const id = ids[seq % ids.length]!;
        ingest.accept('telemetry', id, windowOf(id, ++seq, release));
        await ingest.flush();
      }
      expect(await aggregateOf(release)).toEqual(exactly(8));
      expect(a.metrics.conflicts.get()).toBe(0);
      expect(b.metrics.conflicts.get()).toBe(0);
    });

    it('merges every window when two ingests write the same aggregate at the same time', async () => {
      const ids = await devices(4);
      const release = `rel-${uid()}`;
      const a = newIngest();
      const b = newIngest();
      let seq = 0;
      for (let round = 0; round < 3; round++) {
        for (const [i, id] of ids.entries()) {
          (i % 2 === 0 ? a : b).accept('telemetry', id, windowOf(id, ++seq, release));
        }
        await Promise.all([a.flush(), b.flush()]);
      }
      expect(await aggregateOf(release)).toEqual(exactly(12));
    });

    it('trusts a cached row only while the table holds the version it wrote', async () => {
      const [id] = await devices(1);
      const release = `rel-${uid()}`;
      const ingest = newIngest();
      ingest.accept('telemetry', id!, windowOf(id!, 1, release));
      await ingest.flush();
      const t = telemetryAggregates;
      // Same version, different content: only a cache hit merges without reading it.
      await db()
        .update(t)
        .set({ profile: sql`'{"not":"a profile"}'::jsonb` })
        .where(eq(t.releaseId, release));
      ingest.accept('telemetry', id!, windowOf(id!, 2, release));
      await ingest.flush();
      expect(await aggregateOf(release)).toEqual(exactly(2));
      expect(ingest.metrics.conflicts.get()).toBe(0);

      // Another version (as another replica would leave it): read back, the bad sketch counted.
      await db()
        .update(t)
        .set({
          profile: sql`'{"not":"a profile"}'::jsonb`,
          windowsMerged: sql`${t.windowsMerged} + 1`,
        })
        .where(eq(t.releaseId, release));
      ingest.accept('telemetry', id!, windowOf(id!, 3, release));
      await ingest.flush();
      expect(ingest.metrics.conflicts.get()).toBe(1);
      const row = await aggregateOf(release);
      expect(row).toMatchObject({ windowsMerged: 4, inferences: 30, values: 10 });
    });

    it('starts over when another ingest pruned the row it cached', async () => {
      const [id] = await devices(1);
      const release = `rel-${uid()}`;
      const start = NOW - 30 * MIN;
      const ingest = newIngest();
      ingest.accept('telemetry', id!, windowOf(id!, 1, release, start));
      await ingest.flush();
      const other = newIngest();
      const pruned = await other.pruneOlderThan(new Date(start - MIN), new Date(start + MIN));
      expect(pruned.aggregates).toBeGreaterThanOrEqual(1);
      ingest.accept('telemetry', id!, windowOf(id!, 2, release, start));
      await ingest.flush();
      expect(await aggregateOf(release)).toEqual(exactly(1));
    });

    it('a batch rolled back leaves nothing behind; the retry merges it once', async () => {
      const [id] = await devices(1);
      const release = `rel-${uid()}`;
      let failures = 0;
      // Runs the whole batch, then fails before commit (the transaction rolls back).
      const failingCommit = new Proxy(db(), {
        get(target, prop, receiver) {
          if (prop === 'transaction' && failures > 0) {
            failures--;
            return async (fn: (tx: Database) => Promise<unknown>) =>
              target.transaction(async (tx) => {
                await fn(tx);
                throw new Error('commit failed');
              });
          }
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
      const ingest = newIngest({ db: failingCommit });
      ingest.accept('telemetry', id!, windowOf(id!, 1, release));
      await ingest.flush();
      failures = 1;
      ingest.accept('telemetry', id!, windowOf(id!, 2, release));
      await ingest.flush();
      ingest.accept('telemetry', id!, windowOf(id!, 3, release));
      await ingest.flush();
      expect(await aggregateOf(release)).toEqual(exactly(3));
      expect(ingest.metrics.dropped.get({ kind: 'telemetry', reason: 'write_failed' })).toBe(0);
    });

    it('a restart loses nothing that was accepted, and merges on from the stored row', async () => {
      const ids = await devices(2);
      const release = `rel-${uid()}`;
      const first = newIngest();
      first.accept('telemetry', ids[0]!, windowOf(ids[0]!, 1, release));
      await first.flush();
      // Accepted but not written yet: close() writes it.
      first.accept('telemetry', ids[1]!, windowOf(ids[1]!, 1, release));
      expect(first.pending).toBe(1);
      await first.close();

      const restarted = newIngest();
      // A re-sent window (delivered again after the restart) counts once.
      restarted.accept('telemetry', ids[1]!, windowOf(ids[1]!, 1, release));
      restarted.accept('telemetry', ids[0]!, windowOf(ids[0]!, 2, release));
      await restarted.flush();
      restarted.accept('telemetry', ids[1]!, windowOf(ids[1]!, 2, release));
      await restarted.flush();
      expect(await aggregateOf(release)).toEqual(exactly(4));
      expect(restarted.metrics.dropped.get({ kind: 'telemetry', reason: 'duplicate' })).toBe(1);
    });

    it('gives the same aggregates without the cache', async () => {
      const ids = await devices(2);
      const release = `rel-${uid()}`;
      const ingest = newIngest({ aggregateCacheSize: 0 });
      let seq = 0;
      for (let round = 0; round < 3; round++) {
        for (const id of ids) ingest.accept('telemetry', id, windowOf(id, ++seq, release));
        await ingest.flush();
      }
      expect(await aggregateOf(release)).toEqual(exactly(6));
    });
  });
}
