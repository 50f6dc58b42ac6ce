/**
 * disconnect-storm-during-rollout in a world of its own, so a stuck device cannot leave stopped agents
 * behind for the other scenarios. Known issue (#8): under heavy load one restarted device has been seen
 * to stay `assigned` until the deadline; each attempt runs on a fresh control plane and fleet, and
 * the scenario prints the stuck agents' states when its rollout times out. A failure of the test
 * itself (its own timeout included) prints the scenario's log, which names any device whose agent
 * took over 10 s to stop or start, and every agent's state.
 */
import { disconnectStormDuringRollout, type ScenarioResult } from '@edgefleet/fleet-sim';
import { describe, expect, it, onTestFailed } from 'vitest';
import { startScenarioWorld, type ScenarioWorld } from './support/scenario-world.js';

/** On failure (a timeout included): the scenario's log and every agent's state. */
function report(world: ScenarioWorld): string {
  const agents = world.sim.fleet.devices.map((d) => {
    const s = d.agent.status();
    return `${d.deviceId} connected=${d.agent.connected} running=${s.running} ${JSON.stringify(s.deployment)}`;
  });
  return ['scenario log:', ...world.lines.slice(-60), 'agents:', ...agents].join('\n');
}

function failed(r: ScenarioResult): string[] {
  return r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
}

describe('disconnect storm (12 simulated devices)', () => {
  it(
    'a third of the fleet drops mid-rollout, it still completes once per device',
    { retry: 1, timeout: 120_000 },
    async () => {
      const world = await startScenarioWorld({ devices: 12 });
      onTestFailed(() => {
        console.error(report(world));
      });
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
