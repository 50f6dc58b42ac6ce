/**
 * Shared setup of the rollout tests: a real control plane (in-process, free ports), the sensor model in
 * two versions (v1 the fleet runs first, v2 the one being rolled out), and simulated fleets of real
 * agents over real MQTT. A hardware class whose health check must fail gets a `PoisonedRuntime`: it
 * perturbs the outputs of the models it is told to, so the staged model misses the release's sample.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OrtInProcessRuntime,
  type LoadedModel,
  type LoadOptions,
  type ModelRuntime,
  type TensorData,
} from '@edgefleet/agent';
import { loadServerConfig, startServer, type RunningServer } from '@edgefleet/control-plane';
import {
  ControlPlaneHttp,
  DEMO_BIAS,
  DEMO_WEIGHTS,
  Fleet,
  SensorGenerator,
  SharedRuntime,
  type SimDevice,
} from '@edgefleet/fleet-sim';
import { linearClassifier } from '@edgefleet/protocol';
import pino from 'pino';

export const MODEL_V1 = linearClassifier({
  features: 4,
  classes: 3,
  weights: DEMO_WEIGHTS,
  bias: DEMO_BIAS,
});
export const MODEL_V2 = linearClassifier({
  features: 4,
  classes: 3,
  weights: DEMO_WEIGHTS,
  bias: DEMO_BIAS.map((b) => b + 0.25),
});

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function perturb(t: TensorData): TensorData {
  switch (t.type) {
    case 'float32':
      return { ...t, data: t.data.map((x) => x + 1000) };
    case 'float64':
      return { ...t, data: t.data.map((x) => x + 1000) };
    case 'int64':
      return { ...t, data: t.data.map((x) => x + 7n) };
    default:
      return t;
  }
}

/**
 * A runtime whose models with a sha256 in `poisoned` answer wrong (every numeric output shifted), as a
 * hardware class with a broken kernel would: the agent's health check on the staged model fails.
 */
export class PoisonedRuntime implements ModelRuntime {
  constructor(
    private readonly inner: ModelRuntime,
    readonly poisoned: Set<string>,
  ) {}

  async load(modelPath: string, options: LoadOptions): Promise<LoadedModel> {
    const bad = this.poisoned.has(sha256(await readFile(modelPath)));
    const model = await this.inner.load(modelPath, options);
    if (!bad) return model;
    return {
      inputs: model.inputs,
      outputs: model.outputs,
      executionProvider: model.executionProvider,
      providerFallbacks: model.providerFallbacks,
      run: async (feeds, runOptions) => {
        const out = await model.run(feeds, runOptions);
        return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, perturb(v)]));
      },
      dispose: () => model.dispose(),
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export interface RolloutView {
  id: string;
  state: string;
  kind: string;
  releaseId: string;
  fleetSize: number | null;
  rollbackOf: string | null;
  rollbackStatus: string | null;
  counts: Record<string, number>;
  waves: {
    index: number;
    name: string;
    state: string;
    target: number | null;
    members: number;
    counts: Record<string, number>;
  }[];
  evaluations: { kind: string; passed: boolean; waveIndex: number | null }[];
}

export interface ReleaseView {
  releaseId: string;
  version: string;
  releaseCounter: number;
  document: { signed: { files: Record<string, { sha256: string }>; modelFile: string } };
}

export interface FleetSpec {
  readonly prefix: string;
  readonly devices: number;
  readonly hwMix?: Readonly<Record<string, number>>;
  readonly labels?: Readonly<Record<string, string>>;
  /** Wrap the shared runtime (e.g. in a PoisonedRuntime) for this fleet's agents. */
  readonly poisoned?: boolean;
}

export class RolloutHarness {
  readonly fleets = new Map<string, Fleet>();
  /** sha256 of the models the poisoned fleets answer wrong. */
  readonly poisoned = new Set<string>();
  private enrollToken = '';
  private constructor(
    readonly dir: string,
    readonly server: RunningServer,
    readonly api: ControlPlaneHttp,
    readonly runtime: SharedRuntime,
  ) {}

  /** A control plane with the `sensor` model v1 and v2 pushed and an enrollment token. */
  static async start(): Promise<RolloutHarness> {
    const dir = await mkdtemp(join(tmpdir(), 'ef-rollout-'));
    const server = await startServer(
      loadServerConfig({ dataDir: join(dir, 'cp'), httpPort: 0, mqttPort: 0 }, {}),
      { logger: pino({ level: 'silent' }) },
    );
    const api = new ControlPlaneHttp(server.httpUrl, server.adminToken!);
    const h = new RolloutHarness(dir, server, api, new SharedRuntime(new OrtInProcessRuntime()));
    for (const [version, model] of [
      ['1', MODEL_V1],
      ['2', MODEL_V2],
    ] as const) {
      await api.upload(
        '/v1/models/sensor/versions',
        { version },
        {
          model: { name: 'm.onnx', bytes: model },
          reference: { name: 'ref.csv', bytes: new SensorGenerator(1).csv(500) },
        },
      );
    }
    h.enrollToken = (
      await api.json<{ token: string }>('POST', '/v1/enrollment-tokens', { maxUses: 100 })
    ).token;
    return h;
  }

