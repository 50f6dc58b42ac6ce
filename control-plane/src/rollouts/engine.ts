/**
 * The rollout scheduler's shell: `tick(now)` moves every active rollout one step (load, plan, apply in
 * one transaction each), starts the fleet rollbacks of aborted rollouts, then hands the directives
 * decided to the broker through the injected `publishDirective`. Signing, MQTT and release creation
 * are the caller's (injected), so this file only orders the work.
 *
 * Run one engine per deployment (the scheduler leader); ticks of one engine never overlap. Every tick
 * starts from the database, so an engine started after a crash carries on where the last one stopped.
 */
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { getRelease } from '../db/releases.js';
import type { Release } from '../db/schema.js';
import {
  existingRollbacks,
  markRollbackStarted,
  planFleetRollback,
  rolloutsAwaitingRollback,
} from './fleet-rollback.js';
import type { BaselineHealth, HealthSource, WaveHealth } from './gates.js';
import type { PlanEffect, PlannerHealth } from './planner.js';
import { markPublishedMany, unpublishedDirectives, type PendingDirective } from './outbox.js';
import {
  createRollbackRollout,
  getRollout,
  listActiveRolloutIds,
  listWaveDeviceIds,
  listWaves,
} from './store.js';
import { tickRollout } from './tick.js';

export type { PendingDirective } from './outbox.js';

export interface RollbackReleaseRequest {
  /** The aborted rollout. */
  readonly rolloutId: string;
  /** The release being rolled back. */
  readonly from: Release;
  /** The release the devices ran before; the new release points at its artifacts. */
  readonly to: Release;
}

export interface RolloutEngineOptions {
  db: Database;
  /**
   * Sign the directive and publish it retained on the device's `desired` topic (QoS 1). Resolve once
   * the broker has it. May be called again for the same directive (same counter) after a crash.
   */
  publishDirective(directive: PendingDirective): Promise<void>;
  /** Make and store a new release (next counter of `from`'s model) with `to`'s artifacts. */
  createRollbackRelease(request: RollbackReleaseRequest): Promise<Release>;
  /** Telemetry for the health gates and criteria; without it the device outcomes decide. */
  health?: HealthSource;
  logger?: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /**
   * Directives read from the outbox at a time. Default 1000. A tick sends batch after batch until the
   * outbox is empty (or a publish fails), marking each batch sent in a few statements.
   */
  publishBatch?: number;
  /** Directives in flight to the broker at once. Default 256. */
  publishConcurrency?: number;
}

export interface TickReport {
  /** Effects applied per rollout (rollouts with nothing to do are left out). */
  readonly rollouts: readonly {
    readonly rolloutId: string;
    readonly applied: readonly PlanEffect[];
    readonly skipped: readonly PlanEffect[];
  }[];
  /** Rollback rollouts created in this tick. */
  readonly rollbacks: readonly string[];
  readonly published: number;
  readonly publishFailures: number;
  /** Rollouts whose step failed (logged; retried next tick). */
  readonly errors: readonly { readonly rolloutId?: string; readonly message: string }[];
}

