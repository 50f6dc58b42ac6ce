/**
 * key-rotation-during-fleet: the operator rotates the online `deploy` key while the fleet runs
 * (`POST /v1/trust/rotate {role: 'deploy'}`: root N+1 lists the new key). Devices walk the root
 * chain (retained `trust/root`, or the root that comes with the next directive) and a following
 * rollout, whose directives the new key signs, still installs everywhere.
 */
import { ScenarioReport, type ScenarioContext, type ScenarioResult } from './scenario.js';
import {
  createRollout,
  driveRollout,
  driveUntil,
  ensureBaseline,
  pushRelease,
  uniqueVersion,
  versionCounts,
  wave,
} from './steps.js';

export async function keyRotationDuringFleet(ctx: ScenarioContext): Promise<ScenarioResult> {
  const report = new ScenarioReport('key-rotation-during-fleet', ctx.log);
  await ensureBaseline(ctx);
  const devices = ctx.fleet.devices;
  const before = Math.max(...devices.map((d) => d.agent.status().trust.rootVersion));
  const rotated = await ctx.api.json<{ version: number }>('POST', '/v1/trust/rotate', {
    role: 'deploy',
  });
  ctx.log(`rotated the deploy key: root v${before} -> v${rotated.version}`);
  const next = await pushRelease(ctx, uniqueVersion('rotated'), 5);
  const id = await createRollout(ctx, next.releaseId, {
    waves: [wave('canary', { percent: 20 }), wave('all', { percent: 100 })],
  });
  const r = await driveRollout(ctx, id);
  const n = devices.length;
  report.details.rolloutId = id;
  report.details.rootVersion = rotated.version;
  report.check(
    'root version moved up',
    rotated.version > before,
    `${before} -> ${rotated.version}`,
  );
  report.check('rollout after the rotation completed', r.state === 'completed', r.state);
  const versions = versionCounts(devices);
  report.check(
    'every device installed the release signed under the new key',
    versions[next.version] === n,
    JSON.stringify(versions),
  );
  await driveUntil(ctx, `every device on root v${rotated.version}`, () =>
    devices.every((d) => d.agent.status().trust.rootVersion >= rotated.version),
  ).catch(() => undefined);
  const roots = devices.map((d) => d.agent.status().trust.rootVersion);
  report.check(
    `every device trusts root v${rotated.version}`,
    roots.every((v) => v >= rotated.version),
    `min v${Math.min(...roots)}, max v${Math.max(...roots)}`,
  );
  return report.result();
}
