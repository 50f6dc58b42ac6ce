/**
 * The steps scenarios are made of, over the public API only: push a model version, sign a release,
 * start a rollout, and drive the fleet (serve traffic, so soaks count) until a condition holds.
 */
import { createHash } from 'node:crypto';
import { linearClassifier } from '@edgefleet/protocol';
import { DEMO_BIAS, DEMO_WEIGHTS, SENSOR_FEATURES, SensorGenerator } from '../data/sensor-data.js';
import type { DataMode } from '../data/sensor-data.js';
import type { SimDevice } from '../fleet.js';
import type { ScenarioContext } from './scenario.js';

export interface PushedRelease {
  readonly releaseId: string;
  readonly version: string;
  /** sha256 of the model file (what `FaultInjection.corrupt` takes). */
  readonly modelSha256: string;
}

/** A version label unique to this run (release counters are per model, versions must differ). */
export function uniqueVersion(tag: string): string {
  return `${tag}-${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

/**
 * Push a version of the demo sensor classifier (bias nudged by `variant`, so each version is a
 * different file) with reference data, and sign a release for the fleet's hardware classes.
 */
export async function pushRelease(
  ctx: ScenarioContext,
  version: string,
  variant = 0,
): Promise<PushedRelease> {
  const model = linearClassifier({
    features: SENSOR_FEATURES.length,
    classes: 3,
    weights: DEMO_WEIGHTS,
    bias: DEMO_BIAS.map((b, i) => (i === 0 ? b + variant * 0.01 : b)),
  });
  await ctx.api.upload(
    `/v1/models/${ctx.model}/versions`,
    { version },
    {
      model: { name: `${ctx.model}.onnx`, bytes: model },
      reference: { name: 'reference.csv', bytes: new SensorGenerator(7).csv(2000) },
    },
  );
  const hardwareClasses = [...new Set(ctx.fleet.devices.map((d) => d.hardwareClass))].sort();
  const release = await ctx.api.json<{ releaseId: string }>('POST', '/v1/releases', {
    model: ctx.model,
    version,
    hardwareClasses,
  });
  return {
    releaseId: release.releaseId,
    version,
    modelSha256: createHash('sha256').update(model).digest('hex'),
  };
}

export interface WaveView {
  readonly index: number;
  readonly name: string;
  readonly state: string;
  readonly members: number;
  readonly counts: Record<string, number>;
}

export interface RolloutView {
  readonly id: string;
  readonly state: string;
  readonly counts: Record<string, number>;
  readonly waves: readonly WaveView[];
  readonly evaluations?: unknown;
}

export const TERMINAL_ROLLOUT_STATES: ReadonlySet<string> = new Set([
  'completed',
  'aborted',
  'cancelled',
]);

/** A wave with a soak the simulator can serve in seconds. */
export function wave(name: string, size: { count: number } | { percent: number }, gates = {}) {
  return { name, size, soak: { minInferences: 3 }, gates };
}

/** Create a rollout of `releaseId` over the context's fleet; returns its id. */
export async function createRollout(
  ctx: ScenarioContext,
  releaseId: string,
  spec: Record<string, unknown>,
): Promise<string> {
  const r = await ctx.api.json<{ id: string }>('POST', '/v1/rollouts', {
    releaseId,
    selector: ctx.selector,
    rate: { maxPerMinute: 100_000 },
    maxConcurrent: 100_000,
    deviceTimeout: 120,
    ...spec,
  });
  return r.id;
}

export function getRollout(ctx: ScenarioContext, id: string): Promise<RolloutView> {
  return ctx.api.json<RolloutView>('GET', `/v1/rollouts/${id}`);
}

/** `state: n state: n` in a stable order. */
export function formatCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([s, n]) => `${s} ${n}`);
  return parts.length === 0 ? '-' : parts.join(', ');
}

export interface DriveOptions {
  /** Devices serving traffic each round (default: every running one). */
  readonly devices?: () => readonly SimDevice[];
  readonly modeFor?: (d: SimDevice) => DataMode;
  /** Called each round with the rollout; a line is logged when it changes. */
  readonly onRound?: (r: RolloutView) => Promise<void> | void;
  readonly timeoutMs?: number;
}

/**
 * Serve traffic and poll the rollout until it reaches one of `states` (default: any final state),
 * logging a line per change of wave states or counts. Rejects when the deadline passes.
 */
export async function driveRollout(
  ctx: ScenarioContext,
  id: string,
  states: ReadonlySet<string> = TERMINAL_ROLLOUT_STATES,
  options: DriveOptions = {},
): Promise<RolloutView> {
  const deadline = Date.now() + (options.timeoutMs ?? ctx.timeoutMs ?? 75_000);
  let last = '';
  for (;;) {
    await ctx.fleet.traffic({
      batches: 2,
      rows: 8,
      ...(options.devices ? { devices: options.devices() } : {}),
      ...(options.modeFor ? { modeFor: options.modeFor } : {}),
    });
    const r = await getRollout(ctx, id);
    const line = progressLine(r);
    if (line !== last) {
      ctx.log(line);
      last = line;
    }
    await options.onRound?.(r);
    if (states.has(r.state)) return r;
    if (Date.now() > deadline) {
      throw new Error(`rollout ${id} is still ${r.state} after the deadline: ${line}`);
    }
    // The server's rollout engine ticks every second: no point polling much faster.
    await pause(200);
  }
}

/** One line: the rollout's state and each wave's state and device counts. */
export function progressLine(r: RolloutView): string {
  const waves = r.waves.map((w) => `${w.name}[${w.state}: ${formatCounts(w.counts)}]`).join(' ');
  return `rollout ${r.state.padEnd(9)} ${waves}`;
}

/** Serve traffic until `condition()` holds; rejects with `what` after the deadline. */
export async function driveUntil(
  ctx: ScenarioContext,
  what: string,
  condition: () => Promise<boolean> | boolean,
  timeoutMs = ctx.timeoutMs ?? 75_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await ctx.fleet.traffic({ batches: 1, rows: 8 });
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await pause(200);
  }
}

/** Install `release` on the whole fleet with a one-wave rollout (a scenario's starting point). */
export async function installEverywhere(
  ctx: ScenarioContext,
  release: PushedRelease,
): Promise<RolloutView> {
  const id = await createRollout(ctx, release.releaseId, {
    waves: [wave('all', { percent: 100 })],
  });
  const r = await driveRollout(ctx, id);
  if (r.state !== 'completed') throw new Error(`installing ${release.version} ended ${r.state}`);
  return r;
}

/** Devices per model version running now ('none': no model). */
export function versionCounts(devices: readonly SimDevice[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of devices) {
    const v = d.agent.status().activeRelease?.version ?? 'none';
    out[v] = (out[v] ?? 0) + 1;
  }
  return out;
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Make sure every device runs some release of the context's model (a scenario that upgrades needs
 * something to upgrade from); installs a fresh baseline when any device has none.
 */
export async function ensureBaseline(ctx: ScenarioContext): Promise<string> {
  const versions = versionCounts(ctx.fleet.devices);
  const only = Object.keys(versions);
  if (only.length === 1 && only[0] !== 'none') return only[0]!;
  const base = await pushRelease(ctx, uniqueVersion('base'));
  ctx.log(`installing baseline ${base.version} on every device`);
  await installEverywhere(ctx, base);
  return base.version;
}
