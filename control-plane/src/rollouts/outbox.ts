/**
 * The directive outbox. The scheduler decides assignments inside a transaction; the directives go to
 * the broker only after it commits, read from here: deployments still `pending` with no
 * `published_at`, in rollouts the scheduler still works on (a finished rollout's are never sent).
 * Each is marked sent once the broker has it. A crash between the two re-sends the same directive
 * (same counter), which the device treats as the one it already has. Since a device has at most one
 * open deployment, the outbox never holds two directives for one device.
 */
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { deviceDeployments, releases, rollouts, type Release } from '../db/schema.js';
import { ACTIVE_ROLLOUT_STATES } from './machines.js';
import { directiveSoak, RolloutSpecSchema, type RolloutSpec } from './spec.js';

/** A directive to hand to the broker. */
export interface PendingDirective {
  deploymentId: number;
  rolloutId: string;
  waveIndex: number;
  deviceId: string;
  directiveCounter: number;
  release: Release;
  /** The soak the device must serve before it reports `succeeded`. */
  soak: ReturnType<typeof directiveSoak>;
}

/**
 * Directives decided but not yet handed to the broker, oldest first: deployments still `pending` with
 * no `published_at`, in rollouts the scheduler still works on (a finished rollout's are never sent).
 */
export async function unpublishedDirectives(
  db: Database,
  limit = 500,
): Promise<PendingDirective[]> {
  const rows = await db
    .select({
      deployment: deviceDeployments,
      release: releases,
      spec: rollouts.spec,
      rolloutId: rollouts.id,
    })
    .from(deviceDeployments)
    .innerJoin(rollouts, eq(rollouts.id, deviceDeployments.rolloutId))
    .innerJoin(releases, eq(releases.releaseId, deviceDeployments.releaseId))
    .where(
      and(
        eq(deviceDeployments.state, 'pending'),
        isNull(deviceDeployments.publishedAt),
        inArray(rollouts.state, [...ACTIVE_ROLLOUT_STATES]),
      ),
    )
    .orderBy(asc(deviceDeployments.id))
    .limit(limit);
  const specs = new Map<string, RolloutSpec>();
  return rows.map(({ deployment: d, release, spec, rolloutId }) => {
    let parsed = specs.get(rolloutId);
    if (parsed === undefined) {
      parsed = RolloutSpecSchema.parse(spec);
      specs.set(rolloutId, parsed);
    }
    return {
      deploymentId: d.id,
      rolloutId,
      waveIndex: d.waveIndex,
      deviceId: d.deviceId,
      directiveCounter: d.directiveCounter,
      release,
      soak: directiveSoak(parsed, d.waveIndex),
    };
  });
}

/** Record that the directive was handed to the broker; false if it was replaced meanwhile. */
export async function markPublished(
  db: Database,
  directive: Pick<PendingDirective, 'deploymentId' | 'directiveCounter'>,
  at: Date = new Date(),
): Promise<boolean> {
  const rows = await db
    .update(deviceDeployments)
    .set({ publishedAt: at })
    .where(
      and(
        eq(deviceDeployments.id, directive.deploymentId),
        eq(deviceDeployments.directiveCounter, directive.directiveCounter),
        isNull(deviceDeployments.publishedAt),
      ),
    )
    .returning({ id: deviceDeployments.id });
  return rows.length > 0;
}

/** Directives per statement in `markPublishedMany` (3 parameters each). */
const MARK_CHUNK = 2000;

/**
 * `markPublished` for many directives, a few statements in all; how many were marked (a directive
 * replaced meanwhile, by a new counter on the same deployment, is not).
 */
export async function markPublishedMany(
  db: Database,
  directives: readonly Pick<PendingDirective, 'deploymentId' | 'directiveCounter'>[],
  at: Date = new Date(),
): Promise<number> {
  let marked = 0;
  for (let i = 0; i < directives.length; i += MARK_CHUNK) {
    const chunk = directives.slice(i, i + MARK_CHUNK);
    const rows = await db
      .update(deviceDeployments)
      .set({ publishedAt: at })
      .where(
        and(
          inArray(
            deviceDeployments.id,
            chunk.map((d) => d.deploymentId),
          ),
          sql`(${deviceDeployments.id}, ${deviceDeployments.directiveCounter}) in (${sql.join(
            chunk.map((d) => sql`(${d.deploymentId}, ${d.directiveCounter})`),
            sql`, `,
          )})`,
          isNull(deviceDeployments.publishedAt),
        ),
      )
      .returning({ id: deviceDeployments.id });
    marked += rows.length;
  }
  return marked;
}
