/**
 * A simulated fleet: N real `Agent`s in one process, enrolled over the control plane's public HTTP API
 * like real devices, each with its own MQTT connection and state directory, sharing one model runtime.
 * Devices are spread over hardware classes (weighted) and sites; their labels are `site` and `hw`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Agent,
  parseAgentConfig,
  type AgentClock,
  type AgentConfig,
  type AgentTuning,
  type MqttConnect,
  type ModelRuntime,
  type RuntimeFacts,
  type TensorData,
} from '@edgefleet/agent';
import { EdgefleetError } from '@edgefleet/protocol';
import pino, { type Logger } from 'pino';
import { SENSOR_FEATURES, SensorGenerator, type DataMode } from './data/sensor-data.js';
import { boundedFetch } from './net/bounded-fetch.js';

export interface SimDevice {
  readonly deviceId: string;
  readonly hardwareClass: string;
  readonly site: string;
  /** Replaced by `restart` (a stopped Agent cannot start again). */
  agent: Agent;
  readonly config: AgentConfig;
  readonly pinnedRoot: Uint8Array;
}

/** What `runtimeFor` knows about a device. */
export interface DevicePlan {
  readonly id: string;
  readonly index: number;
  readonly hardwareClass: string;
  readonly site: string;
}

export interface FleetOptions {
  /** The control plane's HTTP base URL. */
  readonly apiUrl: string;
  readonly enrollToken: string;
  readonly devices: number;
  /** Hardware classes with relative weights, e.g. `{jetson: 30, rpi5: 70}`. */
  readonly hwMix?: Readonly<Record<string, number>>;
  readonly sites?: readonly string[];
  /** Extra labels on every device. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Base directory; each device gets `<stateDir>/<deviceId>`. */
  readonly stateDir: string;
  /** Shared by every agent (see SharedRuntime). */
  readonly runtime: ModelRuntime;
  /** Per-device runtime (e.g. a fault-injecting wrapper for one hardware class); default `runtime`. */
  readonly runtimeFor?: (device: DevicePlan) => ModelRuntime;
  /** Device time of every agent (default: the system clock). */
  readonly clock?: AgentClock;
  /**
   * Per-device MQTT connector, e.g. to bind each connection to its own source address (see
   * `spreadSourceAddresses`); default MQTT.js `connectAsync`.
   */
  readonly mqttConnectFor?: (device: DevicePlan) => MqttConnect;
  readonly idPrefix?: string;
  readonly telemetryIntervalSec?: number;
  readonly soakDefaults?: { minInferences?: number; durationSec?: number; maxErrorRate?: number };
  readonly runtimeFacts?: RuntimeFacts;
  readonly tuning?: AgentTuning;
  readonly logger?: Logger;
  /** Enrollments and starts in flight at once (default 32). */
  readonly concurrency?: number;
  /**
   * Artifact downloads holding a connection at once over the whole fleet (default 256): a wave
   * reaching thousands of agents in one process would otherwise exhaust its file descriptors.
   */
  readonly maxConcurrentDownloads?: number;
  /** Called as devices enroll and connect. */
  readonly onProgress?: (phase: 'enrolled' | 'started', done: number, total: number) => void;
}

/** Device i's hardware class: a deterministic interleaving that matches the weights. */
export function hardwareFor(i: number, mix: Readonly<Record<string, number>>): string {
  const entries = Object.entries(mix).filter(([, w]) => w > 0);
  if (entries.length === 0) throw new RangeError('the hardware mix is empty');
  const total = entries.reduce((a, [, w]) => a + w, 0);
  // Golden-ratio sequence: evenly spread, so any prefix of the fleet follows the mix.
  const x = (((i + 1) * 0.6180339887498949) % 1) * total;
  let acc = 0;
  for (const [hw, w] of entries) {
    acc += w;
    if (x < acc) return hw;
  }
  return entries[entries.length - 1]![0];
}

/** Real time after which a device's stop or start is reported as slow (see `stopDevices`). */
export const SLOW_STEP_MS = 10_000;

export type OnSlowStep = (device: SimDevice, step: 'stop' | 'start', waitedMs: number) => void;

