/**
 * Who a running rollout covers (ARCHITECTURE §4): a device that enrolls while it runs and matches the
 * selector is picked up; a device that never reports counts as `timed_out` and the rollout finishes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RolloutHarness } from './rollout-harness.test-support.js';

const MAIN = 6;
let h: RolloutHarness;
let version = 0;

async function nextRelease(): Promise<string> {
  version = (version % 2) + 1;
  return (await h.release('sensor', String(version))).releaseId;
}

beforeAll(async () => {
  h = await RolloutHarness.start();
  await h.addFleet({ prefix: 'main', devices: MAIN, labels: { group: 'main' } });
  await h.addFleet({ prefix: 'quiet', devices: 2, labels: { group: 'quiet' } });
}, 120_000);

afterAll(async () => {
  await h.close();
});

describe('rollout membership', () => {
  it('picks up a device that enrolls after the rollout started', async () => {
    const releaseId = await nextRelease();
    const rollout = await h.create({
      releaseId,
      selector: 'group=main',
      waves: [
        { name: 'canary', size: { count: 2 }, soak: { minInferences: 2 } },
        { name: 'all', size: { percent: 100 }, soak: { minInferences: 2 } },
      ],
      rate: { maxPerMinute: 600 },
      // Hold the rollout after the canary so the device surely joins while it runs.
      approval: { betweenWaves: true },
    });
    const held = await h.driveUntilState(rollout.id, ['awaiting_approval']);
    expect(held.fleetSize).toBe(MAIN);
    expect(held.waves.map((w) => w.state)).toEqual(['passed', 'pending']);
    const late = await h.addFleet({ prefix: 'late', devices: 1, labels: { group: 'main' } });
    await h.action(rollout.id, 'approve');
    const done = await h.driveUntilState(rollout.id, ['completed', 'paused', 'aborted']);
    expect(done.state).toBe('completed');
    expect(done.counts).toEqual({ succeeded: MAIN + 1 });
    expect(done.waves.map((w) => w.members)).toEqual([2, MAIN - 1]);
    expect(late.devices[0]!.agent.status().activeRelease?.releaseId).toBe(releaseId);
  }, 90_000);

  it('counts silent devices as timed_out after the device timeout and still finishes', async () => {
    await h.stopFleet('quiet');
    const releaseId = await nextRelease();
    const rollout = await h.create({
      releaseId,
      selector: 'group in (main,quiet)',
      waves: [
        {
          name: 'all',
          size: { percent: 100 },
          soak: { minInferences: 1 },
          gates: { minSuccessRatio: 0.5 },
        },
      ],
      rate: { maxPerMinute: 600 },
      deviceTimeout: '15s',
    });
    const live = () => h.devices;
    const done = await h.driveUntilState(rollout.id, ['completed', 'paused', 'aborted'], {
      devices: live,
    });
    expect(done.state).toBe('completed');
    expect(done.counts).toEqual({ succeeded: live().length, timed_out: 2 });
    const timedOut = await h.api.json<{ devices: { id: string }[] }>(
      'GET',
      '/v1/devices?selector=group%3Dquiet',
    );
    expect(timedOut.devices).toHaveLength(2);
  }, 90_000);
});
