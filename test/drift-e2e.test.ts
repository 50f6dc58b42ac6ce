/**
 * Drift end to end (issue #7 item 6): a real control plane, twelve real agents (3 sites x 2 hardware
 * classes, two devices per cohort) serving a model whose release carries a reference profile, and a
 * webhook receiver. The agents share one `ManualClock` set about 50 minutes behind the wall clock,
 * so each `advance(60 s)` closes one honest 1-minute telemetry window that the control plane's
 * (real-time) evaluator already considers closed: many windows in seconds, none forged.
 *
 * The evaluator loop is stopped and `evaluate()` is called once per window after the window's data
 * is committed, so a window is never evaluated with half its devices in.
 */
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Agent,
  ManualClock,
  OrtInProcessRuntime,
  parseAgentConfig,
  type TensorData,
} from '@edgefleet/agent';
import { loadServerConfig, startServer, type RunningServer } from '@edgefleet/control-plane';
import {
  ControlPlaneHttp,
  DEMO_BIAS,
  DEMO_WEIGHTS,
  SENSOR_FEATURES,
  SensorGenerator,
  SharedRuntime,
  type DataMode,
} from '@edgefleet/fleet-sim';
import { linearClassifier } from '@edgefleet/protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '@edgefleet/control-plane';

const WINDOW_MS = 60_000;
const SITES = ['berlin', 'paris', 'tokyo'] as const;
const HARDWARE = ['jetson', 'rpi5'] as const;
/** Rows each device serves per window: 2 devices x 160 rows = 320 per cohort, over the 200 minimum. */
const BATCHES = 2;
const ROWS = 80;
const SECRET = 'drift-e2e-webhook-secret-0123456789';

interface Device {
  readonly deviceId: string;
  readonly site: string;
  readonly agent: Agent;
  readonly data: SensorGenerator;
}

interface Received {
  readonly event: string;
  readonly delivery: string;
  readonly verified: boolean;
  readonly body: { id: string; type: string; data: Record<string, unknown> };
}

let dir: string;
let server: RunningServer;
let api: ControlPlaneHttp;
let runtime: SharedRuntime;
let receiver: Server;
const received: Received[] = [];
let webhookId: string;
const devices: Device[] = [];
// Aligned to a minute, ~50 minutes ago: inside the evaluator's 1-hour lookback for the whole run.
const clock = new ManualClock(Math.floor((Date.now() - 50 * 60_000) / WINDOW_MS) * WINDOW_MS);
let releaseId: string;

function serverConfig(httpPort: number, mqttPort: number) {
  return loadServerConfig({ dataDir: join(dir, 'cp'), httpPort, mqttPort }, {});
}

