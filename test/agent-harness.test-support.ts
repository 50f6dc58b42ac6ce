/**
 * Test support for the agent's integration tests: the control plane's embedded broker (port 0) with
 * a control-plane MQTT client that publishes desired states, commands and roots and records what
 * devices report; a local artifact server; a trust world whose documents are signed in-test; a TCP
 * proxy that can take the broker away; and agents on a manual clock.
 *
 * Waits are on events with a generous real-time bound (a failure guard, never a sleep).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Agent,
  ManualClock,
  OrtInProcessRuntime,
  parseAgentConfig,
  type AgentConfigInput,
  type AgentEvents,
  type AgentOptions,
  type AgentTuning,
  type DeploymentEvent,
  type ModelRuntime,
} from '@edgefleet/agent';
import { startEmbeddedBroker, type EmbeddedBroker } from '@edgefleet/control-plane';
import {
  applyLinear,
  canonicalBytes,
  createRoot,
  desiredTopic,
  linearClassifier,
  linearParameters,
  releaseSha256,
  signEnvelope,
  TRUST_ROOT_TOPIC,
  cmdTopic,
  type Directive,
  type Envelope,
  type FeatureSpec,
  type HealthCheckSample,
  type ReleaseDocument,
  type Root,
  type SigningKey,
  type Soak,
} from '@edgefleet/protocol';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll } from 'vitest';
import { pino } from 'pino';
import {
  startArtifactServer,
  type ArtifactServer,
} from '../agent/src/download/artifact-server.test-support.js';
import { testKey } from '../protocol/src/trust/fixtures.test-support.js';

export const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const iso = (ms: number): string => new Date(ms).toISOString();
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

/** Bound on every wait: a test that needs it has failed. */
export const WAIT_MS = 15_000;

