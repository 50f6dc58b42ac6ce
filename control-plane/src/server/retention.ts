/**
 * Retention (issue #7: raw per-device windows are not kept forever). The scheduler leader deletes, once
 * an hour by default:
 *
 * - per-device telemetry windows (what wave health gates read) older than `deviceWindowDays`;
 * - merged release x cohort x window aggregates (what drift monitors, release rollups and the dashboard's
 *   distributions read) older than `aggregateDays`;
 * - drift window results (the metric series) and resolved drift events older than `driftHistoryDays`.
 *
 * Open drift events, retraining requests, rollouts and the audit log are never deleted here. A rollout
 * whose soak is longer than `deviceWindowDays` would lose the start of its health data: keep the
 * device-window retention above the longest soak you run.
 */
import type { Logger } from 'pino';
import { realTimers, type Timers } from '../timers.js';

const DAY_MS = 86_400_000;

export interface RetentionPolicy {
  readonly deviceWindowDays: number;
  readonly aggregateDays: number;
  readonly driftHistoryDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  deviceWindowDays: 7,
  aggregateDays: 90,
  driftHistoryDays: 90,
};

/** What one sweep deleted, by kind. */
export type RetentionSweep = Record<string, number>;

export interface RetentionTargets {
  /** Per-device windows (and their dedupe records) before `deviceWindows`, aggregates before `aggregates`. */
  telemetry(deviceWindows: Date, aggregates: Date): Promise<Record<string, number>>;
  /** Drift window results and resolved events before `before`. */
  driftHistory(before: Date): Promise<Record<string, number>>;
}

/** The cut-off instants of a policy at `now` (pure). */
export function retentionCutoffs(
  now: Date,
  policy: RetentionPolicy,
): { deviceWindows: Date; aggregates: Date; driftHistory: Date } {
  const before = (days: number) => new Date(now.getTime() - days * DAY_MS);
  return {
    deviceWindows: before(policy.deviceWindowDays),
    aggregates: before(policy.aggregateDays),
    driftHistory: before(policy.driftHistoryDays),
  };
}

export interface RetentionLoopOptions {
  readonly policy: RetentionPolicy;
  readonly targets: RetentionTargets;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  readonly now?: () => Date;
  readonly timers?: Timers;
  /** Between sweeps; default 1 h. The first sweep runs `firstDelayMs` (default 1 min) after start. */
  readonly intervalMs?: number;
  readonly firstDelayMs?: number;
}

/** A leader duty: sweeps on a timer until stopped; a failed sweep is logged and tried again later. */
export class RetentionLoop {
  private timer: unknown;
  private running: Promise<void> | undefined;
  private started = false;

  constructor(private readonly o: RetentionLoopOptions) {}

  /** One sweep now. */
  async sweep(): Promise<RetentionSweep> {
    const cut = retentionCutoffs((this.o.now ?? (() => new Date()))(), this.o.policy);
    const telemetry = await this.o.targets.telemetry(cut.deviceWindows, cut.aggregates);
    const drift = await this.o.targets.driftHistory(cut.driftHistory);
    const deleted: RetentionSweep = { ...telemetry, ...drift };
    if (Object.values(deleted).some((n) => n > 0)) {
      this.o.logger.info(
        { deleted, before: { ...cut }, policy: this.o.policy },
        'retention: deleted old telemetry and drift history',
      );
    }
    return deleted;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule(this.o.firstDelayMs ?? 60_000);
  }

  /** Stop the timer and wait for a sweep in progress. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer !== undefined) (this.o.timers ?? realTimers).clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(ms: number): void {
    this.timer = (this.o.timers ?? realTimers).setTimeout(() => {
      this.timer = undefined;
      this.running = this.sweep()
        .then(
          () => undefined,
          (err: unknown) => {
            this.o.logger.warn(
              { err },
              'retention sweep failed; trying again at the next interval',
            );
          },
        )
        .finally(() => {
          this.running = undefined;
          if (this.started) this.schedule(this.o.intervalMs ?? 3_600_000);
        });
    }, ms);
  }
}