/** Await `promise`, telling `onSlow` every `SLOW_STEP_MS` of real time while it is pending. */
export async function watchSlow(
  promise: Promise<void>,
  device: SimDevice,
  step: 'stop' | 'start',
  onSlow: OnSlowStep | undefined,
): Promise<void> {
  if (onSlow === undefined) return promise;
  const since = performance.now();
  const timer = setInterval(() => {
    onSlow(device, step, performance.now() - since);
  }, SLOW_STEP_MS);
  timer.unref();
  try {
    await promise;
  } finally {
    clearInterval(timer);
  }
}

async function inBatches<T>(
  items: readonly T[],
  size: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
}

interface EnrollResponse {
  deviceId: string;
  deviceToken: string;
  mqttUrl: string;
  apiUrl: string;
  labels: Record<string, string>;
  trustRoot: string;
}

export class Fleet {
  readonly devices: SimDevice[] = [];
  private readonly generators = new Map<string, SensorGenerator>();
  private readonly plans = new Map<string, DevicePlan>();
  /**
   * Pinned roots by their text: every device of a fleet enrolls with the same root, so N devices
   * share one copy of its bytes instead of N (agents only read them).
   */
  private readonly pinnedRoots = new Map<string, Uint8Array>();
  private readonly logger: Logger;
  /** The fetch every agent downloads through (see `maxConcurrentDownloads`). */
  private readonly fetch: typeof fetch;

  private constructor(private readonly options: FleetOptions) {
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.fetch = boundedFetch(options.maxConcurrentDownloads ?? 256);
  }

  private createAgent(plan: DevicePlan, config: AgentConfig, pinnedRoot: Uint8Array): Agent {
    const o = this.options;
    return new Agent({
      config,
      runtime: o.runtimeFor?.(plan) ?? o.runtime,
      logger: this.logger,
      runtimeFacts: o.runtimeFacts ?? { ortVersion: '1.30.0', availableProviders: ['cpu'] },
      pinnedRoot,
      fetch: this.fetch,
      ...(o.clock ? { clock: o.clock } : {}),
      ...(o.mqttConnectFor ? { mqttConnect: o.mqttConnectFor(plan) } : {}),
      ...(o.tuning ? { tuning: o.tuning } : {}),
    });
  }

