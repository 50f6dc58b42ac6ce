/**
 * What an operator can do to a rollout (ARCHITECTURE §6): start a draft, approve, pause, resume, cancel,
 * abort (fleet rollback), promote the current wave, retry failed devices. Each runs in one transaction
 * with the rollout's row locked, goes through the state machines, and fails with EF_NOT_FOUND or
 * EF_CONFLICT (a message saying what the rollout's state allows instead). Auditing is the caller's.
 *
 * The scheduler carries out the consequences on its next tick: an approved wave starts, a resumed
 * rollout assigns again, retried devices get a new directive within the rate limit and the budget.
 */
import { EdgefleetError } from '@edgefleet/protocol';
import { and, asc, eq, inArray, isNull, notInArray, or } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import {
  deviceDeployments,
  gateEvaluations,
  waves,
  type Rollout,
  type Wave,
} from '../db/schema.js';
import { waveTransition, type RolloutEvent } from './machines.js';
import {
  applyRolloutEvent,
  listWaves,
  lockRollout,
  startDraft,
  type TransitionContext,
} from './store.js';

export interface OperatorActionOptions {
  /** Who acts (an operator token name); recorded with approvals and promotions. */
  actor?: string;
  now?: Date;
}

function context(options: OperatorActionOptions): TransitionContext {
  return { now: options.now ?? new Date(), actor: options.actor ?? 'operator' };
}

function conflict(rollout: Rollout, message: string): EdgefleetError {
  return new EdgefleetError('EF_CONFLICT', message, {
    details: { rolloutId: rollout.id, state: rollout.state },
  });
}

async function transition(
  db: Database,
  id: string,
  event: RolloutEvent,
  options: OperatorActionOptions,
  check?: (tx: Database, row: Rollout) => Promise<void>,
): Promise<Rollout> {
  const ctx = context(options);
  return db.transaction(async (tx) => {
    const row = await lockRollout(tx, id);
    await check?.(tx, row);
    return applyRolloutEvent(tx, row, event, ctx);
  });
}

/** The wave being worked on: the first that has not passed. */
function currentWave(rows: readonly Wave[]): Wave | undefined {
  return rows.find((w) => w.state !== 'passed');
}

/**
 * Start a draft rollout (to `awaiting_approval` when its first wave needs approval), superseding the
 * unfinished rollouts of its model. Returns the rollout and the ids it superseded.
 */
export async function startRollout(
  db: Database,
  id: string,
  options: OperatorActionOptions = {},
): Promise<{ rollout: Rollout; superseded: string[] }> {
  const ctx = context(options);
  return db.transaction(async (tx) => startDraft(tx, await lockRollout(tx, id), ctx));
}

/** Approve the wave the rollout is waiting for (the first wave, or the next one between waves). */
export async function approveRollout(
  db: Database,
  id: string,
  options: OperatorActionOptions = {},
): Promise<Rollout> {
  return transition(db, id, { type: 'approve' }, options);
}

/** Stop sending new directives; devices already updating carry on and are still tracked. */
export async function pauseRollout(
  db: Database,
  id: string,
  options: OperatorActionOptions = {},
): Promise<Rollout> {
  return transition(db, id, { type: 'pause', reason: 'operator' }, options);
}

/** Resume a paused rollout. Refused while its current wave has failed its gate. */
export async function resumeRollout(
  db: Database,
  id: string,
  options: OperatorActionOptions = {},
): Promise<Rollout> {
  return transition(db, id, { type: 'resume' }, options, async (tx, row) => {
    const wave = currentWave(await listWaves(tx, row.id));
    if (wave?.state === 'failed') {
      throw conflict(
        row,
        `Wave ${wave.waveIndex} (${wave.name}) failed its gate: promote it to go on, retry its failed devices, or cancel or abort the rollout.`,
      );
    }
  });
}

/**
 * Cancel: no new directives, directives not yet sent are withdrawn. Devices already updating keep the
 * release (use abort to send them back).
 */
export async function cancelRollout(
  db: Database,
  id: string,
  options: OperatorActionOptions = {},
): Promise<Rollout> {
  return transition(db, id, { type: 'cancel' }, options);
}

/** Abort with fleet rollback: every device the rollout moved goes back to its previous release. */
export async function abortRollout(
  db: Database,
  id: string,
  options: OperatorActionOptions = {},
): Promise<Rollout> {
  return transition(db, id, { type: 'abort', reason: 'operator' }, options, (_tx, row) => {
    if (row.kind === 'rollback') {
      throw conflict(row, 'A fleet rollback cannot itself be rolled back; cancel it instead.');
    }
    return Promise.resolve();
  });
}

