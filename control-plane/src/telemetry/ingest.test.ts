import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  createRandom,
  decodeProfile,
  DDSketch,
  encodeMessage,
  nextNormal,
  type StatusMessage,
} from '@edgefleet/protocol';
import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/database.js';
import { getDevice } from '../db/devices.js';
import { telemetryAggregates, telemetryDeviceWindows, telemetrySeqs } from '../db/schema.js';
import {
  BACKENDS,
  ManualTimers,
  profileOf,
  seedDevice,
  seedRelease,
  telemetryBytes,
  useIngestDatabase,
  telemetryMessage,
  utf8,
} from './fixtures.test-support.js';
import { cohortFromLabels } from './cohort.js';
import { TelemetryIngest, type FlushReport } from './ingest.js';
import { deviceHealthOf, healthOf, outputFeatureNames } from './rollups.js';

const MIN = 60_000;
/** A fixed "now" on a minute boundary; windows are placed relative to it. */
const NOW = Date.parse('2031-05-04T12:00:00.000Z');
const uid = () => randomBytes(4).toString('hex');

function normals(seed: number, n: number, mu = 0, sigma = 1): number[] {
  const r = createRandom(seed);
  return Array.from({ length: n }, () => mu + sigma * nextNormal(r));
}

for (const backend of BACKENDS) {
  describe(`telemetry ingest on ${backend}`, () => {
    const { db, newIngest } = useIngestDatabase(backend, NOW);

    /** Fresh devices with a site label, ids prefixed uniquely for this test. */
    async function devices(n: number, site = 'berlin', hardware = 'rpi4'): Promise<string[]> {
      const prefix = `d-${uid()}`;
      const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
      for (const id of ids) await seedDevice(db(), id, { site }, hardware);
      return ids;
    }

    const aggregatesOf = (releaseId: string) =>
      db().select().from(telemetryAggregates).where(eq(telemetryAggregates.releaseId, releaseId));

    it('counts and drops malformed telemetry with its reason', async () => {
      const [id] = await devices(1);
      const ingest = newIngest();
      expect(ingest.accept('telemetry', id!, utf8('not json'))).toBe('malformed');
      expect(ingest.accept('telemetry', id!, utf8('{"v":1,"type":"status"}'))).toBe('malformed');
      expect(ingest.accept('telemetry', id!, utf8('{"v":9,"type":"telemetry"}'))).toBe(
        'unsupported_version',
      );
      expect(ingest.accept('telemetry', id!, new Uint8Array(600 * 1024))).toBe('too_large');
      // Schema-valid, but the KLL sketch has fewer values than its summary: decodeProfile refuses.
      const msg = telemetryMessage({
        deviceId: id!,
        seq: 1,
        start: NOW - MIN,
        latencies: [5],
        profile: profileOf({ x: [1, 2, 3] }),
      });
      const tampered = structuredClone(msg);
      const x = tampered.profile!.features.x!;
      if (x.kind === 'numeric') x.summary.count += 1;
      expect(ingest.accept('telemetry', id!, utf8(JSON.stringify(tampered)))).toBe(
        'malformed_profile',
      );
      expect(ingest.pending).toBe(0);
      const dropped = ingest.metrics.dropped;
      expect(dropped.get({ kind: 'telemetry', reason: 'malformed' })).toBe(2);
      expect(dropped.get({ kind: 'telemetry', reason: 'unsupported_version' })).toBe(1);
      expect(dropped.get({ kind: 'telemetry', reason: 'too_large' })).toBe(1);
      expect(dropped.get({ kind: 'telemetry', reason: 'malformed_profile' })).toBe(1);
      expect(ingest.metrics.received.get({ kind: 'telemetry' })).toBe(5);
    });

    it('ignores payloads whose deviceId is not the topic device', async () => {
      const [a, b] = await devices(2);
      const ingest = newIngest();
      const bytes = telemetryBytes({ deviceId: a!, seq: 1, start: NOW - MIN, latencies: [1] });
      expect(ingest.accept('telemetry', b!, bytes)).toBe('device_mismatch');
      expect(ingest.metrics.dropped.get({ kind: 'telemetry', reason: 'device_mismatch' })).toBe(1);
    });

    it('refuses windows beyond the acceptance horizon or from the future', async () => {
      const [id] = await devices(1);
      const ingest = newIngest({ maxWindowAgeMs: 60 * MIN, maxClockSkewMs: 5 * MIN });
      const at = (start: number) => telemetryBytes({ deviceId: id!, seq: start, start });
      expect(ingest.accept('telemetry', id!, at(NOW - 61 * MIN))).toBe('too_old');
      expect(ingest.accept('telemetry', id!, at(NOW + 6 * MIN))).toBe('clock_skew');
      expect(ingest.accept('telemetry', id!, at(NOW - 59 * MIN))).toBe('queued');
    });

    it('waits for the batch delay, then writes the batch in one go', async () => {
      const [id] = await devices(1);
      const timers = new ManualTimers();
      const reports: FlushReport[] = [];
      let flushed: () => void = () => undefined;
      const written = new Promise<void>((resolve) => (flushed = resolve));
      const ingest = newIngest({
        timers,
        batch: { maxDelayMs: 100 },
        onFlushed: (r) => {
          reports.push(r);
          flushed();
        },
      });
      for (let seq = 1; seq <= 3; seq++) {
        ingest.accept(
          'telemetry',
          id!,
          telemetryBytes({ deviceId: id!, seq, start: NOW - (4 - seq) * MIN, latencies: [seq] }),
        );
      }
      expect(timers.armed).toEqual([100]);
      expect(ingest.pending).toBe(3);
      expect(await db().$count(telemetrySeqs, eq(telemetrySeqs.deviceId, id!))).toBe(0);

      timers.fireAll();
      await written;
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ messages: 3, windows: 3, dropped: 0 });
      expect(await db().$count(telemetrySeqs, eq(telemetrySeqs.deviceId, id!))).toBe(3);
    });

    it('adapts the batch delay to the write time, between minDelayMs and maxDelayMs', async () => {
      const [id] = await devices(1);
      const timers = new ManualTimers();
      let now = NOW;
      let writeTakes = 0;
      // The clock moves on by `writeTakes` while a batch is written.
      const slow = new Proxy(db(), {
        get(target, prop, receiver) {
          if (prop === 'transaction') {
            return async (fn: (tx: Database) => Promise<unknown>) =>
              target.transaction(async (tx) => {
                now += writeTakes;
                return fn(tx);
              });
          }
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
      const ingest = newIngest({
        db: slow,
        now: () => new Date(now),
        timers,
        batch: { minDelayMs: 5, maxDelayMs: 1000 },
      });
      let seq = 0;
      const next = () => {
        ingest.accept(
          'telemetry',
          id!,
          telemetryBytes({ deviceId: id!, seq: ++seq, start: NOW - MIN, latencies: [seq] }),
        );
        const armed = timers.armed;
        timers.fireAll();
        return armed;
      };
      // Nothing written yet: the longest delay.
      expect(next()).toEqual([1000]);
      await ingest.flush();
      // Writes that take no time: the shortest.
      expect(next()).toEqual([5]);
      await ingest.flush();
      // A 40 ms write: three times that, once the running write time has caught up.
      writeTakes = 40;
      for (let i = 0; i < 30; i++) {
        next();
        await ingest.flush();
      }
      expect(next()).toEqual([120]);
      await ingest.flush();
      // Slower still: capped.
      writeTakes = 2000;
      for (let i = 0; i < 30; i++) {
        next();
        await ingest.flush();
      }
      expect(next()).toEqual([1000]);
      await ingest.flush();
    });

    it('writes as soon as maxMessages are buffered, without waiting for the timer', async () => {
      const ids = await devices(4);
      const reports: FlushReport[] = [];
      let flushed: () => void = () => undefined;
      const written = new Promise<void>((resolve) => (flushed = resolve));
      const ingest = newIngest({
        batch: { maxMessages: 4, maxDelayMs: 100 },
        onFlushed: (r) => {
          reports.push(r);
          flushed();
        },
      });
      ids.forEach((id, i) => {
        ingest.accept('telemetry', id, telemetryBytes({ deviceId: id, seq: i, start: NOW - MIN }));
      });
      await written;
      expect(reports[0]?.messages).toBe(4);
      expect(ingest.pending).toBe(0);
    });

    it('merges each window once: duplicates in a batch, across batches and after a restart', async () => {
      const [id] = await devices(1);
      const release = `rel-${uid()}`;
      const window = (seq: number) =>
        telemetryBytes({
          deviceId: id!,
          seq,
          start: NOW - 2 * MIN,
          releaseId: release,
          requests: 10,
          latencies: [1, 2],
        });
      const first = newIngest();
      first.accept('telemetry', id!, window(1));
      first.accept('telemetry', id!, window(1));
      first.accept('telemetry', id!, window(2));
      await first.flush();
      first.accept('telemetry', id!, window(2));
      await first.flush();
      await first.close();
      const restarted = newIngest();
      restarted.accept('telemetry', id!, window(1));
      await restarted.flush();

      const [agg] = await aggregatesOf(release);
      expect(agg).toMatchObject({ inferences: 20, windowsMerged: 2 });
      expect(first.metrics.dropped.get({ kind: 'telemetry', reason: 'duplicate' })).toBe(2);
      expect(restarted.metrics.dropped.get({ kind: 'telemetry', reason: 'duplicate' })).toBe(1);
    });

    it('merges profiles and latency per release x cohort x window into compact rows', async () => {
      const berlin = await devices(3, 'berlin');
      const paris = await devices(2, 'paris');
      const release = `rel-${uid()}`;
      const ingest = newIngest({
        cohortOf: cohortFromLabels({ labels: ['site'], hardwareClass: false }),
      });
      let seq = 0;
      for (const minute of [2, 1]) {
        for (const id of [...berlin, ...paris]) {
          // Two 30 s device windows per aggregation window.
          for (const half of [0, 30_000]) {
            ingest.accept(
              'telemetry',
              id,
              telemetryBytes({
                deviceId: id,
                seq: seq++,
                start: NOW - minute * MIN + half,
                durationMs: 30_000,
                releaseId: release,
                requests: 100,
                errors: 1,
                latencies: [10, 20, 30],
                profile: profileOf({ x: normals(seq, 100), 'out.class': ['a', 'b', 'a', 'a'] }),
              }),
            );
          }
        }
      }
      await ingest.flush();

      const rows = await aggregatesOf(release);
      expect(
        rows.map((r) => `${r.cohort}@${(NOW - r.windowStart.getTime()) / MIN}`).sort(),
      ).toEqual(['site=berlin@1', 'site=berlin@2', 'site=paris@1', 'site=paris@2']);
      for (const r of rows) {
        const devicesInCohort = r.cohort === 'site=berlin' ? 3 : 2;
        expect(r.windowSeconds).toBe(60);
        expect(r.windowsMerged).toBe(2 * devicesInCohort);
        expect(r.inferences).toBe(200 * devicesInCohort);
        expect(r.errors).toBe(2 * devicesInCohort);
        const profile = decodeProfile(r.profile);
        expect(profile.ok).toBe(true);
        if (!profile.ok) continue;
        const x = profile.value.get('x');
        expect(x?.kind === 'numeric' && x.summary.count).toBe(200 * devicesInCohort);
        const cls = profile.value.get('out.class');
        expect(cls?.kind === 'categorical' && cls.items.estimate('a')).toBe(6 * devicesInCohort);
        const latency = DDSketch.fromJSON(r.latency);
        expect(latency.ok && latency.value.count).toBe(6 * devicesInCohort);
        // Compact: the stored JSON does not grow with the number of values merged.
        expect(JSON.stringify(r.profile).length).toBeLessThan(20_000);
      }
      const perDevice = await db()
        .select()
        .from(telemetryDeviceWindows)
        .where(eq(telemetryDeviceWindows.releaseId, release));
      expect(perDevice).toHaveLength(10);
      expect(perDevice.every((r) => r.windowsMerged === 2 && r.inferences === 200)).toBe(true);
    });

    it('keeps per-device health from the latest window: error rate, p50/p95, EP, spool drops', async () => {
      const [id] = await devices(1);
      const ingest = newIngest();
      const latencies = Array.from({ length: 100 }, (_, i) => i + 1);
      ingest.accept(
        'telemetry',
        id!,
        telemetryBytes({
          deviceId: id!,
          seq: 10,
          start: NOW - MIN,
          requests: 200,
          errors: 10,
          latencies,
          executionProvider: 'cuda',
          droppedWindows: 2,
        }),
      );
      await ingest.flush();
      // A late window (older) adds its spool drops but does not replace the newer health.
      ingest.accept(
        'telemetry',
        id!,
        telemetryBytes({
          deviceId: id!,
          seq: 3,
          start: NOW - 30 * MIN,
          requests: 5,
          latencies: [1000],
          executionProvider: 'cpu',
          droppedWindows: 1,
          late: true,
        }),
      );
      await ingest.flush();
      const [h] = await deviceHealthOf(db(), [id!]);
      expect(h).toMatchObject({
        deviceId: id,
        releaseId: 'rel-1',
        inferences: 200,
        errors: 10,
        executionProvider: 'cuda',
        spoolDrops: 3,
        windowSeconds: 60,
        details: { errorRate: 0.05, seq: 10 },
      });
      expect(h!.windowStart.getTime()).toBe(NOW - MIN);
      expect(h!.latencyP50Ms).toBeCloseTo(50, -0.5);
      expect(h!.latencyP95Ms).toBeCloseTo(95, -0.5);
      expect((await getDevice(db(), id!))?.lastSeenAt?.getTime()).toBe(NOW);
    });

    it('records state and presence, and hands status events to onStatus after commit, in order', async () => {
      const [id] = await devices(1);
      const seen: { msg: StatusMessage; committed: number }[] = [];
      const ingest = newIngest({
        onStatus: async (msg) => {
          // The batch is committed: the device's last-seen time is already visible.
          const d = await getDevice(db(), msg.deviceId);
          seen.push({ msg, committed: d?.lastSeenAt?.getTime() ?? 0 });
        },
      });
      const at = new Date(NOW).toISOString();
      for (const state of ['downloading', 'verifying', 'staged'] as const) {
        ingest.accept(
          'status',
          id!,
          encodeMessage('status', {
            v: 1,
            type: 'status',
            deviceId: id!,
            releaseId: 'rel-2',
            directiveCounter: 4,
            state,
            at,
          }),
        );
      }
      ingest.accept(
        'state',
        id!,
        encodeMessage('state', {
          v: 1,
          type: 'state',
          deviceId: id!,
          agentVersion: '0.1.0',
          hardwareClass: 'rpi4',
          release: { releaseId: 'rel-2', model: 'm', version: '2', releaseCounter: 2 },
          previousRelease: null,
          slot: 'a',
          runtime: {
            ortVersion: '1.21.0',
            executionProvider: 'xnnpack',
            availableProviders: ['xnnpack', 'cpu'],
          },
          labels: { site: 'elsewhere' },
          rootVersion: 1,
          directiveCounter: 4,
          deployment: null,
          at,
        }),
      );
      ingest.accept(
        'presence',
        id!,
        encodeMessage('presence', { v: 1, type: 'presence', deviceId: id!, online: true, at }),
      );
      await ingest.flush();
      expect(seen.map((s) => s.msg.state)).toEqual(['downloading', 'verifying', 'staged']);
      expect(seen.every((s) => s.committed === NOW)).toBe(true);
      const device = await getDevice(db(), id!);
      expect(device).toMatchObject({
        currentReleaseId: 'rel-2',
        ortVersion: '1.21.0',
        executionProviders: ['xnnpack', 'cpu'],
        online: true,
        // Labels are the operator's: a device cannot relabel itself.
        labels: { site: 'berlin' },
      });

      ingest.presence(id!, false);
      await ingest.flush();
      expect((await getDevice(db(), id!))?.online).toBe(false);
    });

    it('drops messages of unknown devices at write time', async () => {
      const ingest = newIngest();
      const ghost = `ghost-${uid()}`;
      expect(
        ingest.accept(
          'telemetry',
          ghost,
          telemetryBytes({ deviceId: ghost, seq: 1, start: NOW - MIN }),
        ),
      ).toBe('queued');
      await ingest.flush();
      expect(ingest.metrics.dropped.get({ kind: 'telemetry', reason: 'unknown_device' })).toBe(1);
      expect(await db().$count(telemetrySeqs, eq(telemetrySeqs.deviceId, ghost))).toBe(0);
    });

    it('a failing onStatus callback is logged, not thrown, and does not stop ingest', async () => {
      const [id] = await devices(1);
      const errors: unknown[] = [];
      const logger = {
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: (obj: unknown) => {
          errors.push(obj);
        },
      };
      const ingest = newIngest({
        logger: logger,
        onStatus: () => Promise.reject(new Error('rollout engine down')),
      });
      ingest.accept(
        'status',
        id!,
        encodeMessage('status', {
          v: 1,
          type: 'status',
          deviceId: id!,
          releaseId: 'r',
          directiveCounter: 1,
          state: 'assigned',
          at: new Date(NOW).toISOString(),
        }),
      );
      ingest.accept('telemetry', id!, telemetryBytes({ deviceId: id!, seq: 1, start: NOW - MIN }));
      await ingest.flush();
      expect(errors).toHaveLength(1);
      expect(await db().$count(telemetrySeqs, eq(telemetrySeqs.deviceId, id!))).toBe(1);
    });

    it('prunes device windows older than the retention, aggregates separately, dedupe records past the horizon', async () => {
      const [id] = await devices(1);
      const release = `rel-${uid()}`;
      let now = NOW;
      const ingest = newIngest({ now: () => new Date(now), maxWindowAgeMs: 4 * 60 * MIN });
      const window = (seq: number, ago: number) =>
        telemetryBytes({ deviceId: id!, seq, start: NOW - ago * MIN, releaseId: release });
      ingest.accept('telemetry', id!, window(1, 3 * 60));
      ingest.accept('telemetry', id!, window(2, 2 * 60));
      ingest.accept('telemetry', id!, window(3, 1));
      await ingest.flush();
      const seqsLeft = () =>
        db()
          .select({ seq: telemetrySeqs.seq })
          .from(telemetrySeqs)
          .where(eq(telemetrySeqs.deviceId, id!))
          .then((rows) => rows.map((r) => r.seq).sort());

      const result = await ingest.pruneOlderThan(
        new Date(NOW - 90 * MIN),
        new Date(NOW - 150 * MIN),
      );
      expect(result.deviceWindows).toBeGreaterThanOrEqual(2);
      expect(result.aggregates).toBeGreaterThanOrEqual(1);
      const left = await db()
        .select()
        .from(telemetryDeviceWindows)
        .where(eq(telemetryDeviceWindows.releaseId, release));
      expect(left.map((r) => (NOW - r.windowStart.getTime()) / MIN)).toEqual([1]);
      expect(
        (await aggregatesOf(release)).map((r) => (NOW - r.windowStart.getTime()) / MIN).sort(),
      ).toEqual([1, 120]);
      // Windows 1 and 2 could still be re-sent and accepted: their dedupe records stay.
      expect(await seqsLeft()).toEqual([1, 2, 3]);
      ingest.accept('telemetry', id!, window(2, 2 * 60));
      await ingest.flush();
      expect(ingest.metrics.dropped.get({ kind: 'telemetry', reason: 'duplicate' })).toBe(1);

      // Two hours later window 1 is past the 4 h horizon (refused anyway): its record can go.
      now = NOW + 2 * 60 * MIN;
      await ingest.pruneOlderThan(new Date(NOW - 90 * MIN));
      expect(await seqsLeft()).toEqual([2, 3]);
      expect(ingest.accept('telemetry', id!, window(1, 3 * 60))).toBe('too_old');
    });

    it('retries a batch whose write failed, then drops it as write_failed after maxAttempts', async () => {
      const [id] = await devices(1);
      let failures = 1;
      const flaky = new Proxy(db(), {
        get(target, prop, receiver) {
          if (prop === 'transaction' && failures > 0) {
            failures--;
            return () => Promise.reject(new Error('connection reset'));
          }
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
      const errors: unknown[] = [];
      const logger = {
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: (o: unknown) => {
          errors.push(o);
        },
      };
      const ingest = newIngest({ db: flaky, logger });
      ingest.accept('telemetry', id!, telemetryBytes({ deviceId: id!, seq: 1, start: NOW - MIN }));
      await ingest.flush();
      expect(errors).toHaveLength(1);
      expect(await db().$count(telemetrySeqs, eq(telemetrySeqs.deviceId, id!))).toBe(1);

      failures = 10;
      ingest.accept('telemetry', id!, telemetryBytes({ deviceId: id!, seq: 2, start: NOW - MIN }));
      await ingest.flush();
      expect(ingest.metrics.dropped.get({ kind: 'telemetry', reason: 'write_failed' })).toBe(1);
      expect(ingest.pending).toBe(0);
    });

    it('refuses to be configured with a window that does not divide a day', () => {
      expect(() => new TelemetryIngest({ db: db(), windowMs: 7_000 })).toThrow(RangeError);
      expect(() => new TelemetryIngest({ db: db(), windowMs: 1500 })).toThrow(RangeError);
    });

    describe('rollups', () => {
      let berlin: string[];
      let paris: string[];
      let release: string;

      beforeAll(async () => {
        berlin = await devices(4, 'berlin');
        paris = await devices(4, 'paris');
        release = await seedRelease(db(), {
          inputs: [{ kind: 'tabular', input: 'in', columns: ['x'] }],
          outputs: [{ kind: 'classifier', output: 'out', scores: 'probabilities' }],
        });
        const ingest = newIngest({
          cohortOf: cohortFromLabels({ labels: ['site'], hardwareClass: false }),
        });
        let seq = 0;
        for (const minute of [1, 2, 3]) {
          for (const id of [...berlin, ...paris]) {
            const slow = paris.includes(id);
            ingest.accept(
              'telemetry',
              id,
              telemetryBytes({
                deviceId: id,
                seq: seq++,
                start: NOW - minute * MIN,
                releaseId: release,
                requests: 100,
                errors: slow ? 10 : 0,
                latencies: Array.from({ length: 100 }, (_, i) => (slow ? 100 : 10) + (i % 10)),
                profile: profileOf({ 'in.x': normals(seq, 50), 'out.class': ['a', 'b'] }),
              }),
            );
          }
        }
        await ingest.flush();
      });

      it('rolls up a release across cohorts from the aggregates', async () => {
        const h = await healthOf(db(), {
          releaseId: release,
          from: new Date(NOW - 3 * MIN),
          to: new Date(NOW),
        });
        expect(h).toMatchObject({
          source: 'aggregates',
          windows: 24,
          requests: 2400,
          errors: 120,
          errorRate: 0.05,
        });
        expect(h.p95LatencyMs).toBeGreaterThan(100);
      });

      it('rolls up one cohort', async () => {
        const h = await healthOf(db(), {
          releaseId: release,
          cohort: 'site=berlin',
          from: new Date(NOW - 3 * MIN),
          to: new Date(NOW - MIN),
        });
        expect(h).toMatchObject({ windows: 8, requests: 800, errors: 0, errorRate: 0 });
        expect(h.p95LatencyMs).toBeLessThan(20);
      });

      it('rolls up a set of devices (a wave) from the per-device windows', async () => {
        const wave = [berlin[0]!, paris[0]!, 'not-a-device'];
        const h = await healthOf(db(), {
          releaseId: release,
          deviceIds: wave,
          from: new Date(NOW - 3 * MIN),
          to: new Date(NOW),
          features: outputFeatureNames({
            inputs: [],
            outputs: [{ kind: 'classifier', output: 'out', scores: 'probabilities' }],
          }).filter((n) => n === 'out.class'),
        });
        expect(h).toMatchObject({
          source: 'device_windows',
          devices: 2,
          windows: 6,
          requests: 600,
          errors: 30,
          errorRate: 0.05,
        });
        expect(h.profile?.names).toEqual(['out.class']);
        const cls = h.profile?.get('out.class');
        expect(cls?.kind === 'categorical' && cls.items.n).toBe(12);
      });

      it("keeps only the release's output features in the per-device windows", async () => {
        const featuresOf = (rows: { profile: unknown }[]) =>
          new Set(
            rows.flatMap((r) => {
              const p = decodeProfile(r.profile);
              return p.ok ? p.value.names : [];
            }),
          );
        const perDevice = await db()
          .select({ profile: telemetryDeviceWindows.profile })
          .from(telemetryDeviceWindows)
          .where(eq(telemetryDeviceWindows.releaseId, release));
        expect(perDevice).toHaveLength(24);
        expect(featuresOf(perDevice)).toEqual(new Set(['out.class']));
        const aggregates = await db()
          .select({ profile: telemetryAggregates.profile })
          .from(telemetryAggregates)
          .where(eq(telemetryAggregates.releaseId, release));
        expect(featuresOf(aggregates)).toEqual(new Set(['in.x', 'out.class']));
      });

      it('answers nulls for a range without data', async () => {
        const h = await healthOf(db(), {
          releaseId: release,
          from: new Date(NOW + MIN),
          to: new Date(NOW + 2 * MIN),
        });
        expect(h).toMatchObject({
          windows: 0,
          requests: 0,
          errorRate: null,
          p95LatencyMs: null,
          profile: null,
        });
      });
    });

    it('writes a batch of 1000 windows (measured)', async () => {
      const ids = await devices(1000);
      const release = `rel-${uid()}`;
      const reports: FlushReport[] = [];
      const ingest = newIngest({
        batch: { maxMessages: 1000 },
        cohortOf: cohortFromLabels({ labels: ['site'], hardwareClass: false }),
        onFlushed: (r) => reports.push(r),
      });
      const payloads = ids.map((id, i) =>
        telemetryBytes({
          deviceId: id,
          seq: 1,
          start: NOW - MIN,
          releaseId: release,
          requests: 60,
          latencies: normals(i, 60, 20, 3).map(Math.abs),
          profile: profileOf({
            'in.a': normals(i, 60),
            'in.b': normals(i + 1e6, 60),
            'out.class': ['x', 'y', 'y'],
          }),
        }),
      );
      const started = performance.now();
      for (const [i, p] of payloads.entries()) ingest.accept('telemetry', ids[i]!, p);
      const accepted = performance.now();
      await ingest.flush();
      const done = performance.now();
      expect(reports.reduce((s, r) => s + r.windows, 0)).toBe(1000);
      const [agg] = await aggregatesOf(release);
      expect(agg?.windowsMerged).toBe(1000);
      console.info(
        `[${backend}] 1000 windows: decode ${(accepted - started).toFixed(0)} ms, ` +
          `write ${(done - accepted).toFixed(0)} ms in ${reports.length} batch(es) ` +
          `(${reports.map((r) => r.durationMs.toFixed(0)).join(', ')} ms)`,
      );
      // Generous bound: catches pathological regressions (per-row statements), not noise.
      expect(done - accepted).toBeLessThan(15_000);
    });
  });
}
