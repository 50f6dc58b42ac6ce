/**
 * Staged rollouts with real agents over real MQTT (ARCHITECTURE §4-§5): waves in order, the approval
 * gate, the rate limit and the disruption budget (rollout-membership.test.ts: late joiners, silent devices).
 * Each test rolls a fresh release (alternating model versions) to the `group=main` fleet.
 */
import { desiredTopic } from '@edgefleet/protocol';
import type { Fleet } from '@edgefleet/fleet-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RolloutHarness } from './rollout-harness.test-support.js';

const MAIN = 8;
let h: RolloutHarness;
let main: Fleet;
let version = 0;

/** Directive publish times by device id (every `desired` publish of the control plane). */
const published: { deviceId: string; at: number }[] = [];
/** Final reports (`succeeded`, `failed`, `rolled_back`) by device, in arrival order. */
const finals: { deviceId: string; releaseId: string; at: number }[] = [];

/** A new release of the sensor model (alternating versions, so every device must update). */
async function nextRelease(): Promise<string> {
  version = (version % 2) + 1;
  return (await h.release('sensor', String(version))).releaseId;
}

beforeAll(async () => {
  h = await RolloutHarness.start();
  main = await h.addFleet({ prefix: 'main', devices: MAIN, labels: { group: 'main' } });
  const topics = new Map(main.devices.map((d) => [desiredTopic(d.deviceId), d.deviceId]));
  // Record every directive as it goes to the broker (the engine's publisher calls this link).
  const link = h.server.mqtt;
  const publish = link.publish.bind(link);
  link.publish = async (topic, payload, opts) => {
    await publish(topic, payload, opts);
    const deviceId = topics.get(topic);
    if (deviceId !== undefined) published.push({ deviceId, at: Date.now() });
  };
  h.server.events.subscribe((e) => {
    if (e.type !== 'deployment.status') return;
    const d = e.data as { deviceId: string; releaseId: string; state: string };
    if (['succeeded', 'failed', 'rolled_back'].includes(d.state)) {
      finals.push({ deviceId: d.deviceId, releaseId: d.releaseId, at: Date.now() });
    }
  });
}, 120_000);

afterAll(async () => {
  await h.close();
});

