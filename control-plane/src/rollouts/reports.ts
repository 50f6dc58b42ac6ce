/**
 * Device deployments: moving one through its machine (device reports, timeouts, retries) and
 * recording what devices report on `status`.
 */
import type { DeploymentState } from '@edgefleet/protocol';
import { and, eq } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { nextDirectiveCounter } from '../db/devices.js';
import { deviceDeployments, type DeviceDeployment } from '../db/schema.js';
import { deploymentTransition, type DeploymentEvent } from './machines.js';

/**
 * Move one deployment through its machine and store the result; undefined when the machine refuses
 * (or the row changed underneath). `retry` allocates a new directive counter and queues the directive.
 */
export async function applyDeploymentEvent(
  tx: Database,
  row: DeviceDeployment,
  event: DeploymentEvent,
  now: Date,
): Promise<DeviceDeployment | undefined> {
  const t = deploymentTransition(row.state, event);
  if (!t.ok) return undefined;
  if (t.value.state === row.state && t.value.effects.length === 0) return row;
  const set: Partial<DeviceDeployment> = { state: t.value.state, updatedAt: now };
  for (const effect of t.value.effects) {
    switch (effect.type) {
      case 'markFinished':
        set.finishedAt = now;
        break;
      case 'recordReason':
        set.reason = effect.reason;
        break;
      case 'issueDirective':
        Object.assign(set, {
          directiveCounter: await nextDirectiveCounter(tx, row.deviceId, now),
          assignedAt: now,
          publishedAt: null,
          retryRequestedAt: null,
          reason: null,
          finishedAt: null,
          attempts: row.attempts + 1,
        } satisfies Partial<DeviceDeployment>);
        break;
    }
  }
  const [updated] = await tx
    .update(deviceDeployments)
    .set(set)
    .where(and(eq(deviceDeployments.id, row.id), eq(deviceDeployments.state, row.state)))
    .returning();
  return updated;
}

// --- Device reports ------------------------------------------------------------------------------

/** A deployment transition a device reported on `status`. */
export interface DeploymentReport {
  deviceId: string;
  directiveCounter: number;
  state: DeploymentState;
  reason?: string;
  at?: Date;
}

export type ReportOutcome =
  /** Stored (`changed`: false for a repeat of the stored state). */
  | { outcome: 'applied'; deployment: DeviceDeployment; changed: boolean }
  /** Older than what is stored, or after a final state: ignored. */
  | { outcome: 'stale'; deployment: DeviceDeployment }
  /** No deployment has this device and directive counter. */
  | { outcome: 'unknown' };

/** Record a device's status report against the deployment its directive counter names. */
export async function recordDeploymentReport(
  db: Database,
  report: DeploymentReport,
): Promise<ReportOutcome> {
  const at = report.at ?? new Date();
  return db.transaction(async (tx): Promise<ReportOutcome> => {
    const [row] = await tx
      .select()
      .from(deviceDeployments)
      .where(
        and(
          eq(deviceDeployments.deviceId, report.deviceId),
          eq(deviceDeployments.directiveCounter, report.directiveCounter),
        ),
      )
      .for('update');
    if (row === undefined) return { outcome: 'unknown' };
    const event: DeploymentEvent =
      report.reason === undefined
        ? { type: 'report', state: report.state }
        : { type: 'report', state: report.state, reason: report.reason };
    const updated = await applyDeploymentEvent(tx, row, event, at);
    return updated === undefined
      ? { outcome: 'stale', deployment: row }
      : { outcome: 'applied', deployment: updated, changed: updated.state !== row.state };
  });
}

/**
 * A device's `state` (published on every connect) names its current deployment: record it as a report
 * too. A `status` report can be lost on the way (an embedded broker that acknowledged it and was killed
 * before the ingest wrote it); the device does not send it again, but its next `state` makes up for it,
 * so the deployment does not sit in an old state until its timeout. Undefined when no deployment is named.
 */
export async function recordStateReport(
  db: Database,
  state: {
    deviceId: string;
    deployment: { directiveCounter: number; state: DeploymentState } | null;
    at?: Date;
  },
): Promise<ReportOutcome | undefined> {
  if (state.deployment === null) return undefined;
  return recordDeploymentReport(db, {
    deviceId: state.deviceId,
    directiveCounter: state.deployment.directiveCounter,
    state: state.deployment.state,
    ...(state.at === undefined ? {} : { at: state.at }),
  });
}
