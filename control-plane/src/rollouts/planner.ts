/**
 * The scheduler's decisions for one rollout at one instant: a pure function from a snapshot (the
 * rollout, its waves and deployments, the devices that could join, health, the time) to a list of
 * effects. tick.ts loads the snapshot and applies the effects in one transaction; nothing here does
 * I/O, so every rule below is tested without a database.
 *
 * One tick, in order:
 * 1. Devices silent past their wave's device timeout become `timed_out` (no wave waits forever).
 * 2. When the rollout first runs, the wave sizes are fixed from the matching fleet (cumulative targets).
 * 3. Abort criteria: tripped criteria pause or abort the rollout (the spec's failure action).
 * 4. Retries an operator asked for are re-sent (within rate and budget).
 * 5. Waves advance as far as they can: pending -> running (after approval when required) -> soaking
 *    (every member assigned and activated or finished) -> passed | failed (every member finished, gate
 *    evaluated); the rollout completes when the last wave passes. A running wave gets new devices in
 *    stratified hash order, as many as the rate limit, the disruption budget, the maintenance window
 *    and the wave's size allow. Devices that enrol later join the wave running then (or the last wave
 *    while it soaks).
 */
import type { DeviceDeploymentState, RolloutState, WaveState } from '../db/schema.js';
import {
  countDeployments,
  evaluateAbortCriteria,
  evaluateWaveGates,
  type BaselineHealth,
  type DeploymentCounts,
  type Verdict,
  type WaveHealth,
} from './gates.js';
import { isFinalDeploymentState } from './machines.js';
import { assignmentOrder, type CandidateDevice } from './membership.js';
import { waveNeedsApproval, waveTimeoutSeconds, type RolloutSpec, type WaveSize } from './spec.js';
import {
  budgetAllowance,
  effectiveRate,
  inMaintenanceWindow,
  MINUTE_MS,
  rateAllowance,
} from './throttle.js';

// --- Snapshot ------------------------------------------------------------------------------------

export interface RolloutView {
  readonly id: string;
  readonly state: RolloutState;
  readonly spec: RolloutSpec;
  /** Matching devices when the first wave started; null until then. */
  readonly fleetSize: number | null;
}

export interface WaveView {
  readonly index: number;
  readonly state: WaveState;
  /** Devices covered once the wave is done; null for the last wave (all) and before the plan is fixed. */
  readonly cumulativeTarget: number | null;
  /** Epoch ms. */
  readonly startedAt: number | null;
  /** An operator approved starting this wave. */
  readonly approved: boolean;
}

export interface DeploymentView {
  readonly deviceId: string;
  readonly waveIndex: number;
  readonly state: DeviceDeploymentState;
  /** When the current directive was issued, epoch ms. */
  readonly assignedAt: number;
  /** An operator asked to retry this (failed or timed-out) deployment. */
  readonly retryRequested: boolean;
}

export interface PlannerHealth {
  /** Health of the wave being worked on (running or soaking), by wave index. */
  readonly waves?: ReadonlyMap<number, WaveHealth>;
  readonly baseline?: BaselineHealth;
}

export interface PlannerSnapshot {
  /** Epoch ms. */
  readonly now: number;
  readonly rollout: RolloutView;
  readonly waves: readonly WaveView[];
  /** Every deployment of this rollout. */
  readonly deployments: readonly DeploymentView[];
  /**
   * Devices that may join now: active, matching the selector, not yet in this rollout and not updating
   * in another active rollout.
   */
  readonly candidates: readonly CandidateDevice[];
  /**
   * Matching devices not in this rollout that are updating in another active rollout. They join when
   * that deployment ends; a wave that still needs devices waits for them (bounded by the other
   * rollout's device timeout).
   */
  readonly waiting?: number;
  readonly health?: PlannerHealth;
}

// --- Effects -------------------------------------------------------------------------------------

export type FailureReason = 'abort_criteria' | 'wave_failed';

