/**
 * One scheduler step for one rollout: load the snapshot, plan, apply the effects.
 *
 * Restart safety. A tick loads the snapshot with the rollout's row locked (`FOR UPDATE`), plans, and
 * applies the effects in the same transaction: a crash leaves either all of a tick's decisions or none.
 * Directives are sent only after that commit, from the outbox (outbox.ts). Unique indexes back the
 * rest: one deployment per (rollout, device), one open deployment per device (no two racing
 * directives), one deployment per (device, directive counter).
 *
 * Effects are applied through the state machines; one that the stored state no longer allows (applied
 * already, or overtaken by an operator action) is skipped and reported, never applied twice.
 */
import {
  and,
  asc,
  eq,
  exists,
  inArray,
  isNull,
  ne,
  notExists,
  notInArray,
  or,
  sql,
} from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { labelSelectorSql, nextDirectiveCounters } from '../db/devices.js';
import {
  deviceDeployments,
  devices,
  gateEvaluations,
  OPEN_DEVICE_DEPLOYMENT_STATES,
  rollouts,
  waves,
  type DeviceDeployment,
  type JsonObject,
  type NewRollout,
  type Rollout,
  type RolloutState,
  type Wave,
  type WaveState,
} from '../db/schema.js';
import type { Verdict } from './gates.js';
import {
  ACTIVE_ROLLOUT_STATES,
  FINAL_ROLLOUT_STATES,
  rolloutTransition,
  waveTransition,
  type DeploymentEvent,
  type RolloutEvent,
  type WaveEvent,
} from './machines.js';
import type { CandidateDevice } from './membership.js';
import { planTick, type PlanEffect, type PlannerHealth, type PlannerSnapshot } from './planner.js';
import { applyDeploymentEvent } from './reports.js';
import type { RolloutSpec } from './spec.js';
import { applyRolloutEvent, listWaves, lockRollout, rolloutSpec } from './store.js';

/** Devices with an open deployment in another active rollout are busy: they wait for it to finish. */
function busyElsewhere(tx: Database, rolloutId: string) {
  return exists(
    tx
      .select({ one: sql`1` })
      .from(deviceDeployments)
      .innerJoin(rollouts, eq(rollouts.id, deviceDeployments.rolloutId))
      .where(
        and(
          eq(deviceDeployments.deviceId, devices.id),
          ne(deviceDeployments.rolloutId, rolloutId),
          inArray(deviceDeployments.state, [...OPEN_DEVICE_DEPLOYMENT_STATES]),
          inArray(rollouts.state, [...ACTIVE_ROLLOUT_STATES]),
        ),
      ),
  );
}

/** The devices a rollout's selector (or, for a fleet rollback, the aborted rollout) targets. */
async function targetCondition(tx: Database, row: Rollout) {
  if (row.kind === 'deploy' || row.rollbackOf === null || row.rollbackTargetReleaseId === null) {
    return labelSelectorSql(row.selector);
  }
  const [aborted] = await tx
    .select({ baseline: rollouts.baselineReleaseId })
    .from(rollouts)
    .where(eq(rollouts.id, row.rollbackOf));
  const target = row.rollbackTargetReleaseId;
  return exists(
    tx
      .select({ one: sql`1` })
      .from(deviceDeployments)
      .where(
        and(
          eq(deviceDeployments.rolloutId, row.rollbackOf),
          eq(deviceDeployments.deviceId, devices.id),
          notInArray(deviceDeployments.state, ['failed', 'rolled_back']),
          aborted?.baseline === target
            ? or(
                eq(deviceDeployments.previousReleaseId, target),
                isNull(deviceDeployments.previousReleaseId),
              )
            : eq(deviceDeployments.previousReleaseId, target),
        ),
      ),
  );
}

/**
 * Devices the rollout targets that are not in it yet: those that may join now (PlannerSnapshot
 * .candidates) and how many wait for a deployment in another rollout to end.
 */