  /** Enroll and start a fleet of real agents. */
  async addFleet(spec: FleetSpec): Promise<Fleet> {
    const fleet = await Fleet.enroll({
      apiUrl: this.server.httpUrl,
      enrollToken: this.enrollToken,
      devices: spec.devices,
      idPrefix: spec.prefix,
      ...(spec.hwMix ? { hwMix: spec.hwMix } : {}),
      ...(spec.labels ? { labels: spec.labels } : {}),
      stateDir: join(this.dir, 'devices'),
      runtime: spec.poisoned ? new PoisonedRuntime(this.runtime, this.poisoned) : this.runtime,
      telemetryIntervalSec: 3600,
      // The soak of a wave that names none (the fleet rollback's): short, so tests need no waiting.
      soakDefaults: { minInferences: 2, durationSec: 0 },
    });
    await fleet.start();
    this.fleets.set(spec.prefix, fleet);
    return fleet;
  }

  /** Stop a fleet's agents (they go silent); `close()` leaves them be. */
  async stopFleet(prefix: string): Promise<void> {
    const fleet = this.fleets.get(prefix);
    this.fleets.delete(prefix);
    await fleet?.stop();
  }

  get devices(): SimDevice[] {
    return [...this.fleets.values()].flatMap((f) => f.devices);
  }

  /** Active release id per device id (`none` without a model). */
  activeReleases(): Map<string, string> {
    return new Map(
      this.devices.map((d) => [d.deviceId, d.agent.status().activeRelease?.releaseId ?? 'none']),
    );
  }

  release(model: string, version: string): Promise<{ releaseId: string; releaseCounter: number }> {
    return this.api.json('POST', '/v1/releases', { model, version });
  }

  getRelease(id: string): Promise<ReleaseView> {
    return this.api.json('GET', `/v1/releases/${encodeURIComponent(id)}`);
  }

  rollout(id: string): Promise<RolloutView> {
    return this.api.json('GET', `/v1/rollouts/${id}`);
  }

  async rollouts(): Promise<RolloutView[]> {
    return (await this.api.json<{ rollouts: RolloutView[] }>('GET', '/v1/rollouts')).rollouts;
  }

  create(spec: Record<string, unknown>): Promise<RolloutView> {
    return this.api.json('POST', '/v1/rollouts', spec);
  }

  action(id: string, action: string): Promise<unknown> {
    return this.api.json('POST', `/v1/rollouts/${id}/${action}`, {});
  }

  /**
   * Drive the system (scheduler tick, inference traffic on every running agent, telemetry ingest)
   * until `done()` holds, at most `timeoutMs`. `devices` limits the traffic (e.g. to live agents).
   */
  async drive(
    done: () => Promise<boolean> | boolean,
    options: {
      timeoutMs?: number;
      devices?: () => readonly SimDevice[];
      onStep?: () => Promise<void>;
    } = {},
  ): Promise<boolean> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      await this.server.engine.tick();
      const devices = options.devices?.() ?? this.devices;
      for (const fleet of this.fleets.values()) {
        const mine = fleet.devices.filter((d) => devices.includes(d));
        if (mine.length > 0) await fleet.traffic({ batches: 2, rows: 4, devices: mine });
      }
      await this.server.ingest.flush();
      await options.onStep?.();
      if (await done()) return true;
      await new Promise((r) => setImmediate(r));
    }
    return false;
  }

  /** Drive until rollout `id` is in one of `states`; fails with its progress otherwise. */
  async driveUntilState(
    id: string,
    states: readonly string[],
    options: Parameters<RolloutHarness['drive']>[1] = {},
  ): Promise<RolloutView> {
    let last: RolloutView | undefined;
    const ok = await this.drive(async () => {
      last = await this.rollout(id);
      return states.includes(last.state);
    }, options);
    if (!ok) {
      throw new Error(
        `rollout ${id} did not reach ${states.join('|')}: ${JSON.stringify(last).slice(0, 3000)}`,
      );
    }
    return last!;
  }

  async close(): Promise<void> {
    for (const fleet of this.fleets.values()) await fleet.stop();
    await this.runtime.close();
    await this.server.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