describe('staged rollouts over a fleet of real agents', () => {
  it('takes four waves (1 device, 25 %, 50 %, 100 %) in order, each pending -> running -> soaking -> passed', async () => {
    const releaseId = await nextRelease();
    const rollout = await h.create({
      releaseId,
      selector: 'group=main',
      waves: [
        { name: 'one', size: { count: 1 }, soak: { minInferences: 2 } },
        { name: 'quarter', size: { percent: 25 }, soak: { minInferences: 2 } },
        { name: 'half', size: { percent: 50 }, soak: { minInferences: 2 } },
        { name: 'all', size: { percent: 100 }, soak: { minInferences: 2 } },
      ],
      rate: { maxPerMinute: 600 },
    });
    const seen: string[][] = [[], [], [], []];
    /** For each wave, the index of the first poll that saw it leave `pending`. */
    const started: number[] = [];
    const passedAt: number[] = [];
    let poll = 0;
    const done = await h.drive(async () => {
      const r = await h.rollout(rollout.id);
      poll++;
      r.waves.forEach((w, i) => {
        if (seen[i]!.at(-1) !== w.state) seen[i]!.push(w.state);
        if (w.state !== 'pending') started[i] ??= poll;
        if (w.state === 'passed') passedAt[i] ??= poll;
      });
      return r.state === 'completed';
    });
    expect(done).toBe(true);
    const order = ['pending', 'running', 'soaking', 'passed'];
    for (const states of seen) {
      // Polls may miss a short state, never reorder them.
      const positions = states.map((s) => order.indexOf(s));
      expect(positions.every((p) => p >= 0)).toBe(true);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      expect(states.at(-1)).toBe('passed');
    }
    // A wave starts only after the previous one passed.
    for (let i = 1; i < 4; i++) expect(started[i]!).toBeGreaterThanOrEqual(passedAt[i - 1]!);
    const final = await h.rollout(rollout.id);
    expect(final.waves.map((w) => w.members)).toEqual([1, 1, 2, 4]);
    expect(final.waves.map((w) => w.target)).toEqual([1, 2, 4, null]);
    expect(final.counts).toEqual({ succeeded: MAIN });
    for (const d of main.devices) {
      expect(d.agent.status().activeRelease?.releaseId).toBe(releaseId);
    }
  }, 90_000);

  it('waits in awaiting_approval, sending nothing, until an operator approves', async () => {
    const releaseId = await nextRelease();
    const rollout = await h.create({
      releaseId,
      selector: 'group=main',
      waves: [{ name: 'all', size: { percent: 100 }, soak: { minInferences: 1 } }],
      rate: { maxPerMinute: 600 },
      approval: { beforeFirstWave: true },
    });
    expect(rollout.state).toBe('awaiting_approval');
    const before = published.length;
    for (let i = 0; i < 5; i++) await h.drive(() => true);
    const waiting = await h.rollout(rollout.id);
    expect(waiting.state).toBe('awaiting_approval');
    expect(waiting.counts).toEqual({});
    expect(published.length).toBe(before);
    await h.action(rollout.id, 'approve');
    const done = await h.driveUntilState(rollout.id, ['completed', 'paused', 'aborted']);
    expect(done.state).toBe('completed');
    expect(done.counts).toEqual({ succeeded: MAIN });
  }, 90_000);

  it('never has more devices updating at once than the disruption budget', async () => {
    const releaseId = await nextRelease();
    const from = published.length;
    const rollout = await h.create({
      releaseId,
      selector: 'group=main',
      waves: [{ name: 'all', size: { percent: 100 }, soak: { minInferences: 2 } }],
      rate: { maxPerMinute: 600 },
      maxConcurrent: 2,
    });
    const done = await h.driveUntilState(rollout.id, ['completed', 'paused', 'aborted']);
    expect(done.state).toBe('completed');
    const sent = published.slice(from);
    expect(sent).toHaveLength(MAIN);
    // In flight: from the directive's publish to the device's final report on this release.
    const timeline = [
      ...sent.map((p) => ({ at: p.at, delta: 1 })),
      ...finals.filter((f) => f.releaseId === releaseId).map((f) => ({ at: f.at, delta: -1 })),
    ].sort((a, b) => a.at - b.at || a.delta - b.delta);
    let inFlight = 0;
    let max = 0;
    for (const t of timeline) {
      inFlight += t.delta;
      max = Math.max(max, inFlight);
    }
    expect(max).toBeLessThanOrEqual(2);
    expect(max).toBe(2);
    expect(inFlight).toBe(0);
  }, 90_000);

  it('never sends more directives in a minute than the rate limit', async () => {
    const releaseId = await nextRelease();
    const from = published.length;
    const rollout = await h.create({
      releaseId,
      selector: 'group=main',
      waves: [{ name: 'all', size: { percent: 100 }, soak: { minInferences: 1 } }],
      rate: { maxPerMinute: 3 },
    });
    // Drive until the first three are done, then keep going: nothing more may go out this minute.
    const three = await h.drive(async () => (await h.rollout(rollout.id)).counts.succeeded === 3);
    expect(three).toBe(true);
    for (let i = 0; i < 5; i++) await h.drive(() => true);
    const sent = published.slice(from);
    expect(sent).toHaveLength(3);
    expect(sent.at(-1)!.at - sent[0]!.at).toBeLessThan(60_000);
    const r = await h.rollout(rollout.id);
    expect(r.state).toBe('running');
    expect(r.counts).toEqual({ succeeded: 3 });
    await h.action(rollout.id, 'cancel');
    expect((await h.rollout(rollout.id)).state).toBe('cancelled');
  }, 90_000);
});
