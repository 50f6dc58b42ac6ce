/**
 * Rollouts in the database: reading them, moving them through the rollout machine (with the effects
 * its transitions call for), and creating them. Starting a rollout supersedes every unfinished rollout
 * of the same model: those are marked `superseded` and their directives not yet sent are withdrawn,
 * so no device is ever left between two racing directives.
 *
 * The scheduler's side (snapshot, planning, applying) is in tick.ts, the directive outbox in
 * outbox.ts, device reports in reports.ts.
 */
import { randomUUID } from 'node:crypto';
import { EdgefleetError } from '@edgefleet/protocol';
import { and, asc, count, desc, eq, inArray, isNull, lt, ne, notInArray, or } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { labelSelectorSql } from '../db/devices.js';
import { SQLSTATE, sqlStateOf } from '../db/errors.js';
import {
  deviceDeployments,
  devices,
  gateEvaluations,
  releases,
  rollouts,
  waves,
  type DeviceDeployment,
  type DeviceDeploymentState,
  type GateEvaluationRow,
  type LabelPredicate,
  type NewRollout,
  type Release,
  type Rollout,
  type RolloutKind,
  type RolloutState,
  type Wave,
} from '../db/schema.js';
import { parseSelector } from '../devices/selector.js';
import {
  ACTIVE_ROLLOUT_STATES,
  FINAL_ROLLOUT_STATES,
  rolloutTransition,
  type RolloutEvent,
} from './machines.js';
import {
  RolloutSpecSchema,
  waveNeedsApproval,
  waveTimeoutSeconds,
  type RolloutSpec,
  type RolloutSpecInput,
} from './spec.js';

// --- Reading -------------------------------------------------------------------------------------

function notFound(id: string): EdgefleetError {
  return new EdgefleetError('EF_NOT_FOUND', `No rollout ${id}.`, { details: { rolloutId: id } });
}

/** The normalized spec stored with a rollout (validated again on the way out). */
export function rolloutSpec(rollout: Rollout): RolloutSpec {
  const parsed = RolloutSpecSchema.safeParse(rollout.spec);
  if (!parsed.success) {
    throw new EdgefleetError(
      'EF_INTERNAL',
      `The stored spec of rollout ${rollout.id} is invalid.`,
      {
        details: { rolloutId: rollout.id, issues: parsed.error.issues.slice(0, 5) },
      },
    );
  }
  return parsed.data;
}

export async function getRollout(db: Database, id: string): Promise<Rollout | undefined> {
  const [row] = await db.select().from(rollouts).where(eq(rollouts.id, id));
  return row;
}

/** The rollout's row, locked until the transaction ends. EF_NOT_FOUND if there is none. */
export async function lockRollout(tx: Database, id: string): Promise<Rollout> {
  const [row] = await tx.select().from(rollouts).where(eq(rollouts.id, id)).for('update');
  if (row === undefined) throw notFound(id);
  return row;
}

export async function listWaves(db: Database, rolloutId: string): Promise<Wave[]> {
  return db
    .select()
    .from(waves)
    .where(eq(waves.rolloutId, rolloutId))
    .orderBy(asc(waves.waveIndex));
}

export async function listDeployments(
  db: Database,
  rolloutId: string,
): Promise<DeviceDeployment[]> {
  return db
    .select()
    .from(deviceDeployments)
    .where(eq(deviceDeployments.rolloutId, rolloutId))
    .orderBy(asc(deviceDeployments.id));
}

/**
 * The devices of one wave, sorted: only their ids (a tick asks for them every second, so a wave of
 * 10,000 must not cost 10,000 full rows).
 */
export async function listWaveDeviceIds(
  db: Database,
  rolloutId: string,
  waveIndex: number,
): Promise<string[]> {
  const rows = await db
    .select({ deviceId: deviceDeployments.deviceId })
    .from(deviceDeployments)
    .where(
      and(eq(deviceDeployments.rolloutId, rolloutId), eq(deviceDeployments.waveIndex, waveIndex)),
    );
  return rows.map((r) => r.deviceId).sort();
}

/** Ids of the rollouts the scheduler works on (awaiting approval, running, paused), oldest first. */
export async function listActiveRolloutIds(db: Database): Promise<string[]> {
  const rows = await db
    .select({ id: rollouts.id })
    .from(rollouts)
    .where(inArray(rollouts.state, [...ACTIVE_ROLLOUT_STATES]))
    .orderBy(asc(rollouts.createdAt), asc(rollouts.id));
  return rows.map((r) => r.id);
}

export interface ListRolloutsOptions {
  state?: RolloutState;
  modelName?: string;
  kind?: RolloutKind;
  /** Keyset paging: only rollouts created before this one (newest first). */
  before?: { createdAt: Date; id: string };
  /** Default 100, at most 1000. */
  limit?: number;
}

