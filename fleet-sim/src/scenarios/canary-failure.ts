/**
 * canary-failure-auto-rollback: the new release computes wrong outputs on one hardware class (a
 * fault injected in that class's runtime). Its canary devices fail the health check before they
 * switch (`failed(health_check_failed)`: the old model keeps serving), the canary gate trips, the
 * rollout aborts (`onFailure: abort`), the control plane's fleet rollback sends the devices that did
 * switch back to the old artifacts, and every device ends on the old version.
 */
import type { DeploymentEvent } from '@edgefleet/agent';
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

export async function canaryFailureAutoRollback(ctx: ScenarioContext): Promise<ScenarioResult> {
  const report = new ScenarioReport('canary-failure-auto-rollback', ctx.log);
  if (ctx.faults === undefined) {
    throw new Error('canary-failure-auto-rollback needs a fleet built with a FaultInjection');
  }
  const badClass = [...new Set(ctx.fleet.devices.map((d) => d.hardwareClass))].sort()[0]!;
  const baseline = await ensureBaseline(ctx);
  const bad = await pushRelease(ctx, uniqueVersion('bad'), 2);
  ctx.faults.corrupt(badClass, bad.modelSha256);
  ctx.log(`release ${bad.releaseId} (${bad.version}) computes wrong outputs on ${badClass}`);

  const reasons = new Map<string, string>();
  const listeners = ctx.fleet.devices.map((d) => {
    const listener = (e: DeploymentEvent) => {
      if (e.releaseId === bad.releaseId && e.reason !== undefined)
        reasons.set(d.deviceId, e.reason);
    };
    d.agent.on('deployment', listener);
    return { agent: d.agent, listener };
  });
  try {
    const id = await createRollout(ctx, bad.releaseId, {
      waves: [
        // Membership is spread over hardware x site: at small N a bigger canary covers every class.
        wave(
          'canary',
          { percent: ctx.fleet.devices.length >= 40 ? 20 : 50 },
          { minSuccessRatio: 1 },
        ),
        wave('all', { percent: 100 }, { minSuccessRatio: 1 }),
      ],
      onFailure: 'abort',
    });
    const r = await driveRollout(ctx, id);
    report.details.rolloutId = id;
    report.details.badRelease = bad.releaseId;
    report.details.badHardwareClass = badClass;
    report.check('rollout aborted', r.state === 'aborted', r.state);
    report.check(
      'the canary wave failed and the next wave never started',
      r.waves[0]?.state === 'failed' && r.waves[1]?.members === 0,
      r.waves.map((w) => `${w.name}=${w.state}/${w.members}`).join(' '),
    );
    const failedOn = ctx.fleet.devices.filter((d) => reasons.get(d.deviceId) !== undefined);
    report.check(
      `canary devices on ${badClass} reported failed(health_check_failed)`,
      failedOn.length > 0 &&
        failedOn.every(
          (d) => d.hardwareClass === badClass && reasons.get(d.deviceId) === 'health_check_failed',
        ),
      failedOn.map((d) => `${d.deviceId}:${reasons.get(d.deviceId)}`).join(' ') || 'none',
    );
    const n = ctx.fleet.devices.length;
    // The fleet rollback is a new release (higher counter) pointing at the old artifacts.
    await driveUntil(ctx, `every device back on ${baseline}`, () => {
      return versionCounts(ctx.fleet.devices)[baseline] === n;
    });
    // ...and until the rollback deployments have finished their soak (nothing left in flight).
    const settled = new Set(['succeeded', 'failed', 'rolled_back']);
    await driveUntil(ctx, 'the fleet rollback to settle', () =>
      ctx.fleet.devices.every((d) => {
        const s = d.agent.status();
        return s.queued === null && (s.deployment === null || settled.has(s.deployment.state));
      }),
    );
    const versions = versionCounts(ctx.fleet.devices);
    report.details.versions = versions;
    report.check(
      `every device ends on the old version ${baseline}`,
      versions[baseline] === n,
      JSON.stringify(versions),
    );
  } finally {
    for (const { agent, listener } of listeners) agent.off('deployment', listener);
    ctx.faults.clear();
  }
  return report.result();
}