async function start(httpPort: number, mqttPort: number): Promise<void> {
  server = await startServer(serverConfig(httpPort, mqttPort), {
    logger: pino({ level: 'silent' }),
  });
  // Evaluated explicitly, once per window, after the window's data is committed (see the header).
  await server.evaluator.stop();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Serve one window of traffic, close it on every agent, wait until the control plane has it. */
async function window(modeFor: (d: Device) => DataMode): Promise<void> {
  for (const d of devices) {
    for (let b = 0; b < BATCHES; b++) {
      const input: TensorData = {
        type: 'float32',
        dims: [ROWS, SENSOR_FEATURES.length],
        data: d.data.batch(ROWS, modeFor(d)),
      };
      await d.agent.infer({ input });
    }
  }
  const merged = server.ingest.metrics.windows.get();
  const closed = devices.map((d) => once(d.agent, 'telemetry'));
  clock.advance(WINDOW_MS);
  await Promise.all(closed);
  await until('the windows to be committed', async () => {
    await server.ingest.flush();
    return server.ingest.metrics.windows.get() >= merged + devices.length ? true : undefined;
  });
}

interface DriftEventJson {
  id: string;
  cohort: string;
  featureSet: string;
  status: string;
  feature: string;
  features: { feature: string }[] | Record<string, unknown>;
  windowStart: string;
}

async function driftEvents(): Promise<DriftEventJson[]> {
  return (await api.json<{ events: DriftEventJson[] }>('GET', '/v1/drift?model=sensor')).events;
}

async function retrainingRequests(): Promise<{ id: string; cohort: string }[]> {
  return (
    await api.json<{ requests: { id: string; cohort: string }[] }>(
      'GET',
      '/v1/retraining-requests?model=sensor',
    )
  ).requests;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ef-drift-'));
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push({
        event: String(req.headers['x-edgefleet-event']),
        delivery: String(req.headers['x-edgefleet-delivery']),
        verified: verifyWebhookSignature(SECRET, req.headers, raw).ok,
        body: JSON.parse(raw.toString('utf8')) as Received['body'],
      });
      res.writeHead(204).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');

  await start(0, 0);
  api = new ControlPlaneHttp(server.httpUrl, server.adminToken!);
  const model = linearClassifier({
    features: 4,
    classes: 3,
    weights: DEMO_WEIGHTS,
    bias: DEMO_BIAS,
  });
  await api.upload(
    '/v1/models/sensor/versions',
    { version: '1' },
    {
      model: { name: 'm.onnx', bytes: model },
      reference: { name: 'ref.csv', bytes: new SensorGenerator(1).csv(2000) },
    },
  );
  const hook = await api.json<{ id: string }>('POST', '/v1/webhooks', {
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
    events: ['retraining.requested'],
    secret: SECRET,
  });
  webhookId = hook.id;

  const enroll = await api.json<{ token: string }>('POST', '/v1/enrollment-tokens', {
    maxUses: 20,
  });
  runtime = new SharedRuntime(new OrtInProcessRuntime({ logLevel: 'fatal' }));
  for (let i = 0; i < SITES.length * HARDWARE.length * 2; i++) {
    const site = SITES[i % SITES.length]!;
    const hw = HARDWARE[Math.floor(i / SITES.length) % HARDWARE.length]!;
    const e = await api.json<{
      deviceId: string;
      deviceToken: string;
      mqttUrl: string;
      apiUrl: string;
      labels: Record<string, string>;
      trustRoot: string;
    }>('POST', '/v1/devices/enroll', {
      token: enroll.token,
      deviceId: `drift-${i}`,
      hardwareClass: hw,
      os: 'linux',
      arch: 'arm64',
      ortVersion: '1.30.0',
      executionProviders: ['cpu'],
      labels: { site, hw },
    });
    const stateDir = join(dir, 'devices', e.deviceId);
    await mkdir(stateDir, { recursive: true });
    const agent = new Agent({
      config: parseAgentConfig({
        deviceId: e.deviceId,
        deviceToken: e.deviceToken,
        mqttUrl: e.mqttUrl,
        apiUrl: e.apiUrl,
        hardwareClass: hw,
        labels: e.labels,
        executionProviders: ['cpu'],
        stateDir,
        localApi: null,
        telemetryIntervalSec: WINDOW_MS / 1000,
        spoolMaxBytes: 1024 * 1024,
        soakDefaults: { minInferences: 1, durationSec: 0, maxErrorRate: 0.05 },
        logLevel: 'warn',
      }),
      runtime,
      clock,
      logger: pino({ level: 'silent' }),
      runtimeFacts: { ortVersion: '1.30.0', availableProviders: ['cpu'] },
      pinnedRoot: new TextEncoder().encode(e.trustRoot),
      tuning: { durableSpool: false, reconnectBackoff: { baseMs: 100, capMs: 1000 } },
    });
    devices.push({ deviceId: e.deviceId, site, agent, data: new SensorGenerator(1000 + i) });
  }
  await Promise.all(devices.map((d) => d.agent.start()));

  const release = await api.json<{ releaseId: string }>('POST', '/v1/releases', {
    model: 'sensor',
    version: '1',
  });
  releaseId = release.releaseId;
  const rollout = await api.json<{ id: string }>('POST', '/v1/rollouts', {
    releaseId,
    selector: '',
    waves: [{ name: 'all', size: { percent: 100 }, soak: { minInferences: 1, duration: 0 } }],
    rate: { maxPerMinute: 600 },
  });
  await until(
    'the rollout to complete',
    async () => {
      await server.engine.tick();
      for (const d of devices) {
        if (d.agent.status().activeRelease?.releaseId === releaseId) {
          await d.agent.infer({
            input: { type: 'float32', dims: [1, 4], data: d.data.batch(1, 'reference') },
          });
        }
      }
      await server.ingest.flush();
      const r = await api.json<{ state: string }>('GET', `/v1/rollouts/${rollout.id}`);
      return r.state === 'completed' ? true : undefined;
    },
    60_000,
  );
  // Close the (small) window of the rollout itself: the monitor's windows start clean after it.
  await window(() => 'reference');
  await server.evaluator.evaluate();
}, 90_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.agent.stop()));
  await runtime.close();
  await server.close();
  receiver.close();
  await rm(dir, { recursive: true, force: true });
});