/** Rollouts, newest first. */
export async function listRollouts(
  db: Database,
  options: ListRolloutsOptions = {},
): Promise<Rollout[]> {
  const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
  const before = options.before;
  return db
    .select()
    .from(rollouts)
    .where(
      and(
        options.state === undefined ? undefined : eq(rollouts.state, options.state),
        options.modelName === undefined ? undefined : eq(rollouts.modelName, options.modelName),
        options.kind === undefined ? undefined : eq(rollouts.kind, options.kind),
        before === undefined
          ? undefined
          : or(
              lt(rollouts.createdAt, before.createdAt),
              and(eq(rollouts.createdAt, before.createdAt), lt(rollouts.id, before.id)),
            ),
      ),
    )
    .orderBy(desc(rollouts.createdAt), desc(rollouts.id))
    .limit(limit);
}

/** A wave with how many of its devices are in each deployment state. */
export interface WaveProgress extends Wave {
  counts: Partial<Record<DeviceDeploymentState, number>>;
  /** Devices in the wave. */
  members: number;
}

export interface RolloutProgress {
  rollout: Rollout;
  waves: WaveProgress[];
  /** Devices per deployment state over the whole rollout. */
  counts: Partial<Record<DeviceDeploymentState, number>>;
  /** Every gate decision, oldest first, with the values it was made on. */
  evaluations: GateEvaluationRow[];
}

/** A rollout with its waves, device counts per state, and gate evaluations (for status views). */
export async function rolloutProgress(
  db: Database,
  id: string,
): Promise<RolloutProgress | undefined> {
  const rollout = await getRollout(db, id);
  if (rollout === undefined) return undefined;
  const n = count();
  const tallies = await db
    .select({ waveIndex: deviceDeployments.waveIndex, state: deviceDeployments.state, n })
    .from(deviceDeployments)
    .where(eq(deviceDeployments.rolloutId, id))
    .groupBy(deviceDeployments.waveIndex, deviceDeployments.state);
  const counts: Partial<Record<DeviceDeploymentState, number>> = {};
  const byWave = new Map<number, Partial<Record<DeviceDeploymentState, number>>>();
  for (const t of tallies) {
    counts[t.state] = (counts[t.state] ?? 0) + t.n;
    const wave = byWave.get(t.waveIndex) ?? {};
    wave[t.state] = t.n;
    byWave.set(t.waveIndex, wave);
  }
  const waveRows = (await listWaves(db, id)).map((w) => {
    const c = byWave.get(w.waveIndex) ?? {};
    return { ...w, counts: c, members: Object.values(c).reduce((a, b) => a + b, 0) };
  });
  const evaluations = await db
    .select()
    .from(gateEvaluations)
    .where(eq(gateEvaluations.rolloutId, id))
    .orderBy(asc(gateEvaluations.id));
  return { rollout, waves: waveRows, counts, evaluations };
}

// --- Rollout transitions -------------------------------------------------------------------------

export interface TransitionContext {
  now: Date;
  /** Who asked (an operator token name, or `system`). */
  actor?: string;
}

/**
 * Move a (locked) rollout through its machine and carry out the effects. Returns the new row, or the
 * machine's refusal as EF_CONFLICT.
 */
export async function applyRolloutEvent(
  tx: Database,
  row: Rollout,
  event: RolloutEvent,
  ctx: TransitionContext,
): Promise<Rollout> {
  const t = rolloutTransition(row.state, event);
  if (!t.ok) throw EdgefleetError.fromFailure(t);
  const { now } = ctx;
  const set: Partial<NewRollout> = { state: t.value.state, updatedAt: now };
  for (const effect of t.value.effects) {
    switch (effect.type) {
      case 'markStarted':
        set.startedAt = row.startedAt ?? now;
        break;
      case 'markFinished':
        set.finishedAt = now;
        break;
      case 'recordApproval': {
        set.approvedAt = row.approvedAt ?? now;
        set.approvedBy = row.approvedBy ?? ctx.actor ?? null;
        const [next] = await tx
          .select({ waveIndex: waves.waveIndex })
          .from(waves)
          .where(and(eq(waves.rolloutId, row.id), eq(waves.state, 'pending')))
          .orderBy(asc(waves.waveIndex))
          .limit(1);
        if (next !== undefined) {
          await tx
            .update(waves)
            .set({ approvedAt: now, approvedBy: ctx.actor ?? null })
            .where(and(eq(waves.rolloutId, row.id), eq(waves.waveIndex, next.waveIndex)));
        }
        break;
      }
      case 'recordReason':
        set.reason = effect.reason;
        break;
      case 'withdrawUnpublished':
        await tx
          .update(deviceDeployments)
          .set({ state: 'failed', reason: effect.reason, finishedAt: now, updatedAt: now })
          .where(
            and(
              eq(deviceDeployments.rolloutId, row.id),
              eq(deviceDeployments.state, 'pending'),
              isNull(deviceDeployments.publishedAt),
            ),
          );
        break;
      case 'startFleetRollback':
        set.rollbackStatus = 'pending';
        break;
      case 'recordSupersededBy':
        set.supersededBy = effect.by;
        break;
    }
  }
  const [updated] = await tx.update(rollouts).set(set).where(eq(rollouts.id, row.id)).returning();
  return updated!;
}

