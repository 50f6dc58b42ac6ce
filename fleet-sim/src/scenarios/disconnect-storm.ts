/**
 * disconnect-storm-during-rollout: a third of the fleet drops off (agents stopped: connections gone,
 * downloads and soaks interrupted) while a rollout is assigning, and comes back a few seconds later
 * as rebooted devices (new agents on the same state directories). The retained `desired` message
 * brings them up to date; the rollout still completes, every device ends on the new release, and no
 * device is assigned twice (one directive per device, each device in exactly one wave).
 */
import type { DeploymentEvent } from '@edgefleet/agent';
import type { SimDevice } from '../fleet.js';
import { ScenarioReport, type ScenarioContext, type ScenarioResult } from './scenario.js';
import {
  createRollout,
  driveRollout,
  ensureBaseline,
  pushRelease,
  uniqueVersion,
  versionCounts,
  wave,
} from './steps.js';

export async function disconnectStormDuringRollout(ctx: ScenarioContext): Promise<ScenarioResult> {
  const report = new ScenarioReport('disconnect-storm-during-rollout', ctx.log);
  await ensureBaseline(ctx);
  const next = await pushRelease(ctx, uniqueVersion('storm'), 4);
  const devices = ctx.fleet.devices;
  const storm = devices.filter((_, i) => i % 3 === 1);
  const stormIds = new Set(storm.map((d) => d.deviceId));
  /** deviceId -> directive counters of the new release the device was handed. */
  const directives = new Map<string, Set<number>>();
  const watch = (d: SimDevice) => {
    d.agent.on('deployment', (e: DeploymentEvent) => {
      if (e.releaseId !== next.releaseId) return;
      let set = directives.get(d.deviceId);
      if (!set) directives.set(d.deviceId, (set = new Set()));
      set.add(e.directiveCounter);
    });
  };
  devices.forEach(watch);

  const id = await createRollout(ctx, next.releaseId, {
    waves: [wave('first', { percent: 30 }), wave('rest', { percent: 100 })],
  });
  // A device whose agent does not stop or start is the known rare hang (#8): say which, and where.
  const onSlow = (d: SimDevice, step: 'stop' | 'start', ms: number) => {
    ctx.log(
      `storm: ${d.deviceId} still in agent ${step} after ${(ms / 1000).toFixed(0)} s: ${JSON.stringify(d.agent.status().deployment)}`,
    );
  };
  const storming: { phase: 'before' | 'down' | 'up'; downSince: number } = {
    phase: 'before',
    downSince: 0,
  };
  const r = await driveRollout(ctx, id, undefined, {
    timeoutMs: 40_000,
    // Only devices that are up serve traffic.
    devices: () =>
      storming.phase === 'down' ? devices.filter((d) => !stormIds.has(d.deviceId)) : devices,
    onRound: async (view) => {
      const assigned = Object.entries(view.counts)
        .filter(([s]) => s !== 'pending')
        .reduce((a, [, n]) => a + n, 0);
      if (storming.phase === 'before' && assigned > 0) {
        ctx.log(`storm: ${storm.length} devices go offline mid-rollout`);
        await ctx.fleet.stopDevices(storm, onSlow);
        ctx.log(`storm: ${storm.length} devices stopped`);
        storming.phase = 'down';
        storming.downSince = Date.now();
      } else if (storming.phase === 'down' && Date.now() - storming.downSince > 3000) {
        ctx.log(`storm over: ${storm.length} devices reboot and reconnect`);
        await ctx.fleet.restartDevices(storm, onSlow);
        ctx.log(`storm: ${storm.length} devices restarted`);
        storm.forEach(watch);
        storming.phase = 'up';
      }
    },
  }).catch((err: unknown) => {
    const stuck = devices
      .filter((d) => d.agent.status().activeRelease?.releaseId !== next.releaseId)
      .map((d) => ({
        id: d.deviceId,
        connected: d.agent.connected,
        s: d.agent.status().deployment,
        q: d.agent.status().queued,
      }));
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}; stuck: ${JSON.stringify(stuck)}`,
    );
  });
  const n = devices.length;
  report.details.rolloutId = id;
  report.details.releaseId = next.releaseId;
  report.details.stormDevices = storm.length;
  report.check(
    'the storm hit mid-rollout',
    storming.phase === 'up',
    `${storm.length} devices, phase ${storming.phase}`,
  );
  report.check('rollout completed', r.state === 'completed', r.state);
  report.check(
    `all ${n} devices succeeded`,
    (r.counts.succeeded ?? 0) === n,
    JSON.stringify(r.counts),
  );
  report.check(
    'each device is in exactly one wave',
    r.waves.reduce((a, w) => a + w.members, 0) === n,
    r.waves.map((w) => `${w.name}:${w.members}`).join(' '),
  );
  const twice = [...directives].filter(([, s]) => s.size > 1);
  report.check(
    'no device was assigned twice (one directive each)',
    twice.length === 0 && directives.size === n,
    twice.length === 0
      ? `${directives.size} devices, one directive each`
      : twice.map(([d, s]) => `${d}: ${[...s].join(',')}`).join(' '),
  );
  const versions = versionCounts(devices);
  report.check(
    'every device serves the new version',
    versions[next.version] === n,
    JSON.stringify(versions),
  );
  return report.result();
}