/** A decision for tick.ts to apply. */
export type PlanEffect =
  /** Fix the wave sizes: devices covered after each wave (null: all, the last wave). */
  | {
      readonly type: 'fixPlan';
      readonly fleetSize: number;
      readonly cumulativeTargets: readonly (number | null)[];
    }
  | { readonly type: 'timeOut'; readonly deviceId: string; readonly waveIndex: number }
  | { readonly type: 'requestApproval'; readonly waveIndex: number }
  | { readonly type: 'startWave'; readonly waveIndex: number }
  /** Send the device its directive as a member of the wave. */
  | { readonly type: 'assign'; readonly deviceId: string; readonly waveIndex: number }
  /** Send a retried deployment its directive again (a new directive counter). */
  | { readonly type: 'reassign'; readonly deviceId: string; readonly waveIndex: number }
  | { readonly type: 'startSoak'; readonly waveIndex: number }
  | {
      readonly type: 'completeWave';
      readonly waveIndex: number;
      readonly verdict: Verdict;
      readonly counts: DeploymentCounts;
      /** The health window, epoch ms. */
      readonly window: { readonly from: number; readonly to: number };
    }
  | { readonly type: 'pause'; readonly reason: FailureReason; readonly verdict?: Verdict }
  | {
      readonly type: 'abort';
      readonly reason: FailureReason;
      readonly verdict?: Verdict;
      readonly counts?: DeploymentCounts;
    }
  | { readonly type: 'complete' };

// --- Plan ------------------------------------------------------------------------------------------

/**
 * Cumulative device targets of the waves for a fleet of `fleetSize`: counts are capped at the fleet,
 * percentages rounded up, targets never shrink, and the last wave (null) takes every device.
 */
export function cumulativeTargets(
  sizes: readonly WaveSize[],
  fleetSize: number,
): (number | null)[] {
  let previous = 0;
  return sizes.map((size, i) => {
    if (i === sizes.length - 1) return null;
    // The epsilon keeps 10 % of 50 at 5 when floating point gives 5.000000000000001.
    const raw = 'count' in size ? size.count : Math.ceil((size.percent * fleetSize) / 100 - 1e-9);
    previous = Math.max(previous, Math.min(fleetSize, raw));
    return previous;
  });
}

interface WorkingDeployment {
  waveIndex: number;
  state: DeviceDeploymentState;
  assignedAt: number;
  retryRequested: boolean;
}

interface WorkingWave {
  index: number;
  state: WaveState;
  cumulativeTarget: number | null;
  startedAt: number | null;
  approved: boolean;
}

/** Everything one tick decides for the rollout in `snapshot`. */
export function planTick(snapshot: PlannerSnapshot): PlanEffect[] {
  return new Tick(snapshot).run();
}

/** One tick's working copy of the snapshot: effects are applied to it as they are decided. */
class Tick {
  private readonly now: number;
  private readonly spec: RolloutSpec;
  private rolloutState: RolloutState;
  private readonly waves: WorkingWave[];
  private readonly deployments = new Map<string, WorkingDeployment>();
  private readonly effects: PlanEffect[] = [];
  private order: CandidateDevice[] | undefined;
  private cursor = 0;

  constructor(private readonly snapshot: PlannerSnapshot) {
    this.now = snapshot.now;
    this.spec = snapshot.rollout.spec;
    this.rolloutState = snapshot.rollout.state;
    this.waves = snapshot.waves.map((w) => ({ ...w })).sort((a, b) => a.index - b.index);
    const sorted = [...snapshot.deployments].sort((a, b) => compare(a.deviceId, b.deviceId));
    for (const d of sorted) this.deployments.set(d.deviceId, { ...d });
  }

  run(): PlanEffect[] {
    const state = this.rolloutState;
    if (state !== 'running' && state !== 'paused' && state !== 'awaiting_approval') return [];
    this.timeOutSilentDevices();
    if (state === 'awaiting_approval') return this.effects;
    if (this.snapshot.rollout.fleetSize === null && state === 'running') this.fixPlan();
    if (!this.checkAbortCriteria()) return this.effects;
    if (this.rolloutState === 'running') this.reassignRetries();
    this.advanceWaves();
    return this.effects;
  }