// --- Creating ------------------------------------------------------------------------------------

export interface CreateRolloutInput {
  spec: RolloutSpec;
  /** Default: a random UUID. */
  id?: string;
  createdBy?: string;
  now?: Date;
  /** Leave the rollout in `draft` (start it with `startRollout`). Default false: start at once. */
  draft?: boolean;
}

export interface CreatedRollout {
  rollout: Rollout;
  waves: Wave[];
  /** Ids of the older rollouts of the same model this one superseded (none for a draft). */
  superseded: string[];
}

function toPredicates(selector: string): LabelPredicate[] {
  return parseSelector(selector).map((r) => ({ key: r.key, op: r.op, values: [...r.values] }));
}

async function requireRelease(tx: Database, releaseId: string, what: string): Promise<Release> {
  const [release] = await tx.select().from(releases).where(eq(releases.releaseId, releaseId));
  if (release === undefined) {
    throw new EdgefleetError('EF_NOT_FOUND', `No release ${releaseId} (the ${what}).`, {
      details: { releaseId },
    });
  }
  return release;
}

/** The release most active matching devices report running now (other than `releaseId`). */
async function defaultBaseline(
  tx: Database,
  releaseId: string,
  selector: readonly LabelPredicate[],
): Promise<string | null> {
  const n = count();
  const [row] = await tx
    .select({ releaseId: releases.releaseId, n })
    .from(devices)
    .innerJoin(releases, eq(releases.releaseId, devices.currentReleaseId))
    .where(
      and(
        eq(devices.status, 'active'),
        labelSelectorSql(selector),
        ne(releases.releaseId, releaseId),
      ),
    )
    .groupBy(releases.releaseId)
    .orderBy(desc(n), asc(releases.releaseId))
    .limit(1);
  return row?.releaseId ?? null;
}

async function insertRollout(
  tx: Database,
  values: Omit<NewRollout, 'spec' | 'state'>,
  spec: RolloutSpec,
  now: Date,
): Promise<{ rollout: Rollout; waves: Wave[] }> {
  const [rollout] = await tx
    .insert(rollouts)
    .values({
      ...values,
      selectorText: spec.selector,
      selector: toPredicates(spec.selector),
      spec,
      state: 'draft',
      // Denormalized from the spec for listing; the scheduler reads `spec`.
      gates: { waves: spec.waves.map((w) => ({ name: w.name, ...w.gates })) },
      abortCriteria: { criteria: spec.abortCriteria, onFailure: spec.onFailure },
      maxDevicesPerMinute: spec.rate.maxPerMinute,
      requiresApproval: spec.approval.beforeFirstWave || spec.approval.betweenWaves,
      createdAt: now,
      updatedAt: now,
    })
    .returning();
  const waveRows = await tx
    .insert(waves)
    .values(
      spec.waves.map((w, i) => ({
        rolloutId: rollout!.id,
        waveIndex: i,
        name: w.name,
        targetCount: 'count' in w.size ? w.size.count : null,
        targetPercent: 'percent' in w.size ? w.size.percent : null,
        soakSeconds: w.soak.duration ?? 0,
        timeoutSeconds: waveTimeoutSeconds(spec, i),
      })),
    )
    .returning();
  return { rollout: rollout!, waves: waveRows.sort((a, b) => a.waveIndex - b.waveIndex) };
}

/** Mark every other unfinished rollout of `modelName` superseded by `by`; returns their ids. */
async function supersedeOlder(
  tx: Database,
  modelName: string,
  by: string,
  ctx: TransitionContext,
): Promise<string[]> {
  const older = await tx
    .select()
    .from(rollouts)
    .where(
      and(
        eq(rollouts.modelName, modelName),
        ne(rollouts.id, by),
        notInArray(rollouts.state, [...FINAL_ROLLOUT_STATES]),
      ),
    )
    .orderBy(asc(rollouts.createdAt))
    .for('update');
  for (const row of older) await applyRolloutEvent(tx, row, { type: 'supersede', by }, ctx);
  return older.map((r) => r.id);
}

/**
 * Start a draft (locked) rollout: supersede the other unfinished rollouts of its model (not for a fleet
 * rollback, which runs beside its siblings), then `running`, or `awaiting_approval` when the first wave
 * needs approval.
 */