async function targetedDevices(
  tx: Database,
  row: Rollout,
): Promise<{ candidates: CandidateDevice[]; waiting: number }> {
  const rows = await tx
    .select({
      id: devices.id,
      hardwareClass: devices.hardwareClass,
      labels: devices.labels,
      busy: sql<boolean>`${busyElsewhere(tx, row.id)}`,
    })
    .from(devices)
    .where(
      and(
        eq(devices.status, 'active'),
        await targetCondition(tx, row),
        notExists(
          tx
            .select({ one: sql`1` })
            .from(deviceDeployments)
            .where(
              and(
                eq(deviceDeployments.rolloutId, row.id),
                eq(deviceDeployments.deviceId, devices.id),
              ),
            ),
        ),
      ),
    );
  const candidates = rows
    .filter((r) => !r.busy)
    .map(({ id, hardwareClass, labels }) => ({ id, hardwareClass, labels }));
  return { candidates, waiting: rows.length - candidates.length };
}

/** What a tick works with: the locked rows and the planner's view of them. */
export interface LoadedRollout {
  row: Rollout;
  spec: RolloutSpec;
  waves: Wave[];
  deployments: Map<string, DeviceDeployment>;
  snapshot: PlannerSnapshot;
}

/** Lock the rollout and load its snapshot (inside the tick's transaction). */
export async function loadSnapshot(
  tx: Database,
  rolloutId: string,
  now: Date,
  health?: PlannerHealth,
): Promise<LoadedRollout> {
  const row = await lockRollout(tx, rolloutId);
  const spec = rolloutSpec(row);
  const waveRows = await listWaves(tx, rolloutId);
  // Locked too: a device report committed between this read and the tick's writes would make the
  // tick judge on outcomes that are no longer true. Reports wait for the tick instead.
  const deploymentRows = await tx
    .select()
    .from(deviceDeployments)
    .where(eq(deviceDeployments.rolloutId, rolloutId))
    .orderBy(asc(deviceDeployments.id))
    .for('update');
  const { candidates, waiting } = await targetedDevices(tx, row);
  const snapshot: PlannerSnapshot = {
    now: now.getTime(),
    rollout: { id: row.id, state: row.state, spec, fleetSize: row.fleetSize },
    waves: waveRows.map((w) => ({
      index: w.waveIndex,
      state: w.state,
      cumulativeTarget: w.cumulativeTarget,
      startedAt: w.startedAt?.getTime() ?? null,
      approved: w.approvedAt !== null,
    })),
    deployments: deploymentRows.map((d) => ({
      deviceId: d.deviceId,
      waveIndex: d.waveIndex,
      state: d.state,
      assignedAt: d.assignedAt.getTime(),
      retryRequested: d.retryRequestedAt !== null,
    })),
    candidates,
    waiting,
    ...(health === undefined ? {} : { health }),
  };
  return {
    row,
    spec,
    waves: waveRows,
    deployments: new Map(deploymentRows.map((d) => [d.deviceId, d])),
    snapshot,
  };
}

// --- Applying effects ----------------------------------------------------------------------------

export interface ApplyResult {
  /** Effects carried out. */
  applied: PlanEffect[];
  /** Effects the stored state no longer allowed (already applied, or overtaken); nothing was done. */
  skipped: PlanEffect[];
}

type AssignEffect = Extract<PlanEffect, { type: 'assign' }>;

/** Devices per bulk assignment step (the deployment insert has 9 parameters a row). */
const ASSIGN_CHUNK = 1000;

function verdictJson(verdict: Verdict): JsonObject[] {
  return verdict.checks.map((c) => ({ ...c }));
}

/** Applies one tick's effects to the loaded, locked rollout; keeps the rows it changed current. */
class EffectApplier {
  private readonly applied: PlanEffect[] = [];
  private readonly skipped: PlanEffect[] = [];
  private readonly waveStates: Map<number, WaveState>;

  constructor(
    private readonly tx: Database,
    private readonly loaded: LoadedRollout,
    private readonly now: Date,
  ) {
    this.waveStates = new Map(loaded.waves.map((w) => [w.waveIndex, w.state]));
  }