/** Resolve with the first `event` whose arguments satisfy `match`; the listener is always removed. */
export function waitForEvent<K extends keyof AgentEvents>(
  agent: Agent,
  event: K,
  match: (...args: AgentEvents[K]) => boolean = () => true,
  what: string = event,
): Promise<AgentEvents[K]> {
  return new Promise((resolve, reject) => {
    const listener = (...args: AgentEvents[K]) => {
      if (!match(...args)) return;
      cleanup();
      resolve(args);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${what}`));
    }, WAIT_MS);
    const on = agent.on.bind(agent) as (e: K, l: (...a: AgentEvents[K]) => void) => Agent;
    const off = agent.off.bind(agent) as (e: K, l: (...a: AgentEvents[K]) => void) => Agent;
    function cleanup() {
      clearTimeout(timer);
      off(event, listener);
    }
    on(event, listener);
  });
}

// ---------------------------------------------------------------- trust world

export interface Keys {
  readonly root: readonly SigningKey[];
  readonly release: readonly SigningKey[];
  readonly deploy: readonly SigningKey[];
}

export const KEYS_V1: Keys = { root: [testKey(1)], release: [testKey(11)], deploy: [testKey(21)] };
export const KEYS_V2: Keys = { root: [testKey(2)], release: [testKey(12)], deploy: [testKey(22)] };

export function rootDocument(version: number, keys: Keys): Root {
  return createRoot({
    version,
    expires: iso(T0 + 365 * DAY),
    roles: {
      root: { keys: keys.root, threshold: 1 },
      release: { keys: keys.release, threshold: 1 },
      deploy: { keys: keys.deploy, threshold: 1 },
    },
  });
}

/** Root v1, pinned on every test device. */
export const ROOT_V1_BYTES = canonicalBytes(signEnvelope(rootDocument(1, KEYS_V1), KEYS_V1.root));

/** Root v2 with all-new keys, signed by v1's and its own root keys. */
export function rootV2Text(): string {
  return text(
    canonicalBytes(signEnvelope(rootDocument(2, KEYS_V2), [...KEYS_V1.root, ...KEYS_V2.root])),
  );
}

export const FEATURE_SPEC: FeatureSpec = {
  inputs: [{ kind: 'tabular', input: 'input', columns: ['a', 'b', 'c', 'd'] }],
  outputs: [{ kind: 'classifier', output: 'logits', scores: 'logits' }],
};

export const SAMPLE_ROWS = [
  [0.5, -1, 2, 0.25],
  [1, 1, -0.5, 3],
];

/** A classifier release's files: model, health-check sample (outputs computed here), profile. */
export function classifierFiles(
  bias: readonly number[] = [0, 0.5, -0.25],
): Record<string, Uint8Array> {
  const params = linearParameters(4, 3, undefined, bias);
  const sample: HealthCheckSample = {
    v: 1,
    inputs: { input: { type: 'float32', dims: [2, 4], data: SAMPLE_ROWS.flat() } },
    expected: {
      logits: {
        type: 'float32',
        dims: [2, 3],
        data: SAMPLE_ROWS.flatMap((row) => applyLinear(params, row)),
      },
    },
  };
  return {
    'model.onnx': linearClassifier({ features: 4, classes: 3, bias }),
    'sample.json': json(sample),
  };
}

export interface ReleaseSpec {
  readonly releaseId: string;
  readonly counter: number;
  readonly files: Record<string, Uint8Array>;
  readonly model?: { name: string; version: string };
  /** Default: `sample.json` when listed, else none. */
  readonly healthCheck?: ReleaseDocument['healthCheck'];
  readonly featureSpec?: FeatureSpec;
  readonly keys?: readonly SigningKey[];
  readonly expires?: number;
}

export interface SignedRelease {
  readonly doc: ReleaseDocument;
  readonly envelope: Envelope<ReleaseDocument>;
  readonly text: string;
  /** sha256 of each file, by name. */
  readonly shas: Record<string, string>;
}

export interface DirectiveSpec {
  readonly deviceId: string;
  readonly counter: number;
  readonly soak?: Soak;
  readonly keys?: readonly SigningKey[];
  readonly expires?: number;
  /** Name this release instead (mix-and-match). */
  readonly names?: SignedRelease;
  readonly unsigned?: boolean;
}

// ---------------------------------------------------------------- control plane side

export interface ReceivedReport {
  readonly topic: string;
  readonly kind: string;
  readonly deviceId: string;
  readonly body: Record<string, unknown>;
}

/** The control plane's MQTT client: publishes to devices, records their reports. */
export class ControlPlaneClient {
  readonly received: ReceivedReport[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      const [, , , deviceId = '', kind = ''] = topic.split('/');
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
      } catch {
        body = { unparsable: payload.toString('utf8') };
      }
      this.received.push({ topic, kind, deviceId, body });
      for (const wake of this.waiters) wake();
    });
  }

  static async connect(broker: EmbeddedBroker): Promise<ControlPlaneClient> {
    const client = await connectAsync(broker.url, {
      clientId: `cp-${Math.random().toString(36).slice(2, 10)}`,
      username: 'control-plane',
      password: 'cp-secret',
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const cp = new ControlPlaneClient(client);
    await client.subscribeAsync(
      ['status', 'state', 'telemetry', 'presence'].map((k) => `edgefleet/v1/d/+/${k}`),
      { qos: 1 },
    );
    return cp;
  }

  reports(deviceId: string, kind: string): Record<string, unknown>[] {
    return this.received
      .filter((r) => r.deviceId === deviceId && r.kind === kind)
      .map((r) => r.body);
  }

  /** The states reported on `status` for one deployment, in order. */
  statusStates(deviceId: string, releaseId: string, directiveCounter?: number): string[] {
    return this.reports(deviceId, 'status')
      .filter(
        (s) =>
          s.releaseId === releaseId &&
          (directiveCounter === undefined || s.directiveCounter === directiveCounter),
      )
      .map((s) => {
        const state = s.state as string;
        return s.reason === undefined ? state : `${state}(${s.reason as string})`;
      });
  }

  waitFor(match: (r: ReceivedReport) => boolean, what: string): Promise<ReceivedReport> {
    const found = this.received.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const wake = () => {
        const hit = this.received.find(match);
        if (!hit) return;
        cleanup();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, WAIT_MS);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      this.waiters.add(wake);
    });
  }

  async publishDesired(deviceId: string, directive: string, release: string): Promise<void> {
    await this.publishRaw(
      desiredTopic(deviceId),
      json({ v: 1, type: 'desired', directive, release }),
      true,
    );
  }

  async publishTrustRoot(roots: string[]): Promise<void> {
    await this.publishRaw(TRUST_ROOT_TOPIC, json({ v: 1, type: 'trust_root', roots }), true);
  }

  async publishCommand(deviceId: string, command: string): Promise<void> {
    await this.publishRaw(
      cmdTopic(deviceId),
      json({ v: 1, type: 'cmd', id: `c-${Date.now()}`, command, issuedAt: iso(T0) }),
      false,
    );
  }

  async publishRaw(topic: string, payload: Uint8Array, retain: boolean): Promise<void> {
    await this.client.publishAsync(topic, Buffer.from(payload), { qos: 1, retain });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

// ---------------------------------------------------------------- TCP proxy

/** A TCP proxy in front of the broker that can drop every connection and refuse new ones. */
export interface TcpProxy {
  readonly url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((inbound) => {
    if (!open) {
      inbound.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [inbound, upstream]) {
      sockets.add(s);
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        upstream.destroy();
      });
      s.on('error', () => undefined);
    }
    inbound.pipe(upstream);
    upstream.pipe(inbound);
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

// ---------------------------------------------------------------- the harness

export interface TestDevice {
  readonly deviceId: string;
  /** Replaced by `Harness.restart`. */
  agent: Agent;
  readonly clock: ManualClock;
  readonly stateDir: string;
  /** Every deployment event, in order. */
  readonly events: DeploymentEvent[];
  /** Free bytes the disk probe reports (change it to fake a full disk). */
  space: { available: number };
  /** Resolve on the first deployment event matching, past or future. */
  waitForDeployment(match: (e: DeploymentEvent) => boolean, what: string): Promise<DeploymentEvent>;
}

export interface DeviceOptions {
  readonly deviceId: string;
  readonly mqttUrl?: string;
  readonly runtime?: ModelRuntime;
  readonly tuning?: AgentTuning;
  readonly config?: Partial<AgentConfigInput>;
  readonly options?: Partial<AgentOptions>;
}

export class Harness {
  readonly devices: TestDevice[] = [];
  private readonly dirs: string[] = [];
  private readonly restarts = new Map<TestDevice, () => Agent>();

  private constructor(
    readonly broker: EmbeddedBroker,
    readonly artifacts: ArtifactServer,
    readonly cp: ControlPlaneClient,
    readonly runtime: ModelRuntime,
    /** Device tokens the broker accepts. */
    private readonly tokens: Map<string, string>,
  ) {}

  static async start(runtime: ModelRuntime): Promise<Harness> {
    const tokens = new Map<string, string>();
    const broker = await startEmbeddedBroker({
      port: 0,
      authenticateDevice: (id, token) => Promise.resolve(tokens.get(id) === token),
      controlPlaneCredentials: { username: 'control-plane', password: 'cp-secret' },
      connectRateLimit: false,
      logger: pino({ level: 'silent' }),
    });
    const artifacts = await startArtifactServer();
    const cp = await ControlPlaneClient.connect(broker);
    return new Harness(broker, artifacts, cp, runtime, tokens);
  }

  /** Sign a release (registering its files with the artifact server). */
  release(spec: ReleaseSpec): SignedRelease {
    const shas: Record<string, string> = {};
    for (const [name, bytes] of Object.entries(spec.files)) shas[name] = this.artifacts.add(bytes);
    const files = Object.fromEntries(
      Object.entries(spec.files).map(([name, bytes]) => [
        name,
        { sha256: shas[name]!, length: bytes.length },
      ]),
    );
    const doc: ReleaseDocument = {
      _type: 'release',
      releaseId: spec.releaseId,
      model: spec.model ?? { name: 'classifier', version: `${spec.counter}.0.0` },
      releaseCounter: spec.counter,
      files,
      modelFile: 'model.onnx',
      compat: { hardwareClasses: ['x86-64'], ort: { min: '1.18.0' }, requiredEps: [] },
      featureSpec: spec.featureSpec ?? FEATURE_SPEC,
      healthCheck:
        spec.healthCheck !== undefined
          ? spec.healthCheck
          : 'sample.json' in spec.files
            ? { sample: 'sample.json', atol: 1e-4, rtol: 1e-3 }
            : null,
      createdAt: iso(T0 - DAY),
      expires: iso(spec.expires ?? T0 + 30 * DAY),
    };
    const envelope = signEnvelope(doc, spec.keys ?? KEYS_V1.release);
    return { doc, envelope, text: text(canonicalBytes(envelope)), shas };
  }

  /** Sign a directive for `release`. */
  directive(release: SignedRelease, spec: DirectiveSpec): string {
    const named = spec.names ?? release;
    const directive: Directive = {
      _type: 'directive',
      deviceId: spec.deviceId,
      releaseId: named.doc.releaseId,
      releaseSha256: releaseSha256(named.envelope),
      directiveCounter: spec.counter,
      issuedAt: iso(T0 - HOUR),
      expires: iso(spec.expires ?? T0 + 7 * DAY),
      ...(spec.soak !== undefined ? { soak: spec.soak } : {}),
    };
    const envelope = spec.unsigned
      ? { signed: directive, signatures: [] }
      : signEnvelope(directive, spec.keys ?? KEYS_V1.deploy);
    return text(canonicalBytes(envelope));
  }

  /** Publish a desired state for `release` to the device. */
  async deploy(release: SignedRelease, spec: DirectiveSpec): Promise<void> {
    await this.cp.publishDesired(spec.deviceId, this.directive(release, spec), release.text);
  }

  /** Start an agent on a manual clock (at T0), connected and ready. */
  async device(options: DeviceOptions): Promise<TestDevice> {
    const { deviceId } = options;
    const token = `token-${deviceId}`;
    this.tokens.set(deviceId, token);
    const stateDir = await mkdtemp(join(tmpdir(), `ef-agent-${deviceId}-`));
    this.dirs.push(stateDir);
    const clock = new ManualClock(T0);
    const space = { available: 1e12 };
    const config = parseAgentConfig({
      deviceId,
      deviceToken: token,
      mqttUrl: options.mqttUrl ?? this.broker.url,
      apiUrl: this.artifacts.url,
      hardwareClass: 'x86-64',
      labels: { site: 'test' },
      stateDir,
      soakDefaults: { minInferences: 0, durationSec: 0, maxErrorRate: 0.05 },
      ...options.config,
    });
    const makeAgent = () =>
      new Agent({
        config,
        runtime: options.runtime ?? this.runtime,
        logger: pino({ level: process.env.EF_TEST_LOG ?? 'silent' }),
        clock,
        random: () => 0.5,
        pinnedRoot: ROOT_V1_BYTES,
        runtimeFacts: { ortVersion: '1.30.0', availableProviders: ['cpu'] },
        diskProbe: () => Promise.resolve({ availableBytes: space.available, totalBytes: 1e12 }),
        tuning: {
          downloadBackoff: { baseMs: 0 },
          durableSpool: false,
          diskMarginBytes: 0,
          ...options.tuning,
        },
        ...options.options,
      });
    const events: DeploymentEvent[] = [];
    const device: TestDevice = {
      deviceId,
      agent: makeAgent(),
      clock,
      stateDir,
      events,
      space,
      waitForDeployment: (match, what) => {
        const past = events.find(match);
        if (past) return Promise.resolve(past);
        return waitForEvent(device.agent, 'deployment', match, what).then(([e]) => e);
      },
    };
    this.restarts.set(device, makeAgent);
    await this.launch(device);
    this.devices.push(device);
    return device;
  }

  /** Start the device's agent and wait for its MQTT session. */
  private async launch(device: TestDevice): Promise<void> {
    device.agent.on('deployment', (e) => device.events.push(e));
    const connected = waitForEvent(device.agent, 'connected');
    await device.agent.start();
    await connected;
  }

  /**
   * Stop the device's agent and start a new one on the same state directory and clock: what a
   * restart after a crash at that point finds on disk (the journal, trust state and slots are all
   * written before the step they record is acted on).
   */
  async restart(device: TestDevice): Promise<void> {
    await device.agent.stop();
    device.agent = this.restarts.get(device)!();
    await this.launch(device);
  }

  /**
   * Install a healthy classifier release with no soak (assigned ... succeeded at once) and wait
   * for it to serve.
   */
  async installBaseline(device: TestDevice, counter = 1, releaseId = `rel-base-${counter}`) {
    const release = this.release({ releaseId, counter, files: classifierFiles() });
    await this.deploy(release, { deviceId: device.deviceId, counter });
    await device.waitForDeployment(
      (e) => e.releaseId === releaseId && e.state === 'succeeded',
      `${releaseId} succeeded`,
    );
    await this.cp.waitFor(
      (r) =>
        r.deviceId === device.deviceId &&
        r.kind === 'status' &&
        r.body.releaseId === releaseId &&
        r.body.state === 'succeeded',
      `${releaseId} succeeded on status`,
    );
    return release;
  }

  async close(): Promise<void> {
    for (const d of this.devices) await d.agent.stop();
    await this.cp.close();
    await this.broker.close();
    await this.artifacts.close();
    for (const dir of this.dirs) await rm(dir, { recursive: true, force: true });
  }
}

/** A batch of classifier inputs. */
export function classifierInput(rows = 1): {
  input: { type: 'float32'; dims: number[]; data: Float32Array };
} {
  const data = new Float32Array(rows * 4).map((_, i) => ((i * 37) % 11) / 5 - 1);
  return { input: { type: 'float32', dims: [rows, 4], data } };
}

/** The inactive slot's files directory (where a release is staged). */
export async function inactiveFilesDir(stateDir: string): Promise<string> {
  const state = JSON.parse(await readFile(join(stateDir, 'models', 'state.json'), 'utf8')) as {
    activeSlot: 'a' | 'b' | null;
  };
  const slot = state.activeSlot === 'a' ? 'b' : 'a';
  return join(stateDir, 'models', 'slots', slot, 'files');
}

/** Drop a file the release does not list into `dir`. */
export async function dropStrayFile(dir: string): Promise<void> {
  await writeFile(join(dir, 'stray.bin'), 'not listed');
}

/**
 * One harness for a test file, on an in-process onnxruntime of its own: started before the file's
 * tests, closed (with the runtime) after them. The returned getter is for tests and hooks.
 */
export function useHarness(): () => Harness {
  const runtime = new OrtInProcessRuntime({ logLevel: 'fatal' });
  let started: Harness | undefined;
  beforeAll(async () => {
    started = await Harness.start(runtime);
  });
  afterAll(async () => {
    await started?.close();
    await runtime.close();
  });
  return () => {
    if (started === undefined) throw new Error('the harness starts in beforeAll');
    return started;
  };
}
