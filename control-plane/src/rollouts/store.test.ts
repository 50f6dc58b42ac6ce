/**
 * Rollouts in the database: every case runs against PGlite (in memory) and, when DATABASE_URL is set,
 * against PostgreSQL in a fresh `ef_test_<random>` database dropped afterwards. Cases share one
 * database per backend and keep apart by unique model names and a unique `suite` label.
 */
import { randomBytes } from 'node:crypto';
import type { DeploymentState } from '@edgefleet/protocol';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { recordArtifact } from '../db/artifacts.js';
import type { Database } from '../db/database.js';
import { createDevice } from '../db/devices.js';
import { sqlStateOf } from '../db/errors.js';
import { createModelVersion } from '../db/models.js';
import { openDatabase, type OpenedDatabase } from '../db/open.js';
import { createRelease } from '../db/releases.js';
import {
  deviceDeployments,
  gateEvaluations,
  rollouts,
  waves,
  type DeviceDeployment,
  type Release,
} from '../db/schema.js';
import {
  createRolloutEngine,
  type PendingDirective,
  type RolloutEngine,
  type RolloutEngineOptions,
} from './engine.js';
import { ACTIVE_ROLLOUT_STATES } from './machines.js';
import {
  abortRollout,
  approveRollout,
  cancelRollout,
  pauseRollout,
  promoteWave,
  resumeRollout,
  retryFailed,
  startRollout,
} from './operator-actions.js';
import { RolloutSpecSchema, type RolloutSpecInput } from './spec.js';
import { markPublishedMany, unpublishedDirectives } from './outbox.js';
import { recordDeploymentReport, recordStateReport } from './reports.js';
import {
  createRollout,
  getRollout,
  listDeployments,
  listRollouts,
  listWaves,
  rolloutProgress,
} from './store.js';
import { applyEffects, tickRollout } from './tick.js';
import { createScratchDatabase } from '../db/scratch-database.test-support.js';

const DATABASE_URL = process.env.DATABASE_URL;
const uid = (): string => randomBytes(5).toString('hex');
const sha = (seed: string): string =>
  Array.from(
    { length: 64 },
    (_, i) => '0123456789abcdef'[(seed.charCodeAt(i % seed.length) + i) % 16],
  ).join('');
const T0 = Date.UTC(2026, 0, 5, 12);
const at = (ms: number): Date => new Date(T0 + ms);
const SECOND = 1000;
const MINUTE = 60 * SECOND;

interface Fleet {
  model: string;
  label: string;
  /** Releases r1, r2, ... (counters 1, 2, ...). */
  releases: Release[];
  deviceIds: string[];
}

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** Run `op` and return its error only if it fails (undefined otherwise). */
async function errorOf(op: () => Promise<unknown>): Promise<unknown> {
  try {
    await op();
    return undefined;
  } catch (err) {
    return err;
  }
}

async function makeRelease(db: Database, model: string, tag = 'r'): Promise<Release> {
  return createRelease(db, {
    modelName: model,
    modelVersion: '1.0.0',
    build: (counter) => ({
      releaseId: `${model}-${tag}${counter}`,
      envelope: JSON.stringify({ signed: { releaseCounter: counter }, signatures: [] }),
      sha256: sha(`${model}-${tag}${counter}`),
      expiresAt: at(24 * 60 * MINUTE),
    }),
  });
}

/**
 * A model with `releases` releases and `devices` devices labelled `suite=<label>`; device i runs
 * `current(i)` (an index into the releases, or null).
 */
async function seedFleet(
  db: Database,
  options: { devices: number; releases?: number; current?: (i: number) => number | null },
): Promise<Fleet> {
  const model = `m-${uid()}`;
  const label = uid();
  const artifact = await recordArtifact(db, {
    sha256: sha(model),
    length: 100,
    mediaType: 'application/onnx',
  });
  await createModelVersion(db, {
    modelName: model,
    version: '1.0.0',
    artifactSha256: artifact.sha256,
    inspection: {},
  });
  const releases: Release[] = [];
  for (let i = 0; i < (options.releases ?? 2); i++) releases.push(await makeRelease(db, model));
  const deviceIds: string[] = [];
  for (let i = 0; i < options.devices; i++) {
    const current = options.current === undefined ? 0 : options.current(i);
    const device = await createDevice(db, {
      id: `d-${label}-${String(i).padStart(3, '0')}`,
      hardwareClass: i % 2 === 0 ? 'jetson' : 'rpi5',
      os: 'linux',
      arch: 'arm64',
      ortVersion: '1.20.0',
      labels: { suite: label, site: i % 3 === 0 ? 'berlin' : 'oslo' },
      currentReleaseId: current === null ? null : releases[current]!.releaseId,
    });
    deviceIds.push(device.id);
  }
  return { model, label, releases, deviceIds };
}