  async run(effects: readonly PlanEffect[]): Promise<ApplyResult> {
    for (let i = 0; i < effects.length;) {
      const effect = effects[i]!;
      if (effect.type !== 'assign') {
        const done = await this.apply(effect);
        (done ? this.applied : this.skipped).push(effect);
        i++;
        continue;
      }
      // A run of assignments (a wave's worth) is applied in bulk: a few statements per chunk of
      // devices instead of five round trips per device.
      const batch: AssignEffect[] = [];
      for (; i < effects.length; i++) {
        const e = effects[i]!;
        if (e.type !== 'assign') break;
        batch.push(e);
      }
      const done = await this.assignMany(batch);
      batch.forEach((e, k) => (done[k] ? this.applied : this.skipped).push(e));
    }
    return { applied: this.applied, skipped: this.skipped };
  }

  private get rollout(): Rollout {
    return this.loaded.row;
  }

  private async rolloutEvent(event: RolloutEvent): Promise<boolean> {
    if (!rolloutTransition(this.rollout.state, event).ok) return false;
    this.loaded.row = await applyRolloutEvent(this.tx, this.rollout, event, {
      now: this.now,
      actor: 'system',
    });
    return true;
  }

  private async waveEvent(
    index: number,
    event: WaveEvent,
    set: Partial<Wave> = {},
  ): Promise<boolean> {
    const state = this.waveStates.get(index);
    if (state === undefined) return false;
    const t = waveTransition(state, event);
    if (!t.ok) return false;
    const values: Partial<Wave> = { ...set, state: t.value.state };
    for (const effect of t.value.effects) {
      switch (effect.type) {
        case 'markStarted':
          values.startedAt = this.now;
          break;
        case 'markSoakStarted':
          values.soakStartedAt = this.now;
          break;
        case 'markFinished':
          values.finishedAt = this.now;
          break;
        case 'reopen':
          values.finishedAt = null;
          break;
      }
    }
    await this.tx
      .update(waves)
      .set(values)
      .where(and(eq(waves.rolloutId, this.rollout.id), eq(waves.waveIndex, index)));
    this.waveStates.set(index, t.value.state);
    return true;
  }

  private async deploymentEvent(deviceId: string, event: DeploymentEvent): Promise<boolean> {
    const row = this.loaded.deployments.get(deviceId);
    if (row === undefined) return false;
    const updated = await applyDeploymentEvent(this.tx, row, event, this.now);
    if (updated === undefined) return false;
    this.loaded.deployments.set(deviceId, updated);
    return true;
  }

  private async recordEvaluation(
    kind: 'wave_gate' | 'abort_criteria',
    waveIndex: number | null,
    verdict: Verdict,
    details: JsonObject,
    window?: { from: number; to: number },
  ): Promise<void> {
    await this.tx.insert(gateEvaluations).values({
      rolloutId: this.rollout.id,
      waveIndex,
      kind,
      passed: verdict.passed,
      checks: verdictJson(verdict),
      details,
      windowStart: window === undefined ? null : new Date(window.from),
      windowEnd: window === undefined ? null : new Date(window.to),
      evaluatedAt: this.now,
    });
  }