export interface RolloutEngine {
  /** One scheduler step at `now` (default: the current time). Calls never overlap. */
  tick(now?: Date): Promise<TickReport>;
  /**
   * Tick every `intervalMs` until the returned stop function is called (it waits for the tick).
   * `onReport` sees every tick's report (e.g. to tell event-stream subscribers what changed).
   */
  start(intervalMs: number, onReport?: (report: TickReport) => void): () => Promise<void>;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function createRolloutEngine(options: RolloutEngineOptions): RolloutEngine {
  const { db, logger } = options;
  const publishBatch = options.publishBatch ?? 1000;
  const publishConcurrency = Math.max(1, options.publishConcurrency ?? 256);
  let queue: Promise<unknown> = Promise.resolve();

  async function gatherHealth(rolloutId: string, now: Date): Promise<PlannerHealth | undefined> {
    const source = options.health;
    if (source === undefined) return undefined;
    const rollout = await getRollout(db, rolloutId);
    const wave = (await listWaves(db, rolloutId)).find(
      (w) => w.state === 'running' || w.state === 'soaking',
    );
    if (rollout === undefined || wave === undefined) return undefined;
    const window = { from: wave.startedAt ?? now, to: now };
    const deviceIds = await listWaveDeviceIds(db, rolloutId, wave.waveIndex);
    const waveHealth: WaveHealth | undefined = await source.waveHealth({
      rolloutId,
      waveIndex: wave.waveIndex,
      releaseId: rollout.releaseId,
      baselineReleaseId: rollout.baselineReleaseId ?? undefined,
      deviceIds,
      window,
    });
    const baseline: BaselineHealth | undefined =
      rollout.baselineReleaseId === null
        ? undefined
        : await source.baselineHealth({ rolloutId, releaseId: rollout.baselineReleaseId, window });
    return {
      ...(waveHealth === undefined ? {} : { waves: new Map([[wave.waveIndex, waveHealth]]) }),
      ...(baseline === undefined ? {} : { baseline }),
    };
  }

  async function startRollbacks(
    now: Date,
    errors: TickReport['errors'][number][],
  ): Promise<string[]> {
    const created: string[] = [];
    for (const aborted of await rolloutsAwaitingRollback(db)) {
      try {
        const plan = await planFleetRollback(db, aborted);
        const existing = await existingRollbacks(db, aborted.id);
        const from = await getRelease(db, aborted.releaseId);
        const made: Record<string, string> = {};
        for (const group of plan.groups) {
          const done = existing.get(group.targetReleaseId);
          if (done !== undefined) {
            made[group.targetReleaseId] = done.id;
            continue;
          }
          const to = await getRelease(db, group.targetReleaseId);
          if (from === undefined || to === undefined) continue;
          const release = await options.createRollbackRelease({ rolloutId: aborted.id, from, to });
          const rollout = await createRollbackRollout(db, {
            aborted,
            targetReleaseId: group.targetReleaseId,
            release,
            now,
          });
          if (rollout !== undefined) {
            created.push(rollout.id);
            made[group.targetReleaseId] = rollout.id;
          }
        }
        await markRollbackStarted(
          db,
          aborted.id,
          {
            rollbackRollouts: made,
            groups: plan.groups.map((g) => ({ ...g })),
            noPreviousRelease: plan.noPreviousRelease,
            unknownRelease: plan.unknownRelease,
            unchanged: plan.unchanged,
          },
          now,
        );
        logger?.info({ rolloutId: aborted.id, rollbackRollouts: made }, 'fleet rollback started');
      } catch (err) {
        errors.push({ rolloutId: aborted.id, message: messageOf(err) });
        logger?.error({ err, rolloutId: aborted.id }, 'starting the fleet rollback failed');
      }
    }
    return created;
  }

  async function publishOutbox(now: Date): Promise<{ published: number; failures: number }> {
    let published = 0;
    let failures = 0;
    for (;;) {
      const pending = await unpublishedDirectives(db, publishBatch);
      const sent: PendingDirective[] = [];
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < pending.length) {
          const directive = pending[next++]!;
          try {
            await options.publishDirective(directive);
            sent.push(directive);
          } catch (err) {
            failures++;
            logger?.warn(
              { err, deviceId: directive.deviceId, rolloutId: directive.rolloutId },
              'publishing a directive failed; retrying next tick',
            );
          }
        }
      };
      await Promise.all(
        Array.from({ length: Math.min(publishConcurrency, pending.length) }, worker),
      );
      // Marked after the broker has them: a crash in between re-sends the same directives (same
      // counters), which devices take as the ones they already have.
      const marked = await markPublishedMany(db, sent, now);
      published += sent.length;
      // Stop at the end of the outbox, on a failure (the broker may be gone: retry next tick), or when
      // nothing could be marked (directives replaced meanwhile: the next tick reads them afresh).
      if (pending.length < publishBatch || failures > 0 || marked === 0) break;
    }
    return { published, failures };
  }

  async function runTick(now: Date): Promise<TickReport> {
    const started = performance.now();
    const errors: TickReport['errors'][number][] = [];
    const results: TickReport['rollouts'][number][] = [];
    for (const rolloutId of await listActiveRolloutIds(db)) {
      try {
        const health = await gatherHealth(rolloutId, now);
        const result = await tickRollout(db, rolloutId, now, health);
        if (result.applied.length > 0 || result.skipped.length > 0) {
          results.push(result);
          logger?.debug(
            { rolloutId, state: result.state, applied: result.applied.length },
            'rollout tick',
          );
        }
        if (result.skipped.length > 0) {
          logger?.warn({ rolloutId, skipped: result.skipped }, 'rollout effects skipped');
        }
      } catch (err) {
        errors.push({ rolloutId, message: messageOf(err) });
        logger?.error({ err, rolloutId }, 'rollout tick failed');
      }
    }
    const rollbacks = await startRollbacks(now, errors);
    const publishing = performance.now();
    const { published, failures } = await publishOutbox(now);
    if (published > 0 || failures > 0) {
      logger?.info(
        {
          published,
          failures,
          planMs: Math.round(publishing - started),
          publishMs: Math.round(performance.now() - publishing),
        },
        'directives published',
      );
    }
    return { rollouts: results, rollbacks, published, publishFailures: failures, errors };
  }

  function tick(now: Date = new Date()): Promise<TickReport> {
    const run = queue.then(() => runTick(now));
    queue = run.catch(() => undefined);
    return run;
  }

  function start(intervalMs: number, onReport?: (report: TickReport) => void): () => Promise<void> {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const loop = (): void => {
      timer = setTimeout(() => {
        void tick()
          .then((report) => {
            try {
              onReport?.(report);
            } catch (err) {
              logger?.warn({ err }, 'rollout tick report listener threw');
            }
          })
          .catch((err: unknown) => {
            logger?.error({ err }, 'rollout engine tick failed');
          })
          .finally(() => {
            if (!stopped) loop();
          });
      }, intervalMs);
      timer.unref();
    };
    loop();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await queue;
    };
  }

  return { tick, start };
}
