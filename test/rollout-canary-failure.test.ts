/**
 * A release whose health check fails on one hardware class (jetson), rolled out to a fleet of real
 * agents that runs the previous release: the canary wave's gate trips. With `onFailure: 'abort'` the
 * fleet rollback puts every device back on the old model through a NEW release (higher counter, the
 * old artifacts); with `onFailure: 'pause'` nothing moves until an operator acts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_V1, MODEL_V2, RolloutHarness, sha256 } from './rollout-harness.test-support.js';

let h: RolloutHarness;
let v1: { releaseId: string; releaseCounter: number };

const CANARY_THEN_ALL = [
  // Spread by hardware class, so a canary of two holds one jetson and one rpi5.
  { name: 'canary', size: { count: 2 }, soak: { minInferences: 2 } },
  { name: 'all', size: { percent: 100 }, soak: { minInferences: 2 } },
];

beforeAll(async () => {
  h = await RolloutHarness.start();
  await h.addFleet({ prefix: 'rpi', devices: 4, hwMix: { rpi5: 1 } });
  await h.addFleet({ prefix: 'jet', devices: 4, hwMix: { jetson: 1 }, poisoned: true });
  h.poisoned.add(sha256(MODEL_V2));
  v1 = await h.release('sensor', '1');
  const base = await h.create({
    releaseId: v1.releaseId,
    waves: [{ name: 'all', size: { percent: 100 }, soak: { minInferences: 1 } }],
    rate: { maxPerMinute: 600 },
  });
  await h.driveUntilState(base.id, ['completed']);
  expect([...new Set(h.activeReleases().values())]).toEqual([v1.releaseId]);
}, 120_000);

afterAll(async () => {
  await h.close();
});

/** Every device runs the v1 model bytes: its release is v1 or a release listing v1's model file. */
async function expectEveryDeviceOnOldModel(): Promise<void> {
  const old = await h.getRelease(v1.releaseId);
  const oldModelSha = old.document.signed.files[old.document.signed.modelFile]!.sha256;
  expect(oldModelSha).toBe(sha256(MODEL_V1));
  for (const [deviceId, releaseId] of h.activeReleases()) {
    const r = await h.getRelease(releaseId);
    expect(r.document.signed.files[r.document.signed.modelFile]!.sha256, deviceId).toBe(
      oldModelSha,
    );
  }
}

describe('a release that fails its health check on jetson devices', () => {
  it("with onFailure 'abort': the canary gate trips and the fleet rollback puts every device back on the old model via a new release", async () => {
    const v2 = await h.release('sensor', '2');
    const rollout = await h.create({
      releaseId: v2.releaseId,
      waves: CANARY_THEN_ALL,
      spreadBy: ['hardwareClass'],
      rate: { maxPerMinute: 600 },
      onFailure: 'abort',
    });
    const aborted = await h.driveUntilState(rollout.id, ['aborted', 'completed', 'paused']);
    expect(aborted.state).toBe('aborted');
    expect(aborted.waves.map((w) => w.state)).toEqual(['failed', 'pending']);
    expect(aborted.counts).toEqual({ succeeded: 1, failed: 1 });
    const gate = aborted.evaluations.find((e) => e.kind === 'wave_gate' && e.waveIndex === 0);
    expect(gate?.passed).toBe(false);

    // The fleet rollback: a rollback rollout of a new release, driven to completion.
    let rollback: (typeof aborted)[] = [];
    await h.drive(async () => {
      rollback = (await h.rollouts()).filter((r) => r.rollbackOf === rollout.id);
      return rollback.length > 0;
    });
    expect(rollback).toHaveLength(1);
    const done = await h.driveUntilState(rollback[0]!.id, ['completed', 'aborted', 'paused']);
    expect(done.state).toBe('completed');
    expect(done.kind).toBe('rollback');
    // Only the device that installed v2 had to go back (the failed jetson kept v1 serving).
    expect(done.counts).toEqual({ succeeded: 1 });
    expect((await h.rollout(rollout.id)).rollbackStatus).toBe('started');

    const restore = await h.getRelease(done.releaseId);
    const old = await h.getRelease(v1.releaseId);
    expect(restore.releaseId).not.toBe(v1.releaseId);
    expect(restore.releaseCounter).toBeGreaterThan(v2.releaseCounter);
    expect(restore.version).toBe('1');
    for (const [name, file] of Object.entries(old.document.signed.files)) {
      expect(restore.document.signed.files[name]?.sha256, name).toBe(file.sha256);
    }
    const counts: Record<string, number> = {};
    for (const r of h.activeReleases().values()) counts[r] = (counts[r] ?? 0) + 1;
    expect(counts).toEqual({ [v1.releaseId]: 7, [restore.releaseId]: 1 });
    await expectEveryDeviceOnOldModel();
  }, 90_000);

  it("with onFailure 'pause': the rollout pauses and nothing is rolled back until an operator aborts", async () => {
    const v2 = await h.release('sensor', '2');
    const rollout = await h.create({
      releaseId: v2.releaseId,
      waves: CANARY_THEN_ALL,
      spreadBy: ['hardwareClass'],
      rate: { maxPerMinute: 600 },
      onFailure: 'pause',
    });
    const paused = await h.driveUntilState(rollout.id, ['paused', 'aborted', 'completed']);
    expect(paused.state).toBe('paused');
    expect(paused.waves.map((w) => w.state)).toEqual(['failed', 'pending']);
    expect(paused.counts).toEqual({ succeeded: 1, failed: 1 });

    // Keep the system running: the paused rollout neither advances nor rolls back on its own.
    for (let i = 0; i < 5; i++) {
      await h.drive(() => true);
    }
    const still = await h.rollout(rollout.id);
    expect(still.state).toBe('paused');
    expect(still.rollbackStatus).toBeNull();
    expect(still.counts).toEqual({ succeeded: 1, failed: 1 });
    expect((await h.rollouts()).filter((r) => r.rollbackOf === rollout.id)).toEqual([]);
    const onV2 = [...h.activeReleases().values()].filter((r) => r === v2.releaseId);
    expect(onV2).toHaveLength(1);

    // The operator aborts: now the fleet rollback runs.
    await h.action(rollout.id, 'abort');
    let rollbackId: string | undefined;
    await h.drive(async () => {
      rollbackId = (await h.rollouts()).find((r) => r.rollbackOf === rollout.id)?.id;
      return rollbackId !== undefined;
    });
    expect(rollbackId).toBeDefined();
    const done = await h.driveUntilState(rollbackId!, ['completed', 'aborted', 'paused']);
    expect(done.state).toBe('completed');
    expect((await h.getRelease(done.releaseId)).releaseCounter).toBeGreaterThan(v2.releaseCounter);
    await expectEveryDeviceOnOldModel();
  }, 90_000);
});