  // --- 1. timeouts

  private timeOutSilentDevices(): void {
    for (const [deviceId, d] of this.deployments) {
      if (isFinalDeploymentState(d.state)) continue;
      const timeoutMs = waveTimeoutSeconds(this.spec, d.waveIndex) * 1000;
      if (this.now - d.assignedAt >= timeoutMs) {
        this.effects.push({ type: 'timeOut', deviceId, waveIndex: d.waveIndex });
        d.state = 'timed_out';
      }
    }
  }

  // --- 2. plan

  private fixPlan(): void {
    const fleetSize =
      this.snapshot.candidates.length + this.deployments.size + (this.snapshot.waiting ?? 0);
    const targets = cumulativeTargets(
      this.spec.waves.map((w) => w.size),
      fleetSize,
    );
    this.effects.push({ type: 'fixPlan', fleetSize, cumulativeTargets: targets });
    this.waves.forEach((w) => (w.cumulativeTarget = targets[w.index] ?? null));
  }

  // --- 3. abort criteria

  /** False when the rollout aborts (nothing else happens in this tick). */
  private checkAbortCriteria(): boolean {
    if (this.spec.abortCriteria.length === 0) return true;
    const active = this.waves.find((w) => w.state === 'running' || w.state === 'soaking');
    const health =
      active === undefined ? undefined : this.snapshot.health?.waves?.get(active.index);
    const counts = countDeployments([...this.deployments.values()].map((d) => d.state));
    const verdict = evaluateAbortCriteria(
      this.spec.abortCriteria,
      counts,
      health,
      this.snapshot.health?.baseline,
    );
    if (verdict.passed) return true;
    return this.onFailure('abort_criteria', verdict, counts);
  }

  /** Apply the spec's failure action; false when the rollout aborts. */
  private onFailure(reason: FailureReason, verdict?: Verdict, counts?: DeploymentCounts): boolean {
    if (this.spec.onFailure === 'abort') {
      this.effects.push({
        type: 'abort',
        reason,
        ...(verdict === undefined ? {} : { verdict }),
        ...(counts === undefined ? {} : { counts }),
      });
      this.rolloutState = 'aborted';
      return false;
    }
    if (this.rolloutState === 'running') {
      this.effects.push({ type: 'pause', reason, ...(verdict === undefined ? {} : { verdict }) });
      this.rolloutState = 'paused';
    }
    return true;
  }

  // --- 4-5. assignments

  private allowance(): number {
    if (
      this.rolloutState !== 'running' ||
      !inMaintenanceWindow(this.spec.maintenanceWindow, this.now)
    ) {
      return 0;
    }
    let succeeded = 0;
    let updating = 0;
    const sentAt: number[] = [];
    for (const d of this.deployments.values()) {
      if (d.state === 'succeeded') succeeded++;
      if (!isFinalDeploymentState(d.state)) updating++;
      sentAt.push(d.assignedAt);
    }
    const rate = effectiveRate(this.spec.rate, succeeded);
    return Math.min(
      rateAllowance(rate, sentAt, this.now),
      budgetAllowance(this.spec.maxConcurrent, updating),
    );
  }

  private reassignRetries(): void {
    const retries = [...this.deployments.entries()]
      .filter(([, d]) => d.retryRequested)
      .sort(([a, da], [b, db]) => da.waveIndex - db.waveIndex || compare(a, b));
    let allowed = this.allowance();
    for (const [deviceId, d] of retries) {
      if (allowed <= 0) break;
      // A directive sent less than a minute ago still counts against the rate; re-sending it now would
      // erase that from the history the rate limit reads, so the retry waits for it to age out.
      if (this.now - d.assignedAt < MINUTE_MS) continue;
      this.effects.push({ type: 'reassign', deviceId, waveIndex: d.waveIndex });
      Object.assign(d, { state: 'pending', assignedAt: this.now, retryRequested: false });
      allowed--;
    }
  }