  private async apply(effect: PlanEffect): Promise<boolean> {
    const { tx } = this;
    switch (effect.type) {
      case 'fixPlan': {
        if (this.rollout.fleetSize !== null) return false;
        await this.updateRollout({ fleetSize: effect.fleetSize });
        for (const [index, target] of effect.cumulativeTargets.entries()) {
          await tx
            .update(waves)
            .set({ cumulativeTarget: target })
            .where(and(eq(waves.rolloutId, this.rollout.id), eq(waves.waveIndex, index)));
        }
        return true;
      }
      case 'timeOut':
        return this.deploymentEvent(effect.deviceId, { type: 'timeout' });
      case 'requestApproval':
        return this.rolloutEvent({ type: 'awaitApproval' });
      case 'startWave':
        return (
          this.rollout.state === 'running' && this.waveEvent(effect.waveIndex, { type: 'start' })
        );
      case 'startSoak':
        return this.waveEvent(effect.waveIndex, { type: 'soak' });
      case 'completeWave': {
        const ok = await this.waveEvent(
          effect.waveIndex,
          { type: effect.verdict.passed ? 'pass' : 'fail' },
          { verdict: { ...effect.verdict, counts: effect.counts } as unknown as JsonObject },
        );
        if (ok) {
          await this.recordEvaluation(
            'wave_gate',
            effect.waveIndex,
            effect.verdict,
            { counts: { ...effect.counts } },
            effect.window,
          );
        }
        return ok;
      }
      case 'pause': {
        const ok = await this.rolloutEvent({ type: 'pause', reason: effect.reason });
        if (ok && effect.reason === 'abort_criteria' && effect.verdict !== undefined) {
          await this.recordEvaluation('abort_criteria', null, effect.verdict, { action: 'pause' });
        }
        return ok;
      }
      case 'abort': {
        const ok = await this.rolloutEvent({ type: 'abort', reason: effect.reason });
        if (ok && effect.reason === 'abort_criteria' && effect.verdict !== undefined) {
          await this.recordEvaluation('abort_criteria', null, effect.verdict, {
            action: 'abort',
            ...(effect.counts === undefined ? {} : { counts: { ...effect.counts } }),
          });
        }
        return ok;
      }
      case 'complete':
        return this.rolloutEvent({ type: 'complete' });
      case 'assign':
        return (await this.assignMany([effect]))[0]!;
      case 'reassign':
        return this.reassign(effect.deviceId);
    }
  }

  private async updateRollout(set: Partial<NewRollout>): Promise<void> {
    const [row] = await this.tx
      .update(rollouts)
      .set({ ...set, updatedAt: this.now })
      .where(eq(rollouts.id, this.rollout.id))
      .returning();
    this.loaded.row = row!;
  }

  /** True when the wave accepts new members now (running; the last wave also while soaking). */
  private waveTakesMembers(index: number): boolean {
    const state = this.waveStates.get(index);
    const isLast = index === this.loaded.waves.length - 1;
    return state === 'running' || (isLast && state === 'soaking');
  }

  /**
   * Close the devices' open deployments in finished rollouts (a newer directive replaces them); the
   * devices that are then free (no open deployment left anywhere).
   */
  private async freeDevices(deviceIds: readonly string[]): Promise<Set<string>> {
    const { tx, now } = this;
    if (deviceIds.length === 0) return new Set();
    await tx
      .update(deviceDeployments)
      .set({ state: 'failed', reason: 'superseded', finishedAt: now, updatedAt: now })
      .where(
        and(
          inArray(deviceDeployments.deviceId, [...deviceIds]),
          inArray(deviceDeployments.state, [...OPEN_DEVICE_DEPLOYMENT_STATES]),
          inArray(
            deviceDeployments.rolloutId,
            tx
              .select({ id: rollouts.id })
              .from(rollouts)
              .where(inArray(rollouts.state, [...FINAL_ROLLOUT_STATES])),
          ),
        ),
      );
    const open = await tx
      .selectDistinct({ deviceId: deviceDeployments.deviceId })
      .from(deviceDeployments)
      .where(
        and(
          inArray(deviceDeployments.deviceId, [...deviceIds]),
          inArray(deviceDeployments.state, [...OPEN_DEVICE_DEPLOYMENT_STATES]),
        ),
      );
    const busy = new Set(open.map((r) => r.deviceId));
    return new Set(deviceIds.filter((id) => !busy.has(id)));
  }