describe('drift end to end', () => {
  it('fires no drift event while every site serves reference-like data', async () => {
    for (let i = 0; i < 6; i++) {
      await window(() => 'reference');
      const summary = await server.evaluator.evaluate();
      expect(summary.windows).toBe(SITES.length * HARDWARE.length);
    }
    expect(await driftEvents()).toEqual([]);
    expect(await retrainingRequests()).toEqual([]);
  }, 60_000);

  it('opens an input drift event for the shifted site only, within three windows, naming the shifted features', async () => {
    let inputs: DriftEventJson[] = [];
    let windows = 0;
    while (inputs.length < 2 && windows < 3) {
      await window((d) => (d.site === 'paris' ? 'drifted' : 'reference'));
      await server.evaluator.evaluate();
      windows++;
      inputs = (await driftEvents()).filter((e) => e.featureSet === 'inputs');
    }
    const events = await driftEvents();
    expect(new Set(events.map((e) => e.cohort))).toEqual(
      new Set(['site=paris,hardware=jetson', 'site=paris,hardware=rpi5']),
    );
    expect(inputs.map((e) => e.cohort).sort()).toEqual([
      'site=paris,hardware=jetson',
      'site=paris,hardware=rpi5',
    ]);
    for (const e of inputs) {
      expect(e.status).toBe('firing');
      expect(['input.vibration', 'input.temperature']).toContain(e.feature);
      const named = JSON.stringify(e.features);
      expect(named).toContain('input.vibration');
      expect(named).toContain('input.temperature');
      expect(named).not.toContain('input.current');
      expect(named).not.toContain('input.pressure');
    }
    const requests = await retrainingRequests();
    expect(requests.length).toBe(events.length);
    expect(requests.every((r) => r.cohort.startsWith('site=paris,'))).toBe(true);
  }, 60_000);

  it('delivers each retraining request once to the webhook, correctly signed', async () => {
    const requests = await retrainingRequests();
    await until('the webhook deliveries', () =>
      Promise.resolve(received.length >= requests.length ? true : undefined),
    );
    expect(received.every((r) => r.verified)).toBe(true);
    expect(received.every((r) => r.event === 'retraining.requested')).toBe(true);
    expect(received.map((r) => r.body.data.id).sort()).toEqual(requests.map((r) => r.id).sort());
    expect(new Set(received.map((r) => r.delivery)).size).toBe(received.length);
  });

  it('does not duplicate events, requests or deliveries across a control-plane restart', async () => {
    const eventsBefore = (await driftEvents()).map((e) => e.id).sort();
    const requestsBefore = (await retrainingRequests()).map((r) => r.id).sort();
    const deliveredBefore = received.length;
    const httpPort = Number(new URL(server.httpUrl).port);
    const mqttPort = Number(new URL(server.mqttUrl).port);
    await server.close();
    await start(httpPort, mqttPort);
    // Nothing new to evaluate: the windows seen before the restart are not evaluated again.
    expect((await server.evaluator.evaluate()).windows).toBe(0);

    // Reconnect the agents (their back-off runs on the manual clock), within the current minute.
    const windowEnd = clock.now() + WINDOW_MS;
    await until('the agents to reconnect', async () => {
      if (devices.every((d) => d.agent.connected)) return true;
      if (clock.now() + 1000 < windowEnd) clock.advance(1000);
      await new Promise((r) => setImmediate(r));
      return undefined;
    });
    // Finish the minute with drifted traffic (the window closes at its usual boundary).
    for (const d of devices) {
      await d.agent.infer({
        input: {
          type: 'float32',
          dims: [ROWS, SENSOR_FEATURES.length],
          data: d.data.batch(ROWS, d.site === 'paris' ? 'drifted' : 'reference'),
        },
      });
    }
    const merged = server.ingest.metrics.windows.get();
    const closed = devices.map((d) => once(d.agent, 'telemetry'));
    clock.advance(windowEnd - clock.now());
    await Promise.all(closed);
    await until('the windows to be committed', async () => {
      await server.ingest.flush();
      return server.ingest.metrics.windows.get() >= merged + devices.length ? true : undefined;
    });
    await window((d) => (d.site === 'paris' ? 'drifted' : 'reference'));
    expect((await server.evaluator.evaluate()).windows).toBeGreaterThan(0);

    expect((await driftEvents()).map((e) => e.id).sort()).toEqual(eventsBefore);
    expect((await retrainingRequests()).map((r) => r.id).sort()).toEqual(requestsBefore);
    const log = await api.json<{ deliveries: { status: string }[] }>(
      'GET',
      `/v1/webhooks/${webhookId}/deliveries`,
    );
    expect(log.deliveries.length).toBe(requestsBefore.length);
    expect(received.length).toBe(deliveredBefore);
  }, 60_000);
});