export async function startDraft(
  tx: Database,
  row: Rollout,
  ctx: TransitionContext,
): Promise<{ rollout: Rollout; superseded: string[] }> {
  const event: RolloutEvent = {
    type: 'start',
    approvalRequired: waveNeedsApproval(rolloutSpec(row), 0),
  };
  const allowed = rolloutTransition(row.state, event);
  if (!allowed.ok) throw EdgefleetError.fromFailure(allowed);
  const superseded =
    row.kind === 'deploy' ? await supersedeOlder(tx, row.modelName, row.id, ctx) : [];
  const rollout = await applyRolloutEvent(tx, row, event, ctx);
  return { rollout, superseded };
}

/**
 * Create a rollout from a parsed spec, in one transaction: check the release (EF_NOT_FOUND), choose the
 * baseline (the spec's, or the release most matching devices run now), store the rollout and its waves,
 * and, unless `draft`, start it (superseding the unfinished rollouts of the same model).
 */
export async function createRollout(
  db: Database,
  input: CreateRolloutInput,
): Promise<CreatedRollout> {
  const now = input.now ?? new Date();
  const spec = input.spec;
  const id = input.id ?? randomUUID();
  const ctx: TransitionContext = { now, actor: input.createdBy ?? 'system' };
  return db.transaction(async (tx) => {
    const release = await requireRelease(tx, spec.releaseId, 'release to roll out');
    const baselineReleaseId =
      spec.baselineReleaseId === undefined
        ? await defaultBaseline(tx, release.releaseId, toPredicates(spec.selector))
        : (await requireRelease(tx, spec.baselineReleaseId, 'baseline')).releaseId;
    const created = await insertRollout(
      tx,
      {
        id,
        releaseId: release.releaseId,
        baselineReleaseId,
        modelName: release.modelName,
        kind: 'deploy',
        createdBy: input.createdBy ?? null,
      },
      spec,
      now,
    ).catch((err: unknown) => {
      throw conflictOnDuplicate(err, id);
    });
    if (input.draft === true) return { ...created, superseded: [] };
    const started = await startDraft(tx, created.rollout, ctx);
    return { rollout: started.rollout, waves: created.waves, superseded: started.superseded };
  });
}

function conflictOnDuplicate(err: unknown, id: string): unknown {
  return sqlStateOf(err) === SQLSTATE.uniqueViolation
    ? new EdgefleetError('EF_CONFLICT', `Rollout ${id} already exists.`, {
        details: { rolloutId: id },
        cause: err,
      })
    : err;
}

export interface CreateRollbackRolloutInput {
  /** The aborted rollout whose devices go back. */
  aborted: Rollout;
  /** The release those devices ran before (what they go back to). */
  targetReleaseId: string;
  /** The new release (higher counter) that points at the target's artifacts. */
  release: Release;
  now?: Date;
}

/** The spec of a fleet rollback: one wave, no gates or criteria, the aborted rollout's pace. */
export function rollbackSpec(aborted: RolloutSpec, releaseId: string): RolloutSpec {
  return RolloutSpecSchema.parse({
    releaseId,
    selector: '',
    waves: [{ name: 'rollback', size: { percent: 100 }, gates: { minSuccessRatio: 0 } }],
    spreadBy: aborted.spreadBy,
    rate: aborted.rate,
    maxConcurrent: aborted.maxConcurrent,
    deviceTimeout: aborted.deviceTimeout,
  } satisfies RolloutSpecInput);
}

/**
 * Create (and start) the rollout that sends the aborted rollout's devices whose previous release is
 * `targetReleaseId` to `release`. Idempotent: undefined when that rollback rollout exists already.
 */
export async function createRollbackRollout(
  db: Database,
  input: CreateRollbackRolloutInput,
): Promise<Rollout | undefined> {
  const now = input.now ?? new Date();
  const ctx: TransitionContext = { now, actor: 'system' };
  const spec = rollbackSpec(rolloutSpec(input.aborted), input.release.releaseId);
  return db.transaction(async (tx) => {
    const [existing] = await tx
      .select({ id: rollouts.id })
      .from(rollouts)
      .where(
        and(
          eq(rollouts.rollbackOf, input.aborted.id),
          eq(rollouts.rollbackTargetReleaseId, input.targetReleaseId),
        ),
      );
    if (existing !== undefined) return undefined;
    const { rollout } = await insertRollout(
      tx,
      {
        id: randomUUID(),
        releaseId: input.release.releaseId,
        baselineReleaseId: input.aborted.releaseId,
        modelName: input.release.modelName,
        kind: 'rollback',
        rollbackOf: input.aborted.id,
        rollbackTargetReleaseId: input.targetReleaseId,
        createdBy: 'system',
      },
      spec,
      now,
    );
    return (await startDraft(tx, rollout, ctx)).rollout;
  });
}