  /**
   * Assign each device to its wave: a new `pending` deployment with the device's next directive
   * counter, for active devices that are free (no open deployment anywhere). Per effect, whether it
   * was applied. The outbox sends the directives after the tick commits.
   */
  private async assignMany(batch: readonly AssignEffect[]): Promise<boolean[]> {
    const { tx, now } = this;
    const done = batch.map(() => false);
    if (this.rollout.state !== 'running') return done;
    const wanted = new Map<string, number>();
    batch.forEach((e, k) => {
      if (!this.waveTakesMembers(e.waveIndex)) return;
      if (this.loaded.deployments.has(e.deviceId) || wanted.has(e.deviceId)) return;
      wanted.set(e.deviceId, k);
    });
    const ids = [...wanted.keys()];
    for (let i = 0; i < ids.length; i += ASSIGN_CHUNK) {
      const chunk = ids.slice(i, i + ASSIGN_CHUNK);
      const found = await tx
        .select({
          id: devices.id,
          status: devices.status,
          currentReleaseId: devices.currentReleaseId,
        })
        .from(devices)
        .where(inArray(devices.id, chunk));
      const active = new Map(
        found.filter((d) => d.status === 'active').map((d) => [d.id, d.currentReleaseId]),
      );
      const free = await this.freeDevices(chunk.filter((id) => active.has(id)));
      const ready = chunk.filter((id) => free.has(id));
      if (ready.length === 0) continue;
      const counters = await nextDirectiveCounters(tx, ready, now);
      const inserted = await tx
        .insert(deviceDeployments)
        .values(
          ready.map((deviceId) => ({
            rolloutId: this.rollout.id,
            waveIndex: batch[wanted.get(deviceId)!]!.waveIndex,
            deviceId,
            releaseId: this.rollout.releaseId,
            state: 'pending' as const,
            directiveCounter: counters.get(deviceId)!,
            previousReleaseId: active.get(deviceId) ?? null,
            assignedAt: now,
            updatedAt: now,
          })),
        )
        .onConflictDoNothing()
        .returning();
      for (const row of inserted) {
        this.loaded.deployments.set(row.deviceId, row);
        done[wanted.get(row.deviceId)!] = true;
      }
    }
    return done;
  }

  private async reassign(deviceId: string): Promise<boolean> {
    const { tx, now } = this;
    const row = this.loaded.deployments.get(deviceId);
    if (row?.retryRequestedAt == null || this.rollout.state !== 'running') return false;
    if (!(await this.freeDevices([deviceId])).has(deviceId)) {
      // Busy in another rollout: the retry is dropped rather than racing it.
      await tx
        .update(deviceDeployments)
        .set({ retryRequestedAt: null, updatedAt: now })
        .where(eq(deviceDeployments.id, row.id));
      this.loaded.deployments.set(deviceId, { ...row, retryRequestedAt: null });
      return false;
    }
    return this.deploymentEvent(deviceId, { type: 'retry' });
  }
}

// --- Ticking one rollout -------------------------------------------------------------------------

export interface RolloutTickResult extends ApplyResult {
  rolloutId: string;
  /** The rollout's state after the tick. */
  state: RolloutState;
}

/**
 * One scheduler step for one rollout, in one transaction: lock, load, plan, apply. Health must be
 * gathered before (outside the transaction: on PGlite a query on another handle would wait for it).
 */
export async function tickRollout(
  db: Database,
  rolloutId: string,
  now: Date,
  health?: PlannerHealth,
): Promise<RolloutTickResult> {
  return db.transaction(async (tx) => {
    const loaded = await loadSnapshot(tx, rolloutId, now, health);
    const effects = planTick(loaded.snapshot);
    const result = await new EffectApplier(tx, loaded, now).run(effects);
    return { rolloutId, state: loaded.row.state, ...result };
  });
}

/**
 * Apply already-decided effects to the rollout at `now`, in one transaction (what `tickRollout` does
 * after planning). Effects the stored state no longer allows are skipped, so applying a tick's effects
 * a second time changes nothing.
 */
export async function applyEffects(
  db: Database,
  rolloutId: string,
  effects: readonly PlanEffect[],
  now: Date,
): Promise<RolloutTickResult> {
  return db.transaction(async (tx) => {
    const loaded = await loadSnapshot(tx, rolloutId, now);
    const result = await new EffectApplier(tx, loaded, now).run(effects);
    return { rolloutId, state: loaded.row.state, ...result };
  });
}
