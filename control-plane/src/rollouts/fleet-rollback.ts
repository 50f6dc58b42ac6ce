/**
 * Automatic fleet rollback (ARCHITECTURE §3: "rollback to an older model = a NEW release (higher
 * counter) that points at the old artifacts").
 *
 * When a rollout aborts, every device it may have moved goes back to the release it ran before: every
 * deployment except those the device itself reported `failed` (the previous model kept serving) or
 * `rolled_back` (the agent already went back). That includes devices still updating and timed-out
 * devices, which may install the aborted release whenever they reconnect. Devices are grouped by their
 * previous release (recorded at assignment; the rollout's baseline when unknown); for each group a new
 * release is made from the old one's artifacts and a `rollback` rollout sends it to exactly those
 * devices, with the scheduler's usual guarantees (rate, budget, timeouts, restart safety).
 */
import { and, eq, inArray, notInArray } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import {
  deviceDeployments,
  releases,
  rollouts,
  type JsonObject,
  type Rollout,
} from '../db/schema.js';

export interface FleetRollbackPlan {
  /** Previous releases and how many devices go back to each. */
  readonly groups: readonly { readonly targetReleaseId: string; readonly devices: number }[];
  /** Devices with no known previous release and no baseline: left on the aborted release. */
  readonly noPreviousRelease: number;
  /** Devices whose previous release the registry does not know. */
  readonly unknownRelease: number;
  /** Devices that already ran the aborted release before: nothing to restore. */
  readonly unchanged: number;
}

/** Aborted rollouts whose rollback rollouts have not all been created yet. */
export async function rolloutsAwaitingRollback(db: Database): Promise<Rollout[]> {
  return db
    .select()
    .from(rollouts)
    .where(and(eq(rollouts.state, 'aborted'), eq(rollouts.rollbackStatus, 'pending')));
}

/** Who goes back where after `aborted` (see the module comment). */
export async function planFleetRollback(
  db: Database,
  aborted: Rollout,
): Promise<FleetRollbackPlan> {
  const rows = await db
    .select({ previous: deviceDeployments.previousReleaseId })
    .from(deviceDeployments)
    .where(
      and(
        eq(deviceDeployments.rolloutId, aborted.id),
        notInArray(deviceDeployments.state, ['failed', 'rolled_back']),
      ),
    );
  const byTarget = new Map<string, number>();
  let noPreviousRelease = 0;
  let unchanged = 0;
  for (const { previous } of rows) {
    const target = previous ?? aborted.baselineReleaseId;
    if (target === null) noPreviousRelease++;
    else if (target === aborted.releaseId) unchanged++;
    else byTarget.set(target, (byTarget.get(target) ?? 0) + 1);
  }
  const targets = [...byTarget.keys()].sort();
  const known = new Set(
    targets.length === 0
      ? []
      : (
          await db
            .select({ id: releases.releaseId })
            .from(releases)
            .where(inArray(releases.releaseId, targets))
        ).map((r) => r.id),
  );
  let unknownRelease = 0;
  const groups = targets.flatMap((targetReleaseId) => {
    const devices = byTarget.get(targetReleaseId)!;
    if (known.has(targetReleaseId)) return [{ targetReleaseId, devices }];
    unknownRelease += devices;
    return [];
  });
  return { groups, noPreviousRelease, unknownRelease, unchanged };
}

/** Rollback rollouts already created for `aborted`, by the release they restore. */
export async function existingRollbacks(
  db: Database,
  abortedId: string,
): Promise<Map<string, Rollout>> {
  const rows = await db.select().from(rollouts).where(eq(rollouts.rollbackOf, abortedId));
  return new Map(rows.map((r) => [r.rollbackTargetReleaseId!, r]));
}

/** Record that every rollback rollout of `abortedId` exists, with what was decided. */
export async function markRollbackStarted(
  db: Database,
  abortedId: string,
  summary: JsonObject,
  at: Date = new Date(),
): Promise<void> {
  await db
    .update(rollouts)
    .set({ rollbackStatus: 'started', rollbackSummary: summary, updatedAt: at })
    .where(and(eq(rollouts.id, abortedId), eq(rollouts.rollbackStatus, 'pending')));
}
