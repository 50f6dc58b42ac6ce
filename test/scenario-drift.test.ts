/**
 * drift-in-one-site against a real control plane: 12 agents on a device clock 30 min behind the wall
 * clock, stepped one device-minute at a time, so 1-minute drift windows close in seconds.
 */
import { driftInOneSite } from '@edgefleet/fleet-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScenarioWorld, type ScenarioWorld } from './support/scenario-world.js';

let world: ScenarioWorld;

beforeAll(async () => {
  world = await startScenarioWorld({ devices: 12, clockLagMs: 30 * 60_000 });
}, 60_000);

afterAll(async () => {
  await world.close();
});

describe('drift scenario (12 simulated devices)', () => {
  it('drift at one site opens an event for that site only, naming the shifted features, and a retraining request', async () => {
    const r = await driftInOneSite({ site: 'paris' })(world.ctx);
    expect(r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`)).toEqual([]);
    expect(r.ok).toBe(true);
  }, 80_000);
});
