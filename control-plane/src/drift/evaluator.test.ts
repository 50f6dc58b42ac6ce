import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createRandom,
  nextFloat,
  nextNormal,
  type FeatureSpec,
  type Profile,
  type RandomSource,
} from '@edgefleet/protocol';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordArtifact } from '../db/artifacts.js';
import type { Database } from '../db/database.js';
import { createModelVersion } from '../db/models.js';
import { createRelease } from '../db/releases.js';
import {
  driftEvents,
  driftWindowResults,
  retrainingRequests,
  webhookDeliveries,
} from '../db/schema.js';
import { cohortFromLabels } from '../telemetry/cohort.js';
import {
  BACKENDS,
  ManualTimers,
  openTestDatabase,
  profileOf,
  seedDevice,
  telemetryBytes,
  type TestDatabase,
} from '../telemetry/fixtures.test-support.js';
import { TelemetryIngest } from '../telemetry/ingest.js';
import { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { verifyWebhookSignature } from '../webhooks/signature.js';
import {
  createWebhook,
  deleteWebhook,
  enqueueWebhookEvent,
  listWebhooks,
} from '../webhooks/store.js';
import { DriftEvaluator, splitFeatureSets, type DriftEvaluatorOptions } from './evaluator.js';
import { requestJson, retrainingIdempotencyKey } from './events.js';
import {
  driftOverview,
  getMonitorConfig,
  listDriftEvents,
  listRetrainingRequests,
  markRetrainingRequestDelivered,
  pruneDriftHistory,
  setMonitorConfig,
} from './store.js';

const MIN = 60_000;
const T0 = Date.parse('2031-05-04T12:00:00.000Z');
const uid = () => randomBytes(4).toString('hex');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const SPEC: FeatureSpec = {
  inputs: [{ kind: 'tabular', input: 'in', columns: ['a', 'b'] }],
  outputs: [{ kind: 'classifier', output: 'out', classes: ['no', 'yes'], scores: 'probabilities' }],
};

interface Shift {
  /** Mean of `in.a` (reference: 0, sd 1). */
  readonly a: number;
  /** Probability of class `yes` (reference: 0.3). */
  readonly yes: number;
}
const REFERENCE_LIKE: Shift = { a: 0, yes: 0.3 };
const SHIFTED: Shift = { a: 1, yes: 0.7 };

/** n samples of the model's features: in.a ~ N(a, 1), in.b ~ N(5, 2), out.class, out.top_score. */
function sampleProfile(r: RandomSource, n: number, shift: Shift, kll: RandomSource): Profile {
  const a: number[] = [];
  const b: number[] = [];
  const cls: string[] = [];
  const score: number[] = [];
  for (let i = 0; i < n; i++) {
    a.push(shift.a + nextNormal(r));
    b.push(5 + 2 * nextNormal(r));
    cls.push(nextFloat(r) < shift.yes ? 'yes' : 'no');
    score.push(0.5 + 0.5 * nextFloat(r));
  }
  return profileOf({ 'in.a': a, 'in.b': b, 'out.class': cls, 'out.top_score': score }, kll);
}

const REFERENCE = sampleProfile(createRandom(1), 20_000, REFERENCE_LIKE, createRandom(2));

async function seedRelease(db: Database, model: string, releaseId: string): Promise<void> {
  const artifact = await recordArtifact(db, {
    sha256: sha(`${model}-onnx`),
    length: 1,
    mediaType: 'application/onnx',
  });
  await createModelVersion(db, {
    modelName: model,
    version: '1.0.0',
    artifactSha256: artifact.sha256,
    inspection: {},
    featureSpec: SPEC,
  });
  await createRelease(db, {
    modelName: model,
    modelVersion: '1.0.0',
    build: () => ({
      releaseId,
      envelope: '{}',
      sha256: sha(releaseId),
      expiresAt: new Date(T0 + 365 * 86_400_000),
    }),
  });
}

/** A fleet of devices in two sites sending one window a minute through the real ingest path. */
class Fleet {
  readonly sites: Record<string, string[]> = {};
  private readonly data = createRandom(99);
  private readonly kll = createRandom(98);
  private seq = 0;

  constructor(
    private readonly db: Database,
    private readonly releaseId: string,
    private readonly clock: { now: number },
  ) {}

  async enroll(site: string, n: number): Promise<void> {
    const ids = Array.from({ length: n }, () => `dev-${uid()}`);
    for (const id of ids) await seedDevice(this.db, id, { site });
    this.sites[site] = ids;
  }

  /** One window (minute `m` after T0) from every device; `shifted` sites send shifted data. */
  async minute(m: number, shifted: Record<string, Shift> = {}): Promise<void> {
    this.clock.now = T0 + (m + 1) * MIN;
    const ingest = new TelemetryIngest({
      db: this.db,
      now: () => new Date(this.clock.now),
      timers: new ManualTimers(),
      cohortOf: cohortFromLabels({ labels: ['site'], hardwareClass: false }),
      random: createRandom(m),
    });
    for (const [site, ids] of Object.entries(this.sites)) {
      for (const id of ids) {
        ingest.accept(
          'telemetry',
          id,
          telemetryBytes({
            deviceId: id,
            seq: this.seq++,
            start: T0 + m * MIN,
            releaseId: this.releaseId,
            requests: 100,
            latencies: [10, 12, 15],
            profile: sampleProfile(this.data, 100, shifted[site] ?? REFERENCE_LIKE, this.kll),
          }),
        );
      }
    }
    await ingest.close();
  }
}

for (const backend of BACKENDS) {
  describe(`drift evaluator on ${backend}`, () => {
    let store: TestDatabase;
    const db = (): Database => store.db;
    const clock = { now: T0 };

    beforeAll(async () => {
      store = await openTestDatabase(backend);
    });
    afterAll(async () => {
      await store.close();
    });

    const evaluator = (options: Partial<DriftEvaluatorOptions> = {}) =>
      new DriftEvaluator({
        db: db(),
        now: () => new Date(clock.now),
        referenceProfile: () => REFERENCE,
        random: createRandom(5),
        ...options,
      });

    /** Evaluate when minute m's window (and everything before it) is closed. */
    const closedAfter = (m: number) => {
      clock.now = T0 + (m + 2) * MIN;
    };

    describe('a fleet that drifts in one site, and recovers', () => {
      const model = `churn-${uid()}`;
      const releaseId = `${model}-r1`;
      let fleet: Fleet;
      const paris = 'site=paris';

      beforeAll(async () => {
        for (const w of await listWebhooks(db())) await deleteWebhook(db(), w.id);
        await seedRelease(db(), model, releaseId);
        fleet = new Fleet(db(), releaseId, clock);
        await fleet.enroll('berlin', 3);
        await fleet.enroll('paris', 3);
      });

      it('stays quiet over many reference-like windows', async () => {
        for (let m = 0; m < 10; m++) await fleet.minute(m);
        closedAfter(9);
        const summary = await evaluator().evaluate();
        expect(summary.windows).toBe(20);
        expect(summary.opened).toEqual([]);
        expect(summary.skipped).toEqual([]);
        expect(await listDriftEvents(db(), { model })).toEqual([]);
        const overview = await driftOverview(db(), {
          model,
          from: new Date(T0),
          to: new Date(T0 + 10 * MIN),
        });
        expect(
          overview.monitors.map((m) => `${m.cohort}/${m.featureSet}:${m.status}`).sort(),
        ).toEqual([
          'site=berlin/inputs:ok',
          'site=berlin/outputs:ok',
          'site=paris/inputs:ok',
          'site=paris/outputs:ok',
        ]);
        const a = overview.series.find((s) => s.cohort === paris && s.feature === 'in.a');
        expect(a?.metric).toBe('js');
        expect(a?.points).toHaveLength(10);
        expect(a?.points.every((p) => p.status === 'ok' && p.n === 300)).toBe(true);
      });

      it('opens an event for the shifted cohort only, naming the shifted features, within three windows', async () => {
        await createWebhook(db(), {
          url: 'https://retrain.example/hook',
          events: ['retraining.requested'],
        });
        for (let m = 10; m < 15; m++) await fleet.minute(m, { paris: SHIFTED });
        closedAfter(14);
        const summary = await evaluator().evaluate();
        expect(summary.windows).toBe(10);

        const opened = await listDriftEvents(db(), { model, status: 'firing' });
        expect(opened.map((e) => `${e.cohort}/${e.featureSet}`).sort()).toEqual([
          `${paris}/inputs`,
          `${paris}/outputs`,
        ]);
        const inputs = opened.find((e) => e.featureSet === 'inputs')!;
        const outputs = opened.find((e) => e.featureSet === 'outputs')!;
        // Input drift names in.a (shifted), not in.b (unchanged); prediction drift names out.class.
        expect(inputs.feature).toBe('in.a');
        expect(inputs.features.map((f) => f.feature)).toEqual(['in.a']);
        expect(outputs.features.map((f) => f.feature)).toContain('out.class');
        expect(outputs.features.map((f) => f.feature)).not.toContain('out.top_score');
        for (const e of opened) {
          // The shift started at minute 10: M=2 of N=3 fires at minute 11, at most minute 12.
          expect(e.windowStart.getTime() - (T0 + 10 * MIN)).toBeLessThanOrEqual(2 * MIN);
          expect(e.value).toBeGreaterThan(e.threshold);
        }

        const requests = await listRetrainingRequests(db(), { model });
        expect(requests).toHaveLength(2);
        for (const r of requests) {
          const event = opened.find((e) => e.id === r.driftEventId)!;
          expect(r).toMatchObject({
            modelName: model,
            releaseId,
            cohort: paris,
            featureSet: event.featureSet,
            status: 'pending',
            idempotencyKey: retrainingIdempotencyKey(model, releaseId, paris, event.id),
            samples: { inferences: 300, deviceWindows: 3 },
          });
          expect(r.windowStart?.getTime()).toBe(event.windowStart.getTime());
          expect(r.windowEnd?.getTime()).toBe(event.windowStart.getTime() + MIN);
          for (const f of r.features) {
            expect(f).toEqual({
              feature: expect.any(String),
              metric: expect.any(String),
              value: expect.any(Number),
              threshold: expect.any(Number),
            });
          }
        }
        expect(summary.retrainingRequests).toHaveLength(2);
        const queued = await db()
          .select()
          .from(webhookDeliveries)
          .where(eq(webhookDeliveries.event, 'retraining.requested'));
        expect(queued.map((d) => (d.payload.data as { id: string }).id).sort()).toEqual(
          requests.map((r) => r.id).sort(),
        );
      });

      it('delivers each retraining request to a webhook receiver once, signed', async () => {
        for (const w of await listWebhooks(db())) await deleteWebhook(db(), w.id);
        const bodies: { headers: IncomingHttpHeaders; body: string }[] = [];
        const server = createServer((req, res) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => {
            bodies.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
            res.end();
          });
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        try {
          const port = (server.address() as AddressInfo).port;
          const secret = 'whsec_e2e_secret_0123456789';
          await createWebhook(db(), {
            url: `http://127.0.0.1:${port}/retrain`,
            events: ['retraining.requested'],
            secret,
          });
          // Re-queue the two requests for this webhook, as the evaluator does on open.
          for (const r of await listRetrainingRequests(db(), { model })) {
            await enqueueWebhookEvent(
              db(),
              'retraining.requested',
              requestJson(r),
              new Date(clock.now),
            );
          }
          const dispatcher = new WebhookDispatcher({
            db: db(),
            now: () => new Date(clock.now),
            onDelivered: async (d) => {
              await markRetrainingRequestDelivered(db(), d);
            },
          });
          const results = await dispatcher.runDue();
          expect(results.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
          expect(await dispatcher.runDue()).toEqual([]);
          expect(bodies).toHaveLength(2);
          for (const b of bodies) {
            const stamp = Number(b.headers['x-edgefleet-timestamp']);
            expect(verifyWebhookSignature(secret, b.headers, b.body, 300, stamp).ok).toBe(true);
            expect(JSON.parse(b.body)).toMatchObject({
              type: 'retraining.requested',
              data: { model, releaseId, cohort: paris },
            });
          }
          const statuses = (await listRetrainingRequests(db(), { model })).map((r) => r.status);
          expect(statuses).toEqual(['delivered', 'delivered']);
        } finally {
          await new Promise<void>((resolve) => {
            server.close(() => {
              resolve();
            });
          });
        }
      });

      it('a restarted evaluator duplicates no event, window or request', async () => {
        const restarted = evaluator();
        const again = await restarted.evaluate();
        expect(again).toMatchObject({ windows: 0, opened: [], retrainingRequests: [] });

        for (let m = 15; m < 17; m++) await fleet.minute(m, { paris: SHIFTED });
        closedAfter(16);
        const next = await evaluator().evaluate();
        expect(next.opened).toEqual([]);
        expect(next.updated.length).toBeGreaterThan(0);
        expect(await listDriftEvents(db(), { model })).toHaveLength(2);
        expect(await listRetrainingRequests(db(), { model })).toHaveLength(2);
        const results = await db()
          .select()
          .from(driftWindowResults)
          .where(
            and(eq(driftWindowResults.modelName, model), eq(driftWindowResults.cohort, paris)),
          );
        // 17 windows x 2 feature sets, each once.
        expect(results).toHaveLength(34);
      });

      it('two evaluators at once evaluate each window once', async () => {
        for (let m = 17; m < 19; m++) await fleet.minute(m, { paris: SHIFTED });
        closedAfter(18);
        const [a, b] = await Promise.all([evaluator().evaluate(), evaluator().evaluate()]);
        expect(a.windows + b.windows).toBe(4);
        expect(await listDriftEvents(db(), { model })).toHaveLength(2);
      });

      it('resolves the events after enough windows under the lower threshold', async () => {
        for (let m = 19; m < 22; m++) await fleet.minute(m);
        closedAfter(21);
        const summary = await evaluator().evaluate();
        expect(summary.resolved.map((e) => e.featureSet).sort()).toEqual(['inputs', 'outputs']);
        expect(await listDriftEvents(db(), { model, status: 'firing' })).toEqual([]);
        const overview = await driftOverview(db(), {
          model,
          cohort: paris,
          from: new Date(T0),
          to: new Date(T0 + 30 * MIN),
        });
        expect(overview.monitors.every((m) => m.status === 'ok' && m.openEvent === null)).toBe(
          true,
        );
        const resolved = await db()
          .select()
          .from(driftEvents)
          .where(and(eq(driftEvents.modelName, model), eq(driftEvents.status, 'resolved')));
        expect(resolved).toHaveLength(2);
        expect(await db().$count(retrainingRequests, eq(retrainingRequests.modelName, model))).toBe(
          2,
        );
      });
    });

    it('skips releases without a reference, unknown releases and disabled monitors', async () => {
      const model = `m-${uid()}`;
      const releaseId = `${model}-r1`;
      await seedRelease(db(), model, releaseId);
      const fleet = new Fleet(db(), releaseId, clock);
      await fleet.enroll('berlin', 1);
      await fleet.minute(100);
      const ghostFleet = new Fleet(db(), `ghost-${uid()}`, clock);
      await ghostFleet.enroll('berlin', 1);
      await ghostFleet.minute(100);
      closedAfter(100);

      const noReference = await evaluator({ referenceProfile: () => undefined }).evaluate();
      expect(noReference.skipped).toContainEqual({ releaseId, reason: 'no reference profile' });
      expect(noReference.skipped.map((s) => s.reason)).toContain('unknown release');

      await setMonitorConfig(db(), model, { enabled: false });
      expect((await getMonitorConfig(db(), model))?.enabled).toBe(false);
      const disabled = await evaluator().evaluate();
      expect(disabled.skipped).toContainEqual({ releaseId, reason: 'monitor disabled' });
      expect(await listDriftEvents(db(), { model })).toEqual([]);
    });

    it('compares with a baseline window when one is configured', async () => {
      const model = `m-${uid()}`;
      const releaseId = `${model}-r1`;
      await seedRelease(db(), model, releaseId);
      const fleet = new Fleet(db(), releaseId, clock);
      await fleet.enroll('berlin', 3);
      // Baseline: minutes 200-204 (reference-like); the release has no reference profile at all.
      for (let m = 200; m < 205; m++) await fleet.minute(m);
      await setMonitorConfig(db(), model, {
        featureSets: 'single',
        fireAfter: { m: 2, n: 2 },
        baseline: {
          from: new Date(T0 + 200 * MIN).toISOString(),
          to: new Date(T0 + 205 * MIN).toISOString(),
        },
      });
      for (let m = 205; m < 208; m++) await fleet.minute(m, { berlin: SHIFTED });
      closedAfter(207);
      const summary = await evaluator({ referenceProfile: () => undefined }).evaluate();
      expect(summary.skipped).toEqual([]);
      expect(summary.opened).toHaveLength(1);
      expect(summary.opened[0]).toMatchObject({ featureSet: 'all', cohort: 'site=berlin' });
      expect(summary.opened[0]!.windowStart.getTime()).toBe(T0 + 206 * MIN);
      expect(summary.opened[0]!.features.map((f) => f.feature)).toContain('in.a');
    });

    it('start() evaluates on its timer until stop(), one pass at a time', async () => {
      const model = `m-${uid()}`;
      const releaseId = `${model}-r1`;
      await seedRelease(db(), model, releaseId);
      const fleet = new Fleet(db(), releaseId, clock);
      await fleet.enroll('berlin', 2);
      await fleet.minute(300);
      closedAfter(300);
      const timers = new ManualTimers();
      let passes = 0;
      const e = evaluator({
        timers,
        describeRelease: (id) => {
          if (id === releaseId) passes++;
          return id === releaseId ? { model, featureSpec: SPEC } : undefined;
        },
      });
      e.start(5000);
      expect(timers.armed).toEqual([0]);
      timers.fireAll();
      await e.stop();
      expect(passes).toBe(1); // release info is cached after the first pass
      const results = await db()
        .select()
        .from(driftWindowResults)
        .where(eq(driftWindowResults.modelName, model));
      expect(results.map((r) => r.featureSet).sort()).toEqual(['inputs', 'outputs']);
      expect(timers.armed).toEqual([]);
    });

    it('prunes old window results and resolved events, keeping open ones and requests', async () => {
      const model = `m-${uid()}`;
      const releaseId = `${model}-r1`;
      await seedRelease(db(), model, releaseId);
      const fleet = new Fleet(db(), releaseId, clock);
      await fleet.enroll('berlin', 3);
      const p = { featureSets: 'single' as const, fireAfter: { m: 1, n: 1 }, clearAfter: 1 };
      await setMonitorConfig(db(), model, { ...p, cooldownMs: 0 });
      await fleet.minute(400, { berlin: SHIFTED }); // opens
      await fleet.minute(401); // resolves
      await fleet.minute(402, { berlin: SHIFTED }); // opens again
      closedAfter(402);
      await evaluator().evaluate();
      expect((await listDriftEvents(db(), { model })).map((e) => e.status)).toEqual([
        'firing',
        'resolved',
      ]);
      const pruned = await pruneDriftHistory(db(), new Date(clock.now + MIN));
      expect(pruned.events).toBeGreaterThanOrEqual(1);
      expect((await listDriftEvents(db(), { model })).map((e) => e.status)).toEqual(['firing']);
      const requests = await listRetrainingRequests(db(), { model });
      expect(requests).toHaveLength(2);
      expect(requests.filter((r) => r.driftEventId === null)).toHaveLength(1);
      expect(await db().$count(driftWindowResults, eq(driftWindowResults.modelName, model))).toBe(
        0,
      );
      // The open event is still the monitor's current status.
      const overview = await driftOverview(db(), {
        model,
        from: new Date(T0),
        to: new Date(clock.now),
      });
      expect(overview.monitors).toMatchObject([{ status: 'firing', featureSet: 'all' }]);
    });

    it('refuses invalid monitor configurations and unknown models', async () => {
      await expect(
        setMonitorConfig(db(), 'no-such-model', { minSamples: 10 }),
      ).rejects.toMatchObject({ code: 'EF_NOT_FOUND' });
      await expect(
        setMonitorConfig(db(), 'no-such-model', { fireAfter: { m: 3, n: 2 } }),
      ).rejects.toMatchObject({ code: 'EF_BAD_REQUEST' });
    });
  });
}

describe('splitFeatureSets', () => {
  const f = (feature: string) =>
    ({ feature, status: 'ok' }) as unknown as Parameters<typeof splitFeatureSets>[0][number];

  it('splits by the feature spec into inputs and outputs', () => {
    const sets = splitFeatureSets([f('in.a'), f('out.class'), f('x')], SPEC, 'split');
    expect([...sets.keys()].sort()).toEqual(['inputs', 'outputs']);
    expect(sets.get('outputs')!.map((x) => x.feature)).toEqual(['out.class']);
    expect(sets.get('inputs')!.map((x) => x.feature)).toEqual(['in.a', 'x']);
  });

  it('keeps one set without a spec or in single mode', () => {
    expect([...splitFeatureSets([f('in.a')], undefined, 'split').keys()]).toEqual(['all']);
    expect([...splitFeatureSets([f('in.a')], SPEC, 'single').keys()]).toEqual(['all']);
  });
});