/**
 * Pass the current wave now, whatever its gate says (skipping the rest of its soak, or overriding a
 * failed gate). The promotion is recorded as a gate evaluation. A rollout paused by the failed gate
 * stays paused until resumed.
 */
export async function promoteWave(
  db: Database,
  id: string,
  options: OperatorActionOptions = {},
): Promise<Wave> {
  const { now, actor } = context(options);
  return db.transaction(async (tx) => {
    const row = await lockRollout(tx, id);
    if (row.state !== 'running' && row.state !== 'paused') {
      throw conflict(
        row,
        `Rollout ${row.id} is ${row.state}: only a running or paused rollout's wave can be promoted.`,
      );
    }
    const wave = currentWave(await listWaves(tx, row.id));
    if (wave === undefined) throw conflict(row, `Rollout ${row.id} has no wave left to promote.`);
    const t = waveTransition(wave.state, { type: 'promote' });
    if (!t.ok) {
      throw conflict(
        row,
        `Wave ${wave.waveIndex} (${wave.name}) is ${wave.state}; it has not started yet.`,
      );
    }
    const [updated] = await tx
      .update(waves)
      .set({
        state: t.value.state,
        finishedAt: now,
        verdict: { promotedBy: actor ?? null, promotedAt: now.toISOString(), from: wave.state },
      })
      .where(and(eq(waves.rolloutId, row.id), eq(waves.waveIndex, wave.waveIndex)))
      .returning();
    await tx.insert(gateEvaluations).values({
      rolloutId: row.id,
      waveIndex: wave.waveIndex,
      kind: 'promote',
      passed: true,
      details: { actor: actor ?? null, from: wave.state },
      evaluatedAt: now,
    });
    return updated!;
  });
}

export interface RetryFailedOptions extends OperatorActionOptions {
  /** Only this wave's devices (default: every wave). */
  waveIndex?: number;
}

/**
 * Ask for failed and timed-out devices to be sent their directive again (a new directive counter; the
 * scheduler re-sends within the rate limit and the budget while the rollout runs). Deployments the
 * control plane withdrew (superseded, cancelled) are not retried. A failed wave with retried devices
 * reopens (`running`) and is judged again when they finish. Returns how many devices will be retried.
 */
export async function retryFailed(
  db: Database,
  id: string,
  options: RetryFailedOptions = {},
): Promise<{ rollout: Rollout; retried: number }> {
  const { now } = context(options);
  return db.transaction(async (tx) => {
    const row = await lockRollout(tx, id);
    if (row.state !== 'running' && row.state !== 'paused' && row.state !== 'awaiting_approval') {
      throw conflict(
        row,
        `Rollout ${row.id} is ${row.state}: its devices can no longer be retried.`,
      );
    }
    const flagged = await tx
      .update(deviceDeployments)
      .set({ retryRequestedAt: now, updatedAt: now })
      .where(
        and(
          eq(deviceDeployments.rolloutId, row.id),
          options.waveIndex === undefined
            ? undefined
            : eq(deviceDeployments.waveIndex, options.waveIndex),
          inArray(deviceDeployments.state, ['failed', 'timed_out']),
          or(
            isNull(deviceDeployments.reason),
            notInArray(deviceDeployments.reason, ['superseded', 'cancelled']),
          ),
          isNull(deviceDeployments.retryRequestedAt),
        ),
      )
      .returning({ waveIndex: deviceDeployments.waveIndex });
    const reopened = [...new Set(flagged.map((f) => f.waveIndex))];
    const failedWaves = await tx
      .select()
      .from(waves)
      .where(
        and(
          eq(waves.rolloutId, row.id),
          eq(waves.state, 'failed'),
          reopened.length === 0 ? undefined : inArray(waves.waveIndex, reopened),
        ),
      )
      .orderBy(asc(waves.waveIndex));
    for (const wave of reopened.length === 0 ? [] : failedWaves) {
      const t = waveTransition(wave.state, { type: 'retry' });
      if (!t.ok) continue;
      await tx
        .update(waves)
        .set({ state: t.value.state, finishedAt: null })
        .where(and(eq(waves.rolloutId, row.id), eq(waves.waveIndex, wave.waveIndex)));
    }
    return { rollout: row, retried: flagged.length };
  });
}