/** A fast spec over the fleet's devices, rolling out its newest release. */
function specFor(fleet: Fleet, overrides: Partial<RolloutSpecInput> = {}) {
  return RolloutSpecSchema.parse({
    releaseId: fleet.releases.at(-1)!.releaseId,
    selector: `suite=${fleet.label}`,
    rate: { maxPerMinute: 1000 },
    maxConcurrent: 1000,
    deviceTimeout: '10m',
    ...overrides,
  });
}

/** The device reports `states` in order for its deployment's current directive. */
async function report(
  db: Database,
  d: Pick<DeviceDeployment, 'deviceId' | 'directiveCounter'>,
  states: readonly DeploymentState[],
  when: Date,
  reason?: string,
): Promise<void> {
  for (const state of states) {
    const needsReason = state === 'failed' || state === 'rolled_back';
    await recordDeploymentReport(db, {
      deviceId: d.deviceId,
      directiveCounter: d.directiveCounter,
      state,
      at: when,
      ...(needsReason ? { reason: reason ?? 'load_failed' } : {}),
    });
  }
}

const SUCCESS: readonly DeploymentState[] = [
  'assigned',
  'downloading',
  'verifying',
  'staged',
  'activating',
  'soaking',
  'succeeded',
];

interface TestEngine {
  engine: RolloutEngine;
  published: PendingDirective[];
  rollbackRequests: { from: string; to: string }[];
}

function engineFor(
  db: Database,
  failFor: Set<string> = new Set(),
  tuning: Pick<RolloutEngineOptions, 'publishBatch' | 'publishConcurrency'> = {},
): TestEngine {
  const published: PendingDirective[] = [];
  const rollbackRequests: { from: string; to: string }[] = [];
  const engine = createRolloutEngine({
    db,
    publishDirective: (directive) => {
      if (failFor.delete(directive.deviceId)) return Promise.reject(new Error('broker away'));
      published.push(directive);
      return Promise.resolve();
    },
    createRollbackRelease: async ({ from, to }) => {
      rollbackRequests.push({ from: from.releaseId, to: to.releaseId });
      return makeRelease(db, from.modelName, 'rollback');
    },
    ...tuning,
  });
  return { engine, published, rollbackRequests };
}

