/**
 * disconnect-storm-during-rollout in a world of its own, so a stuck device cannot leave stopped agents
 * behind for the other scenarios. Known issue (#8): under heavy load one restarted device has been seen
 * to stay `assigned` until the deadline; each attempt runs on a fresh control plane and fleet, and
 * the scenario prints the stuck agents' states when it times out.
 */
import { disconnectStormDuringRollout, type ScenarioResult } from '@edgefleet/fleet-sim';
import { describe, expect, it } from 'vitest';
import { startScenarioWorld } from './support/scenario-world.js';

function failed(r: ScenarioResult): string[] {
  return r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
}

describe('disconnect storm (12 simulated devices)', () => {
  it(
    'a third of the fleet drops mid-rollout, it still completes once per device',
    { retry: 1, timeout: 120_000 },
    async () => {
      const world = await startScenarioWorld({ devices: 12 });
      try {
        const r = await disconnectStormDuringRollout(world.ctx);
        expect(failed(r)).toEqual([]);
        expect(r.ok).toBe(true);
      } finally {
        await world.close();
      }
    },
  );
});
