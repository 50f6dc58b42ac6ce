/**
 * The fleet simulator's rollout scenarios, against a real control plane, at small N (12 agents on
 * real MQTT and onnxruntime): each scenario's own checks must all pass.
 */
import {
  canaryFailureAutoRollback,
  keyRotationDuringFleet,
  stagedRolloutHappy,
  type ScenarioResult,
} from '@edgefleet/fleet-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScenarioWorld, type ScenarioWorld } from './support/scenario-world.js';

let world: ScenarioWorld;

beforeAll(async () => {
  world = await startScenarioWorld({ devices: 12 });
}, 60_000);

afterAll(async () => {
  await world.close();
});

function failed(r: ScenarioResult): string[] {
  return r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
}

describe('rollout scenarios (12 simulated devices)', () => {
  it('staged-rollout-happy: three waves pass and every device ends on the new release', async () => {
    const r = await stagedRolloutHappy(world.ctx);
    expect(failed(r)).toEqual([]);
    expect(r.ok).toBe(true);
  }, 60_000);

  it('canary-failure-auto-rollback: a failing hardware class aborts the rollout and the fleet goes back', async () => {
    const r = await canaryFailureAutoRollback(world.ctx);
    expect(failed(r)).toEqual([]);
    expect(r.ok).toBe(true);
  }, 60_000);

  it('key-rotation-during-fleet: after a deploy-key rotation a rollout still installs everywhere', async () => {
    const r = await keyRotationDuringFleet(world.ctx);
    expect(failed(r)).toEqual([]);
    expect(r.ok).toBe(true);
  }, 60_000);
});
