/**
 * An in-memory fleet for planner tests: applies the planner's effects through the state machines the
 * way tick.ts does (a refused effect is a test failure), makes devices answer their directives after
 * a delay (succeed, fail, or stay silent), and keeps the history the invariants are checked against.
 */
import type { DeploymentState } from '@edgefleet/protocol';
import type { CandidateDevice } from './membership.js';
import {
  deploymentTransition,
  isFinalDeploymentState,
  rolloutTransition,
  waveTransition,
} from './machines.js';
import {
  planTick,
  type DeploymentView,
  type PlanEffect,
  type PlannerHealth,
  type RolloutView,
  type WaveView,
} from './planner.js';
import { RolloutSpecSchema, type RolloutSpec, type RolloutSpecInput } from './spec.js';

/** How a simulated device answers a directive. */
export interface Behaviour {
  readonly outcome: 'succeed' | 'fail' | 'silent';
  /** Time from the directive to the final report. */
  readonly delayMs: number;
  /** Time from the directive to `soaking` (default: half the delay). */
  readonly soakAfterMs?: number;
}

export interface SimDevice extends CandidateDevice {
  readonly behaviour: Behaviour;
  /** Enrols at this time (epoch ms); default: from the start. */
  readonly joinsAt?: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class FleetSim {
  rollout: Mutable<RolloutView>;
  waves: Mutable<WaveView>[];
  readonly deployments = new Map<string, Mutable<Omit<DeploymentView, 'deviceId'>>>();
  /** Every directive sent: device and time. */
  readonly sent: { deviceId: string; at: number; rate: number }[] = [];
  /** Devices updating after each tick's effects were applied. */
  readonly updatingAfterTick: number[] = [];
  readonly effects: PlanEffect[] = [];
  health: PlannerHealth | undefined;
  now: number;

  constructor(
    spec: RolloutSpecInput | RolloutSpec,
    readonly devices: SimDevice[],
    options: { id?: string; start?: number; state?: RolloutView['state'] } = {},
  ) {
    const parsed = RolloutSpecSchema.parse(spec);
    this.now = options.start ?? Date.UTC(2026, 0, 5, 12, 0, 0);
    this.rollout = {
      id: options.id ?? 'rollout-1',
      state: options.state ?? 'running',
      spec: parsed,
      fleetSize: null,
    };
    this.waves = parsed.waves.map((_, index) => ({
      index,
      state: 'pending',
      cumulativeTarget: null,
      startedAt: null,
      approved: false,
    }));
  }

  candidates(): CandidateDevice[] {
    return this.devices
      .filter((d) => (d.joinsAt ?? 0) <= this.now && !this.deployments.has(d.id))
      .map(({ id, hardwareClass, labels }) => ({ id, hardwareClass, labels }));
  }

  /** Devices report what they got to by now. */
  deviceReports(): void {
    const byId = new Map(this.devices.map((d) => [d.id, d]));
    for (const [deviceId, d] of this.deployments) {
      if (isFinalDeploymentState(d.state)) continue;
      const b = byId.get(deviceId)!.behaviour;
      if (b.outcome === 'silent') continue;
      const elapsed = this.now - d.assignedAt;
      let target: DeploymentState | undefined;
      if (elapsed >= b.delayMs) target = b.outcome === 'succeed' ? 'succeeded' : 'failed';
      else if (elapsed >= (b.soakAfterMs ?? b.delayMs / 2) && b.outcome === 'succeed') {
        target = 'soaking';
      }
      if (target === undefined || target === d.state) continue;
      const t = deploymentTransition(d.state, { type: 'report', state: target });
      if (t.ok) d.state = t.value.state;
    }
  }

  /** One planner tick at the current time; applies and returns its effects. */
  tick(): PlanEffect[] {
    const effects = planTick({
      now: this.now,
      rollout: { ...this.rollout },
      waves: this.waves.map((w) => ({ ...w })),
      deployments: [...this.deployments.entries()].map(([deviceId, d]) => ({ ...d, deviceId })),
      candidates: this.candidates(),
      ...(this.health === undefined ? {} : { health: this.health }),
    });
    for (const e of effects) this.apply(e);
    this.effects.push(...effects);
    this.updatingAfterTick.push(
      [...this.deployments.values()].filter((d) => !isFinalDeploymentState(d.state)).length,
    );
    return effects;
  }

  /** Advance `stepMs`, let devices report, tick. */
  step(stepMs: number): PlanEffect[] {
    this.now += stepMs;
    this.deviceReports();
    return this.tick();
  }

  /** Step until the rollout leaves running/paused or `maxMs` passes. */
  runUntilSettled(stepMs: number, maxMs: number): void {
    const end = this.now + maxMs;
    this.tick();
    while (
      this.now < end &&
      (this.rollout.state === 'running' || this.rollout.state === 'paused')
    ) {
      this.step(stepMs);
      if (this.rollout.state === 'paused') return;
    }
  }

  private rolloutEvent(event: Parameters<typeof rolloutTransition>[1]): void {
    const t = rolloutTransition(this.rollout.state, event);
    if (!t.ok) throw new Error(`refused: ${t.message}`);
    this.rollout.state = t.value.state;
  }

  private waveEvent(index: number, event: Parameters<typeof waveTransition>[1]): void {
    const w = this.waves[index]!;
    const t = waveTransition(w.state, event);
    if (!t.ok) throw new Error(`refused: ${t.message}`);
    w.state = t.value.state;
    if (event.type === 'start') w.startedAt = this.now;
  }

  private apply(e: PlanEffect): void {
    switch (e.type) {
      case 'fixPlan':
        this.rollout.fleetSize = e.fleetSize;
        e.cumulativeTargets.forEach((t, i) => (this.waves[i]!.cumulativeTarget = t));
        return;
      case 'timeOut': {
        const d = this.deployments.get(e.deviceId)!;
        const t = deploymentTransition(d.state, { type: 'timeout' });
        if (!t.ok) throw new Error(`refused: ${t.message}`);
        d.state = t.value.state;
        return;
      }
      case 'requestApproval': {
        this.rolloutEvent({ type: 'awaitApproval' });
        return;
      }
      case 'startWave': {
        this.waveEvent(e.waveIndex, { type: 'start' });
        return;
      }
      case 'startSoak': {
        this.waveEvent(e.waveIndex, { type: 'soak' });
        return;
      }
      case 'completeWave': {
        this.waveEvent(e.waveIndex, { type: e.verdict.passed ? 'pass' : 'fail' });
        return;
      }
      case 'pause': {
        this.rolloutEvent({ type: 'pause', reason: e.reason });
        return;
      }
      case 'abort': {
        this.rolloutEvent({ type: 'abort', reason: e.reason });
        return;
      }
      case 'complete': {
        this.rolloutEvent({ type: 'complete' });
        return;
      }
      case 'assign': {
        if (this.deployments.has(e.deviceId)) throw new Error(`${e.deviceId} assigned twice`);
        this.deployments.set(e.deviceId, {
          waveIndex: e.waveIndex,
          state: 'pending',
          assignedAt: this.now,
          retryRequested: false,
        });
        this.sent.push({ deviceId: e.deviceId, at: this.now, rate: this.rateNow() });
        return;
      }
      case 'reassign': {
        const d = this.deployments.get(e.deviceId)!;
        const t = deploymentTransition(d.state, { type: 'retry' });
        if (!t.ok) throw new Error(`refused: ${t.message}`);
        Object.assign(d, { state: t.value.state, assignedAt: this.now, retryRequested: false });
        this.sent.push({ deviceId: e.deviceId, at: this.now, rate: this.rateNow() });
        return;
      }
    }
  }

  /** Succeeded devices now (the ramp's input). */
  succeeded(): number {
    return [...this.deployments.values()].filter((d) => d.state === 'succeeded').length;
  }

  private rateNow(): number {
    const { rate } = this.rollout.spec;
    if (rate.rampAfter === undefined) return rate.maxPerMinute;
    return Math.floor(
      Math.min(
        rate.rampMaxPerMinute ?? Number.MAX_SAFE_INTEGER,
        rate.maxPerMinute * rate.rampFactor ** Math.floor(this.succeeded() / rate.rampAfter),
      ),
    );
  }

  /** Approve the wave the rollout waits for (as the operator action does). */
  approve(): void {
    this.rolloutEvent({ type: 'approve' });
    const next = this.waves.find((w) => w.state === 'pending');
    if (next !== undefined) next.approved = true;
  }
}

/** `n` devices spread over hardware classes and sites, all behaving as `behaviour(i)` says. */
export function makeFleet(
  n: number,
  behaviour: (i: number) => Behaviour,
  groups: { hardware?: readonly string[]; sites?: readonly string[] } = {},
): SimDevice[] {
  const hardware = groups.hardware ?? ['jetson', 'rpi5'];
  const sites = groups.sites ?? ['berlin', 'lisbon', 'oslo'];
  return Array.from({ length: n }, (_, i) => ({
    id: `dev-${String(i).padStart(5, '0')}`,
    hardwareClass: hardware[i % hardware.length]!,
    labels: { site: sites[Math.floor(i / hardware.length) % sites.length]! },
    behaviour: behaviour(i),
  }));
}
