/**
 * staged-rollout-happy: a healthy new release goes out in three waves (a canary of ~10%, then 50%,
 * then everyone); every wave passes its gates and every device ends on the new release.
 */
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

export async function stagedRolloutHappy(ctx: ScenarioContext): Promise<ScenarioResult> {
  const report = new ScenarioReport('staged-rollout-happy', ctx.log);
  await ensureBaseline(ctx);
  const next = await pushRelease(ctx, uniqueVersion('happy'), 1);
  ctx.log(`release ${next.releaseId} (${next.version}): three waves`);
  const id = await createRollout(ctx, next.releaseId, {
    waves: [
      wave('canary', { percent: 10 }, { minSuccessRatio: 1 }),
      wave('half', { percent: 50 }, { minSuccessRatio: 1 }),
      wave('all', { percent: 100 }, { minSuccessRatio: 1 }),
    ],
    onFailure: 'abort',
  });
  const r = await driveRollout(ctx, id);
  const n = ctx.fleet.devices.length;
  report.details.rolloutId = id;
  report.details.releaseId = next.releaseId;
  report.check('rollout completed', r.state === 'completed', r.state);
  report.check(
    'every wave passed',
    r.waves.every((w) => w.state === 'passed'),
    r.waves.map((w) => `${w.name}=${w.state}`).join(' '),
  );
  const members = r.waves.map((w) => w.members);
  report.check(
    'the canary is a small part of the fleet, each device in exactly one wave',
    members[0]! >= 1 && members[0]! < n / 2 && members.reduce((a, b) => a + b, 0) === n,
    r.waves.map((w) => `${w.name}:${w.members}`).join(' '),
  );
  report.check(
    `all ${n} devices succeeded`,
    (r.counts.succeeded ?? 0) === n,
    JSON.stringify(r.counts),
  );
  const versions = versionCounts(ctx.fleet.devices);
  report.check(
    'every device serves the new version',
    versions[next.version] === n,
    JSON.stringify(versions),
  );
  return report.result();
}