function storeSuite(open: () => Promise<{ store: OpenedDatabase; dispose: () => Promise<void> }>) {
  let store: OpenedDatabase;
  let dispose: () => Promise<void> = () => Promise.resolve();
  const db = (): Database => store.db;

  beforeAll(async () => {
    ({ store, dispose } = await open());
  });
  afterAll(async () => {
    await dispose();
  });
  // The engine ticks every active rollout: end each case's rollouts so the next case sees only its own.
  afterEach(async () => {
    await db()
      .update(rollouts)
      .set({ state: 'cancelled' })
      .where(inArray(rollouts.state, [...ACTIVE_ROLLOUT_STATES]));
  });

  it('creates and starts a rollout with its waves and the baseline most devices run', async () => {
    const fleet = await seedFleet(db(), {
      devices: 3,
      releases: 3,
      current: (i) => (i === 0 ? 1 : 0),
    });
    const spec = specFor(fleet, {
      waves: [
        { name: 'canary', size: { count: 1 }, soak: { duration: '5m' } },
        { name: 'all', size: { percent: 100 } },
      ],
    });
    const {
      rollout,
      waves: rows,
      superseded,
    } = await createRollout(db(), {
      spec,
      createdBy: 'alice',
      now: at(0),
    });
    expect(rollout).toMatchObject({
      state: 'running',
      kind: 'deploy',
      modelName: fleet.model,
      releaseId: fleet.releases[2]!.releaseId,
      baselineReleaseId: fleet.releases[0]!.releaseId,
      selectorText: `suite=${fleet.label}`,
      selector: [{ key: 'suite', op: '=', values: [fleet.label] }],
      createdBy: 'alice',
      startedAt: at(0),
      fleetSize: null,
    });
    expect(rollout.spec).toEqual(JSON.parse(JSON.stringify(spec)));
    expect(superseded).toEqual([]);
    expect(
      rows.map((w) => [w.name, w.state, w.targetCount, w.targetPercent, w.soakSeconds]),
    ).toEqual([
      ['canary', 'pending', 1, null, 300],
      ['all', 'pending', null, 100, 0],
    ]);
  });

  it('refuses an unknown release or baseline, and a duplicate id', async () => {
    const fleet = await seedFleet(db(), { devices: 0 });
    const missing = specFor(fleet, { releaseId: 'no-such-release' });
    expect(await rejectionOf(createRollout(db(), { spec: missing }))).toMatchObject({
      code: 'EF_NOT_FOUND',
      message: 'No release no-such-release (the release to roll out).',
    });
    const badBaseline = specFor(fleet, { baselineReleaseId: 'nope' });
    expect(await rejectionOf(createRollout(db(), { spec: badBaseline }))).toMatchObject({
      code: 'EF_NOT_FOUND',
    });
    const id = `ro-${uid()}`;
    await createRollout(db(), { spec: specFor(fleet), id });
    expect(await rejectionOf(createRollout(db(), { spec: specFor(fleet), id }))).toMatchObject({
      code: 'EF_CONFLICT',
    });
  });

  it('assigns each device once, and applying the same decisions again changes nothing', async () => {
    const fleet = await seedFleet(db(), { devices: 5 });
    const { rollout } = await createRollout(db(), { spec: specFor(fleet), now: at(0) });
    const first = await tickRollout(db(), rollout.id, at(SECOND));
    expect(first.skipped).toEqual([]);
    expect(first.applied.filter((e) => e.type === 'assign')).toHaveLength(5);

    const again = await applyEffects(db(), rollout.id, first.applied, at(2 * SECOND));
    expect(again.applied).toEqual([]);
    expect(again.skipped).toHaveLength(first.applied.length);

    const rows = await listDeployments(db(), rollout.id);
    expect(rows).toHaveLength(5);
    for (const row of rows) {
      expect(row).toMatchObject({
        state: 'pending',
        directiveCounter: 1,
        attempts: 1,
        previousReleaseId: fleet.releases[0]!.releaseId,
        releaseId: fleet.releases[1]!.releaseId,
        publishedAt: null,
      });
    }
    expect((await getRollout(db(), rollout.id))!.fleetSize).toBe(5);
    expect((await listWaves(db(), rollout.id)).map((w) => w.state)).toEqual(['running']);
    // A tick later decides nothing new.
    const later = await tickRollout(db(), rollout.id, at(3 * SECOND));
    expect(later.applied).toEqual([]);
  });

  it('publishes every directive once: after a crash before publishing, and after a failed publish', async () => {
    const fleet = await seedFleet(db(), { devices: 4 });
    const spec = specFor(fleet, {
      waves: [{ name: 'all', size: { percent: 100 }, soak: { minInferences: 50 } }],
    });
    const { rollout } = await createRollout(db(), { spec, now: at(0) });
    // Decisions committed, then the process dies before anything reaches the broker.
    await tickRollout(db(), rollout.id, at(SECOND));
    expect(await unpublishedDirectives(db())).toHaveLength(4);

    const flaky = fleet.deviceIds[2]!;
    const restarted = engineFor(db(), new Set([flaky]));
    const report1 = await restarted.engine.tick(at(2 * SECOND));
    expect(report1.published).toBe(3);
    expect(report1.publishFailures).toBe(1);
    const report2 = await restarted.engine.tick(at(3 * SECOND));
    expect(report2.published).toBe(1);
    expect((await restarted.engine.tick(at(4 * SECOND))).published).toBe(0);

    const sent = restarted.published.map((p) => p.deviceId).sort();
    expect(sent).toEqual([...fleet.deviceIds].sort());
    expect(restarted.published[0]).toMatchObject({
      rolloutId: rollout.id,
      waveIndex: 0,
      directiveCounter: 1,
      soak: { minInferences: 50 },
      release: { releaseId: fleet.releases[1]!.releaseId },
    });
    const rows = await listDeployments(db(), rollout.id);
    expect(rows.every((r) => r.publishedAt !== null)).toBe(true);
  });

  it('sends a whole wave in one tick, batch after batch', async () => {
    const fleet = await seedFleet(db(), { devices: 7 });
    const { rollout } = await createRollout(db(), { spec: specFor(fleet), now: at(0) });
    const t = engineFor(db(), new Set(), { publishBatch: 3, publishConcurrency: 2 });
    const report = await t.engine.tick(at(SECOND));
    expect(report.published).toBe(7);
    expect(t.published.map((p) => p.deviceId).sort()).toEqual([...fleet.deviceIds].sort());
    const rows = await listDeployments(db(), rollout.id);
    expect(rows.every((r) => r.publishedAt !== null)).toBe(true);
    expect((await t.engine.tick(at(2 * SECOND))).published).toBe(0);
  });

  it('marks a directive sent only if its deployment still has the counter that was sent', async () => {
    const fleet = await seedFleet(db(), { devices: 2 });
    const { rollout } = await createRollout(db(), { spec: specFor(fleet), now: at(0) });
    await tickRollout(db(), rollout.id, at(SECOND));
    const pending = (await unpublishedDirectives(db())).filter((d) => d.rolloutId === rollout.id);
    expect(pending).toHaveLength(2);
    const [first, second] = pending as [PendingDirective, PendingDirective];
    const stale = { ...first, directiveCounter: first.directiveCounter + 1 };
    expect(await markPublishedMany(db(), [stale, second], at(2 * SECOND))).toBe(1);
    // Marked once: the second time only the one still unmarked counts.
    expect(await markPublishedMany(db(), [first, second], at(3 * SECOND))).toBe(1);
    expect(await markPublishedMany(db(), [], at(3 * SECOND))).toBe(0);
    const rows = await listDeployments(db(), rollout.id);
    expect(new Map(rows.map((r) => [r.id, r.publishedAt]))).toEqual(
      new Map([
        [first.deploymentId, at(3 * SECOND)],
        [second.deploymentId, at(2 * SECOND)],
      ]),
    );
  });

  it('runs waves to completion from device reports across a restart, counting exactly', async () => {
    const fleet = await seedFleet(db(), { devices: 6 });
    const spec = specFor(fleet, {
      waves: [
        { name: 'canary', size: { count: 2 } },
        { name: 'all', size: { percent: 100 } },
      ],
    });
    const { rollout } = await createRollout(db(), { spec, now: at(0) });
    const one = engineFor(db());
    await one.engine.tick(at(SECOND));
    expect(one.published).toHaveLength(2);
    for (const d of one.published) await report(db(), d, SUCCESS, at(20 * SECOND));

    // A new engine (the control plane restarted) carries on from the database.
    const two = engineFor(db());
    await two.engine.tick(at(30 * SECOND));
    expect(two.published).toHaveLength(4);
    expect(new Set([...one.published, ...two.published].map((d) => d.deviceId)).size).toBe(6);
    for (const d of two.published) await report(db(), d, SUCCESS, at(50 * SECOND));
    await two.engine.tick(at(60 * SECOND));

    expect((await getRollout(db(), rollout.id))!.state).toBe('completed');
    const rows = await listWaves(db(), rollout.id);
    expect(rows.map((w) => [w.state, w.cumulativeTarget])).toEqual([
      ['passed', 2],
      ['passed', null],
    ]);
    const deployments = await listDeployments(db(), rollout.id);
    expect(deployments.map((d) => d.waveIndex).sort()).toEqual([0, 0, 1, 1, 1, 1]);
    expect(deployments.every((d) => d.state === 'succeeded' && d.finishedAt !== null)).toBe(true);
    const evaluations = await db()
      .select()
      .from(gateEvaluations)
      .where(eq(gateEvaluations.rolloutId, rollout.id));
    expect(evaluations.map((e) => [e.kind, e.waveIndex, e.passed])).toEqual([
      ['wave_gate', 0, true],
      ['wave_gate', 1, true],
    ]);
    expect(evaluations[0]!.checks).toEqual([
      { metric: 'success_ratio', value: 1, threshold: 0.95, passed: true },
    ]);
    expect(evaluations[0]!.details).toMatchObject({ counts: { members: 2, succeeded: 2 } });
    expect(evaluations[0]!.windowStart).toEqual(at(SECOND));
  });

  it('times out a silent device and judges its wave without it', async () => {
    const fleet = await seedFleet(db(), { devices: 3 });
    const spec = specFor(fleet, {
      waves: [{ name: 'all', size: { percent: 100 }, gates: { minSuccessRatio: 0.6 } }],
    });
    const { rollout } = await createRollout(db(), { spec, now: at(0) });
    const { engine, published } = engineFor(db());
    await engine.tick(at(SECOND));
    for (const d of published.slice(1)) await report(db(), d, SUCCESS, at(30 * SECOND));
    await engine.tick(at(5 * MINUTE));
    expect((await getRollout(db(), rollout.id))!.state).toBe('running');
    await engine.tick(at(11 * MINUTE));
    expect((await getRollout(db(), rollout.id))!.state).toBe('completed');
    const silent = (await listDeployments(db(), rollout.id)).find(
      (d) => d.deviceId === published[0]!.deviceId,
    );
    expect(silent).toMatchObject({ state: 'timed_out', reason: 'timed_out' });
    // A late report for a timed-out deployment is stale.
    const late = await recordDeploymentReport(db(), {
      deviceId: silent!.deviceId,
      directiveCounter: silent!.directiveCounter,
      state: 'succeeded',
    });
    expect(late.outcome).toBe('stale');
  });

  it('records device reports: applied, repeated, stale, unknown', async () => {
    const fleet = await seedFleet(db(), { devices: 1 });
    const { rollout } = await createRollout(db(), { spec: specFor(fleet), now: at(0) });
    await tickRollout(db(), rollout.id, at(SECOND));
    const [d] = await listDeployments(db(), rollout.id);
    const send = (state: DeploymentState, reason?: string) =>
      recordDeploymentReport(db(), {
        deviceId: d!.deviceId,
        directiveCounter: d!.directiveCounter,
        state,
        at: at(2 * SECOND),
        ...(reason === undefined ? {} : { reason }),
      });
    expect((await send('downloading')).outcome).toBe('applied');
    expect((await send('downloading')).outcome).toBe('applied');
    expect((await send('assigned')).outcome).toBe('stale');
    const failed = await send('failed', 'hash_mismatch');
    expect(failed).toMatchObject({
      outcome: 'applied',
      deployment: { state: 'failed', reason: 'hash_mismatch', finishedAt: at(2 * SECOND) },
    });
    expect(
      (
        await recordDeploymentReport(db(), {
          deviceId: d!.deviceId,
          directiveCounter: 999,
          state: 'assigned',
        })
      ).outcome,
    ).toBe('unknown');
  });

  it("makes up for lost status reports from the device's state on reconnect", async () => {
    const fleet = await seedFleet(db(), { devices: 1 });
    const { rollout } = await createRollout(db(), { spec: specFor(fleet), now: at(0) });
    await tickRollout(db(), rollout.id, at(SECOND));
    const [d] = await listDeployments(db(), rollout.id);
    await recordDeploymentReport(db(), {
      deviceId: d!.deviceId,
      directiveCounter: d!.directiveCounter,
      state: 'staged',
      at: at(2 * SECOND),
    });
    // The activating ... succeeded reports were lost; the state sent on reconnect names the outcome.
    const state = (s: DeploymentState, counter = d!.directiveCounter) =>
      recordStateReport(db(), {
        deviceId: d!.deviceId,
        deployment: { directiveCounter: counter, state: s },
        at: at(5 * SECOND),
      });
    expect(await state('succeeded')).toMatchObject({
      outcome: 'applied',
      changed: true,
      deployment: { state: 'succeeded', finishedAt: at(5 * SECOND) },
    });
    // A later connect repeats it (applied, unchanged); an older state never goes back.
    expect(await state('succeeded')).toMatchObject({ outcome: 'applied', changed: false });
    expect((await state('soaking'))!.outcome).toBe('stale');
    expect((await state('assigned', 999))!.outcome).toBe('unknown');
    expect(
      await recordStateReport(db(), { deviceId: d!.deviceId, deployment: null }),
    ).toBeUndefined();
  });

  it('supersedes older rollouts of the model: unsent directives are never sent, devices move over', async () => {
    const fleet = await seedFleet(db(), { devices: 4, releases: 3 });
    const older = await createRollout(db(), {
      spec: specFor(fleet, { releaseId: fleet.releases[1]!.releaseId }),
      now: at(0),
    });
    const { engine, published } = engineFor(db());
    await engine.tick(at(SECOND));
    expect(published).toHaveLength(4);
    const [downloading, succeeded, sentOnly, unsent] = published.map((p) => p.deviceId);
    await report(db(), published[0]!, ['assigned', 'downloading'], at(2 * SECOND));
    await report(db(), published[1]!, SUCCESS, at(2 * SECOND));
    // One directive is decided but not handed to the broker yet (as after a crash).
    await db()
      .update(deviceDeployments)
      .set({ publishedAt: null })
      .where(eq(deviceDeployments.deviceId, unsent!));

    const newer = await createRollout(db(), { spec: specFor(fleet), now: at(3 * SECOND) });
    expect(newer.superseded).toEqual([older.rollout.id]);
    expect(await getRollout(db(), older.rollout.id)).toMatchObject({
      state: 'superseded',
      supersededBy: newer.rollout.id,
      reason: 'superseded',
      finishedAt: at(3 * SECOND),
    });
    const withdrawn = (await listDeployments(db(), older.rollout.id)).find(
      (d) => d.deviceId === unsent,
    );
    expect(withdrawn).toMatchObject({ state: 'failed', reason: 'superseded' });

    published.length = 0;
    await engine.tick(at(4 * SECOND));
    // Every device gets the newer release once; the withdrawn directive is never sent.
    expect(published.map((p) => [p.rolloutId, p.release.releaseId])).toEqual(
      Array.from({ length: 4 }, () => [newer.rollout.id, fleet.releases[2]!.releaseId]),
    );
    expect(published.map((p) => p.directiveCounter)).toEqual([2, 2, 2, 2]);
    // The older deployments still open were closed when the newer directive replaced them.
    const old = new Map(
      (await listDeployments(db(), older.rollout.id)).map((d) => [d.deviceId, [d.state, d.reason]]),
    );
    expect([downloading, succeeded, sentOnly, unsent].map((id) => old.get(id!))).toEqual([
      ['failed', 'superseded'],
      ['succeeded', null],
      ['failed', 'superseded'],
      ['failed', 'superseded'],
    ]);
  });

  it('starts a draft only when asked, superseding then; lists and reports progress', async () => {
    const fleet = await seedFleet(db(), { devices: 2 });
    const running = await createRollout(db(), { spec: specFor(fleet), now: at(0) });
    const draft = await createRollout(db(), { spec: specFor(fleet), draft: true, now: at(SECOND) });
    expect(draft.rollout.state).toBe('draft');
    expect(draft.superseded).toEqual([]);
    expect((await getRollout(db(), running.rollout.id))!.state).toBe('running');
    const started = await startRollout(db(), draft.rollout.id, { now: at(2 * SECOND) });
    expect(started.rollout.state).toBe('running');
    expect(started.superseded).toEqual([running.rollout.id]);

    const listed = await listRollouts(db(), { modelName: fleet.model });
    expect(listed.map((r) => [r.id, r.state])).toEqual([
      [draft.rollout.id, 'running'],
      [running.rollout.id, 'superseded'],
    ]);
    const page2 = await listRollouts(db(), {
      modelName: fleet.model,
      before: listed[0]!,
      limit: 5,
    });
    expect(page2.map((r) => r.id)).toEqual([running.rollout.id]);

    const { engine, published } = engineFor(db());
    await engine.tick(at(3 * SECOND));
    await report(db(), published[0]!, SUCCESS, at(4 * SECOND));
    const progress = (await rolloutProgress(db(), draft.rollout.id))!;
    expect(progress.counts).toEqual({ pending: 1, succeeded: 1 });
    expect(progress.waves.map((w) => [w.name, w.state, w.members, w.counts])).toEqual([
      ['all', 'running', 2, { pending: 1, succeeded: 1 }],
    ]);
    expect(progress.evaluations).toEqual([]);
    expect(await rolloutProgress(db(), 'nope')).toBeUndefined();
  });

  it('judges waves on the health the source reports against the baseline', async () => {
    const fleet = await seedFleet(db(), { devices: 2 });
    const spec = specFor(fleet, {
      waves: [{ name: 'all', size: { percent: 100 }, gates: { maxP95LatencyRatio: 1.2 } }],
    });
    const { rollout } = await createRollout(db(), { spec, now: at(0) });
    const queries: unknown[] = [];
    const published: PendingDirective[] = [];
    const engine = createRolloutEngine({
      db: db(),
      publishDirective: (d) => {
        published.push(d);
        return Promise.resolve();
      },
      createRollbackRelease: () => Promise.reject(new Error('not expected')),
      health: {
        waveHealth: (q) => {
          queries.push(q);
          return Promise.resolve({ devices: 2, inferences: 400, errorRate: 0, p95LatencyMs: 30 });
        },
        baselineHealth: (q) => {
          queries.push(q);
          return Promise.resolve({ devices: 9, inferences: 4000, errorRate: 0, p95LatencyMs: 20 });
        },
      },
    });
    await engine.tick(at(SECOND));
    for (const d of published) await report(db(), d, SUCCESS, at(10 * SECOND));
    queries.length = 0;
    await engine.tick(at(20 * SECOND));
    expect(queries).toEqual([
      {
        rolloutId: rollout.id,
        waveIndex: 0,
        releaseId: fleet.releases[1]!.releaseId,
        baselineReleaseId: fleet.releases[0]!.releaseId,
        deviceIds: [...fleet.deviceIds].sort(),
        window: { from: at(SECOND), to: at(20 * SECOND) },
      },
      {
        rolloutId: rollout.id,
        releaseId: fleet.releases[0]!.releaseId,
        window: { from: at(SECOND), to: at(20 * SECOND) },
      },
    ]);
    expect(await getRollout(db(), rollout.id)).toMatchObject({
      state: 'paused',
      reason: 'wave_failed',
    });
    const [evaluation] = (await rolloutProgress(db(), rollout.id))!.evaluations;
    expect(evaluation).toMatchObject({
      kind: 'wave_gate',
      passed: false,
      checks: [
        { metric: 'success_ratio', value: 1, threshold: 0.95, passed: true },
        { metric: 'p95_latency_ratio', value: 1.5, threshold: 1.2, passed: false },
      ],
    });
  });

  it('ticks on an interval until stopped', async () => {
    const fleet = await seedFleet(db(), { devices: 1 });
    await createRollout(db(), { spec: specFor(fleet) });
    const { engine, published } = engineFor(db());
    const stop = engine.start(5);
    await vi.waitFor(() => {
      expect(published).toHaveLength(1);
    });
    await stop();
  });

  it('keeps a device updating for another model out until that deployment ends', async () => {
    const a = await seedFleet(db(), { devices: 2 });
    const b = await seedFleet(db(), { devices: 0 });
    const first = await createRollout(db(), { spec: specFor(a), now: at(0) });
    const { engine, published } = engineFor(db());
    await engine.tick(at(SECOND));
    expect(published).toHaveLength(2);
    const other = await createRollout(db(), {
      spec: specFor(b, { selector: `suite=${a.label}` }),
      now: at(2 * SECOND),
    });
    expect(other.superseded).toEqual([]);
    published.length = 0;
    await engine.tick(at(3 * SECOND));
    expect(published).toEqual([]);
    const done = (await listDeployments(db(), first.rollout.id))[0]!;
    await report(db(), done, SUCCESS, at(4 * SECOND));
    await engine.tick(at(5 * SECOND));
    expect(published.map((p) => [p.rolloutId, p.deviceId])).toEqual([
      [other.rollout.id, done.deviceId],
    ]);
  });

  it('refuses a second open deployment of a device at the database level', async () => {
    const fleet = await seedFleet(db(), { devices: 1 });
    const one = await createRollout(db(), { spec: specFor(fleet), now: at(0) });
    await tickRollout(db(), one.rollout.id, at(SECOND));
    await engineFor(db()).engine.tick(at(SECOND));
    const two = await createRollout(db(), {
      spec: specFor(fleet),
      draft: true,
      now: at(2 * SECOND),
    });
    const err = await errorOf(() =>
      db().insert(deviceDeployments).values({
        rolloutId: two.rollout.id,
        waveIndex: 0,
        deviceId: fleet.deviceIds[0]!,
        releaseId: fleet.releases[1]!.releaseId,
        directiveCounter: 77,
      }),
    );
    expect(sqlStateOf(err)).toBe('23505');
  });

  it('aborts on tripped criteria and sends the moved devices back to their previous releases', async () => {
    // Devices 0-3 run r1, 4-5 run r2; the rollout brings r3.
    const fleet = await seedFleet(db(), {
      devices: 6,
      releases: 3,
      current: (i) => (i < 4 ? 0 : 1),
    });
    const spec = specFor(fleet, {
      waves: [{ name: 'all', size: { percent: 100 }, gates: { minSuccessRatio: 0 } }],
      abortCriteria: [{ metric: 'failed_ratio', threshold: 0.3, minDevices: 3 }],
      onFailure: 'abort',
    });
    const { rollout } = await createRollout(db(), { spec, now: at(0) });
    const t = engineFor(db());
    await t.engine.tick(at(SECOND));
    const byDevice = new Map(t.published.map((p) => [p.deviceId, p]));
    const dev = (i: number) => byDevice.get(fleet.deviceIds[i]!)!;
    await report(db(), dev(0), ['assigned', 'failed'], at(10 * SECOND), 'hash_mismatch');
    await report(db(), dev(1), ['assigned', 'failed'], at(10 * SECOND), 'incompatible');
    await report(db(), dev(2), SUCCESS, at(10 * SECOND));
    await report(db(), dev(3), ['assigned', 'activating', 'rolled_back'], at(10 * SECOND));
    await report(db(), dev(4), SUCCESS, at(10 * SECOND));
    // Device 5 stays silent: it may still install r3 when it comes back, so it goes back too.

    t.published.length = 0;
    const tick = await t.engine.tick(at(20 * SECOND));
    const aborted = (await getRollout(db(), rollout.id))!;
    expect(aborted).toMatchObject({
      state: 'aborted',
      reason: 'abort_criteria',
      rollbackStatus: 'started',
    });
    expect(t.rollbackRequests.sort((x, y) => x.to.localeCompare(y.to))).toEqual([
      { from: fleet.releases[2]!.releaseId, to: fleet.releases[0]!.releaseId },
      { from: fleet.releases[2]!.releaseId, to: fleet.releases[1]!.releaseId },
    ]);
    expect(tick.rollbacks).toHaveLength(2);
    expect(aborted.rollbackSummary).toMatchObject({
      groups: [
        { targetReleaseId: fleet.releases[0]!.releaseId, devices: 1 },
        { targetReleaseId: fleet.releases[1]!.releaseId, devices: 2 },
      ],
      noPreviousRelease: 0,
      unknownRelease: 0,
      unchanged: 0,
    });
    const criteria = await db()
      .select()
      .from(gateEvaluations)
      .where(eq(gateEvaluations.rolloutId, rollout.id));
    expect(criteria.map((c) => [c.kind, c.passed, c.checks])).toEqual([
      [
        'abort_criteria',
        false,
        [{ metric: 'failed_ratio', value: 0.4, threshold: 0.3, passed: false }],
      ],
    ]);

    const backRollouts = await db()
      .select()
      .from(rollouts)
      .where(eq(rollouts.rollbackOf, rollout.id));
    expect(backRollouts.map((r) => [r.kind, r.state, r.modelName])).toEqual([
      ['rollback', 'running', fleet.model],
      ['rollback', 'running', fleet.model],
    ]);

    await t.engine.tick(at(30 * SECOND));
    const back = new Map(t.published.map((p) => [p.deviceId, p]));
    expect([...back.keys()].sort()).toEqual([2, 4, 5].map((i) => fleet.deviceIds[i]!));
    const target = (i: number) =>
      backRollouts.find((r) => r.id === back.get(fleet.deviceIds[i]!)!.rolloutId)!
        .rollbackTargetReleaseId;
    expect([target(2), target(4), target(5)]).toEqual([
      fleet.releases[0]!.releaseId,
      fleet.releases[1]!.releaseId,
      fleet.releases[1]!.releaseId,
    ]);
    // New releases with higher counters, pointing at the old artifacts.
    for (const p of back.values()) {
      expect(p.release.releaseCounter).toBeGreaterThan(fleet.releases[2]!.releaseCounter);
      expect(p.directiveCounter).toBe(2);
    }
    // The silent device's old deployment was closed when the rollback directive replaced it.
    const silentRow = (await listDeployments(db(), rollout.id)).find(
      (d) => d.deviceId === fleet.deviceIds[5],
    );
    expect(silentRow).toMatchObject({ state: 'failed', reason: 'superseded' });
    // Ticking again neither repeats the rollback nor re-sends anything.
    t.published.length = 0;
    const again = await t.engine.tick(at(40 * SECOND));
    expect(again.rollbacks).toEqual([]);
    expect(t.published).toEqual([]);
    expect(await rejectionOf(abortRollout(db(), backRollouts[0]!.id))).toMatchObject({
      code: 'EF_CONFLICT',
    });
  });

  it('lets operators approve, pause, resume, retry, promote and cancel, and says why not', async () => {
    const fleet = await seedFleet(db(), { devices: 3 });
    const spec = specFor(fleet, {
      waves: [
        { name: 'canary', size: { count: 2 } },
        { name: 'all', size: { percent: 100 } },
      ],
      approval: { beforeFirstWave: true },
    });
    const { rollout } = await createRollout(db(), { spec, now: at(0) });
    expect(rollout.state).toBe('awaiting_approval');
    expect(await rejectionOf(pauseRollout(db(), rollout.id))).toMatchObject({
      code: 'EF_CONFLICT',
      message: 'A rollout in state awaiting_approval cannot pause.',
    });
    expect(await rejectionOf(approveRollout(db(), 'no-such-rollout'))).toMatchObject({
      code: 'EF_NOT_FOUND',
    });
    const approved = await approveRollout(db(), rollout.id, { actor: 'bob', now: at(SECOND) });
    expect(approved).toMatchObject({ state: 'running', approvedBy: 'bob', approvedAt: at(SECOND) });
    expect((await listWaves(db(), rollout.id))[0]!.approvedBy).toBe('bob');

    const { engine, published } = engineFor(db());
    await engine.tick(at(2 * SECOND));
    expect(published).toHaveLength(2);
    await report(db(), published[0]!, ['assigned', 'failed'], at(5 * SECOND), 'disk_full');
    await report(db(), published[1]!, SUCCESS, at(5 * SECOND));
    await engine.tick(at(10 * SECOND));
    expect((await getRollout(db(), rollout.id))!).toMatchObject({
      state: 'paused',
      reason: 'wave_failed',
    });
    expect(await rejectionOf(resumeRollout(db(), rollout.id))).toMatchObject({
      code: 'EF_CONFLICT',
      message:
        'Wave 0 (canary) failed its gate: promote it to go on, retry its failed devices, or cancel or abort the rollout.',
    });

    const retry = await retryFailed(db(), rollout.id, { now: at(11 * SECOND) });
    expect(retry.retried).toBe(1);
    expect((await listWaves(db(), rollout.id))[0]!.state).toBe('running');
    await resumeRollout(db(), rollout.id, { now: at(12 * SECOND) });
    published.length = 0;
    await engine.tick(at(30 * SECOND));
    expect(published).toEqual([]); // less than a minute since its last directive
    await engine.tick(at(70 * SECOND));
    expect(published.map((p) => [p.deviceId, p.directiveCounter])).toEqual([
      [published[0]!.deviceId, 2],
    ]);
    const retried = (await listDeployments(db(), rollout.id)).find(
      (d) => d.deviceId === published[0]!.deviceId,
    );
    expect(retried).toMatchObject({ state: 'pending', attempts: 2, reason: null });

    // Promote the canary without waiting for the retried device; the last wave starts.
    const promoted = await promoteWave(db(), rollout.id, { actor: 'carol', now: at(80 * SECOND) });
    expect(promoted).toMatchObject({ state: 'passed', waveIndex: 0 });
    published.length = 0;
    await engine.tick(at(90 * SECOND));
    expect(published).toHaveLength(1);
    expect(published[0]!.waveIndex).toBe(1);

    const cancelled = await cancelRollout(db(), rollout.id, { now: at(100 * SECOND) });
    expect(cancelled).toMatchObject({ state: 'cancelled', reason: 'cancelled' });
    expect(await rejectionOf(resumeRollout(db(), rollout.id))).toMatchObject({
      code: 'EF_CONFLICT',
    });
    expect(await rejectionOf(retryFailed(db(), rollout.id))).toMatchObject({ code: 'EF_CONFLICT' });
    const kinds = await db()
      .select({ kind: gateEvaluations.kind, passed: gateEvaluations.passed })
      .from(gateEvaluations)
      .where(eq(gateEvaluations.rolloutId, rollout.id));
    expect(kinds).toEqual([
      { kind: 'wave_gate', passed: false },
      { kind: 'promote', passed: true },
    ]);
    const w = await db().select().from(waves).where(eq(waves.rolloutId, rollout.id));
    expect(w.find((x) => x.waveIndex === 0)!.verdict).toMatchObject({ promotedBy: 'carol' });
  });
}

describe('rollout store on PGlite', () => {
  storeSuite(async () => {
    const store = await openDatabase();
    return { store, dispose: () => store.close() };
  });
});

describe.skipIf(DATABASE_URL === undefined)(
  `rollout store on PostgreSQL${DATABASE_URL === undefined ? ' (skipped: set DATABASE_URL to run)' : ''}`,
  () => {
    storeSuite(async () => {
      const scratch = await createScratchDatabase(DATABASE_URL!);
      const store = await openDatabase({ databaseUrl: scratch.url });
      return {
        store,
        dispose: async () => {
          await store.close();
          await scratch.drop();
        },
      };
    });
  },
);