  /** Enroll every device over HTTP and create its agent (not started). */
  static async enroll(options: FleetOptions): Promise<Fleet> {
    const fleet = new Fleet(options);
    const mix = options.hwMix ?? { jetson: 50, rpi5: 50 };
    const sites = options.sites ?? ['berlin', 'paris', 'tokyo'];
    const prefix = options.idPrefix ?? 'sim';
    const facts = options.runtimeFacts ?? { ortVersion: '1.30.0', availableProviders: ['cpu'] };
    const plan: DevicePlan[] = Array.from({ length: options.devices }, (_, i) => ({
      index: i,
      id: `${prefix}-${String(i).padStart(5, '0')}`,
      hardwareClass: hardwareFor(i, mix),
      site: sites[i % sites.length]!,
    }));
    const slots: (SimDevice | undefined)[] = new Array<SimDevice | undefined>(plan.length);
    let enrolled = 0;
    await inBatches(plan, options.concurrency ?? 32, async (p, i) => {
      const res = await fetch(`${options.apiUrl}/v1/devices/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          token: options.enrollToken,
          deviceId: p.id,
          hardwareClass: p.hardwareClass,
          os: 'linux',
          arch: 'arm64',
          ortVersion: facts.ortVersion,
          executionProviders: [...facts.availableProviders],
          labels: { ...options.labels, site: p.site, hw: p.hardwareClass },
        }),
      });
      if (!res.ok) {
        const text = await res.text();
        throw new EdgefleetError(
          'EF_UNAUTHORIZED',
          `enrolling ${p.id} failed (${res.status}): ${text.slice(0, 300)}`,
        );
      }
      const e = (await res.json()) as EnrollResponse;
      const stateDir = join(options.stateDir, e.deviceId);
      await mkdir(stateDir, { recursive: true });
      const config = parseAgentConfig({
        deviceId: e.deviceId,
        deviceToken: e.deviceToken,
        mqttUrl: e.mqttUrl,
        apiUrl: e.apiUrl,
        hardwareClass: p.hardwareClass,
        labels: e.labels,
        executionProviders: ['cpu'],
        stateDir,
        localApi: null,
        telemetryIntervalSec: options.telemetryIntervalSec ?? 10,
        spoolMaxBytes: 1024 * 1024,
        ...(options.soakDefaults
          ? {
              soakDefaults: {
                minInferences: 10,
                durationSec: 0,
                maxErrorRate: 0.05,
                ...options.soakDefaults,
              },
            }
          : {}),
        logLevel: 'warn',
      });
      let pinnedRoot = fleet.pinnedRoots.get(e.trustRoot);
      if (pinnedRoot === undefined) {
        pinnedRoot = new TextEncoder().encode(e.trustRoot);
        fleet.pinnedRoots.set(e.trustRoot, pinnedRoot);
      }
      fleet.plans.set(e.deviceId, p);
      const agent = fleet.createAgent(p, config, pinnedRoot);
      slots[i] = {
        deviceId: e.deviceId,
        hardwareClass: p.hardwareClass,
        site: p.site,
        agent,
        config,
        pinnedRoot,
      };
      options.onProgress?.('enrolled', ++enrolled, plan.length);
    });
    fleet.devices.push(...(slots as SimDevice[]));
    return fleet;
  }

  /** Start every agent (recover state, connect to the broker). */
  async start(): Promise<void> {
    let started = 0;
    await inBatches(this.devices, this.options.concurrency ?? 32, async (d) => {
      await d.agent.start();
      this.options.onProgress?.('started', ++started, this.devices.length);
    });
  }

  async stop(): Promise<void> {
    await inBatches(this.devices, 64, (d) => d.agent.stop());
  }

  /**
   * Stop these devices' agents (a power cut with a clean shutdown: last window spooled). `onSlow`
   * hears of each device whose stop has taken longer than `SLOW_STEP_MS` (and every `SLOW_STEP_MS`
   * after), with the step; an agent that never stops is a bug this makes visible.
   */
  async stopDevices(devices: readonly SimDevice[], onSlow?: OnSlowStep): Promise<void> {
    await inBatches(devices, 64, (d) => watchSlow(d.agent.stop(), d, 'stop', onSlow));
  }

  /**
   * Start these devices again as a rebooted device would: a new Agent on the same state directory
   * (it recovers its slots, journal and spool, and reconnects). Stops them first if still running.
   */
  async restartDevices(devices: readonly SimDevice[], onSlow?: OnSlowStep): Promise<void> {
    await inBatches(devices, this.options.concurrency ?? 32, async (d) => {
      await watchSlow(d.agent.stop(), d, 'stop', onSlow);
      const plan = this.plans.get(d.deviceId);
      if (!plan) throw new Error(`unknown device ${d.deviceId}`);
      d.agent = this.createAgent(plan, d.config, d.pinnedRoot);
      await watchSlow(d.agent.start(), d, 'start', onSlow);
    });
  }

  /**
   * Serve `batches` inference requests of `rows` sensor rows on each device that has a model, with data
   * from `modeFor(device)` (reference-like or drifted). Returns how many requests succeeded and failed.
   */
  async traffic(options: {
    batches: number;
    rows?: number;
    modeFor?: (d: SimDevice) => DataMode;
    devices?: readonly SimDevice[];
  }): Promise<{ ok: number; failed: number; noModel: number }> {
    const result = { ok: 0, failed: 0, noModel: 0 };
    const rows = options.rows ?? 8;
    await inBatches(options.devices ?? this.devices, 64, async (d) => {
      let gen = this.generators.get(d.deviceId);
      if (!gen) {
        gen = new SensorGenerator(hashSeed(d.deviceId));
        this.generators.set(d.deviceId, gen);
      }
      const mode = options.modeFor?.(d) ?? 'reference';
      for (let b = 0; b < options.batches; b++) {
        const feeds: Record<string, TensorData> = {
          input: {
            type: 'float32',
            dims: [rows, SENSOR_FEATURES.length],
            data: gen.batch(rows, mode),
          },
        };
        try {
          await d.agent.infer(feeds);
          result.ok++;
        } catch (e) {
          if ((e as { code?: string }).code === 'EF_NO_MODEL') {
            result.noModel++;
            break;
          }
          result.failed++;
        }
      }
    });
    return result;
  }

  /** Close every agent's current telemetry window now and send it. */
  async flushTelemetry(devices: readonly SimDevice[] = this.devices): Promise<void> {
    await inBatches(devices, 64, (d) => d.agent.flushTelemetry());
  }

  /** How many devices run each release (null: no model). */
  releaseCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const d of this.devices) {
      const r = d.agent.status().activeRelease?.releaseId ?? 'none';
      out[r] = (out[r] ?? 0) + 1;
    }
    return out;
  }
}

function hashSeed(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