  private remainingCandidates(): CandidateDevice[] {
    if (this.order === undefined) {
      const fresh = this.snapshot.candidates.filter((c) => !this.deployments.has(c.id));
      this.order = assignmentOrder(this.snapshot.rollout.id, fresh, this.spec.spreadBy);
    }
    return this.order.slice(this.cursor);
  }

  /** Devices wave `w` may still take before it reaches its cumulative target. */
  private quota(w: WorkingWave): number {
    if (w.cumulativeTarget === null) return Number.POSITIVE_INFINITY;
    return Math.max(0, w.cumulativeTarget - this.deployments.size);
  }

  private assignTo(w: WorkingWave): void {
    const take = Math.min(this.allowance(), this.quota(w));
    const chosen = this.remainingCandidates().slice(0, take);
    for (const device of chosen) {
      this.effects.push({ type: 'assign', deviceId: device.id, waveIndex: w.index });
      this.deployments.set(device.id, {
        waveIndex: w.index,
        state: 'pending',
        assignedAt: this.now,
        retryRequested: false,
      });
    }
    this.cursor += chosen.length;
  }

  /** The wave has all the devices it will get (for now). */
  private filled(w: WorkingWave): boolean {
    if (this.quota(w) === 0) return true;
    return this.remainingCandidates().length === 0 && (this.snapshot.waiting ?? 0) === 0;
  }

  private members(w: WorkingWave): WorkingDeployment[] {
    return [...this.deployments.values()].filter((d) => d.waveIndex === w.index);
  }

  // --- 5. waves

  private advanceWaves(): void {
    for (;;) {
      const w = this.waves.find((x) => x.state !== 'passed');
      if (w === undefined) {
        if (this.rolloutState === 'running') {
          this.effects.push({ type: 'complete' });
          this.rolloutState = 'completed';
        }
        return;
      }
      if (!this.advance(w)) return;
    }
  }

  /** Move wave `w` forward as far as it goes now; true when it passed (the next wave may go on). */
  private advance(w: WorkingWave): boolean {
    const isLast = w.index === this.waves.length - 1;
    switch (w.state) {
      case 'failed':
        // Normally the rollout was paused or aborted when the wave failed; make sure it is.
        if (this.rolloutState === 'running') this.onFailure('wave_failed');
        return false;
      case 'pending':
        if (this.rolloutState !== 'running') return false;
        if (waveNeedsApproval(this.spec, w.index) && !w.approved) {
          this.effects.push({ type: 'requestApproval', waveIndex: w.index });
          this.rolloutState = 'awaiting_approval';
          return false;
        }
        this.effects.push({ type: 'startWave', waveIndex: w.index });
        w.state = 'running';
        w.startedAt = this.now;
        return this.advance(w);
      case 'running': {
        this.assignTo(w);
        const activated = this.members(w).every(
          (d) => d.state === 'soaking' || (isFinalDeploymentState(d.state) && !d.retryRequested),
        );
        if (!this.filled(w) || !activated) return false;
        this.effects.push({ type: 'startSoak', waveIndex: w.index });
        w.state = 'soaking';
        return this.advance(w);
      }
      case 'soaking': {
        if (isLast) this.assignTo(w);
        const members = this.members(w);
        if (!members.every((d) => isFinalDeploymentState(d.state) && !d.retryRequested)) {
          return false;
        }
        return this.judge(w, members);
      }
      case 'passed':
        return true;
    }
  }

  private judge(w: WorkingWave, members: readonly WorkingDeployment[]): boolean {
    const counts = countDeployments(members.map((d) => d.state));
    const verdict = evaluateWaveGates(
      this.spec.waves[w.index]!.gates,
      counts,
      this.snapshot.health?.waves?.get(w.index),
      this.snapshot.health?.baseline,
    );
    this.effects.push({
      type: 'completeWave',
      waveIndex: w.index,
      verdict,
      counts,
      window: { from: w.startedAt ?? this.now, to: this.now },
    });
    if (verdict.passed) {
      w.state = 'passed';
      return true;
    }
    w.state = 'failed';
    this.onFailure('wave_failed', verdict);
    return false;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
