/**
 * A simulated fleet (real agents, real MQTT, real onnxruntime shared across agents) takes a staged
 * rollout from a real control plane to completion.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrtInProcessRuntime } from '@edgefleet/agent';
import { loadServerConfig, startServer, type RunningServer } from '@edgefleet/control-plane';
import {
  ControlPlaneHttp,
  DEMO_BIAS,
  DEMO_WEIGHTS,
  Fleet,
  SensorGenerator,
  SharedRuntime,
} from '@edgefleet/fleet-sim';
import { linearClassifier } from '@edgefleet/protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
let server: RunningServer;
let api: ControlPlaneHttp;
let fleet: Fleet;
let runtime: SharedRuntime;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ef-fleet-'));
  server = await startServer(
    loadServerConfig({ dataDir: join(dir, 'cp'), httpPort: 0, mqttPort: 0 }, {}),
    {
      logger: pino({ level: 'silent' }),
    },
  );
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
      reference: { name: 'ref.csv', bytes: new SensorGenerator(1).csv(1000) },
    },
  );
  const enroll = await api.json<{ token: string }>('POST', '/v1/enrollment-tokens', {
    maxUses: 50,
  });
  runtime = new SharedRuntime(new OrtInProcessRuntime());
  fleet = await Fleet.enroll({
    apiUrl: server.httpUrl,
    enrollToken: enroll.token,
    devices: 12,
    stateDir: join(dir, 'devices'),
    runtime,
    telemetryIntervalSec: 3600,
  });
  await fleet.start();
}, 120_000);

afterAll(async () => {
  await fleet.stop();
  await runtime.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('simulated fleet', () => {
  it('enrolls devices spread over hardware classes and sites', () => {
    const hw = new Set(fleet.devices.map((d) => d.hardwareClass));
    const sites = new Set(fleet.devices.map((d) => d.site));
    expect(hw).toEqual(new Set(['jetson', 'rpi5']));
    expect(sites).toEqual(new Set(['berlin', 'paris', 'tokyo']));
  });

  it('takes a two-wave rollout to completion, every device on the new release, one shared session', async () => {
    const release = await api.json<{ releaseId: string }>('POST', '/v1/releases', {
      model: 'sensor',
      version: '1',
    });
    const rollout = await api.json<{ id: string }>('POST', '/v1/rollouts', {
      releaseId: release.releaseId,
      selector: '',
      waves: [
        { name: 'canary', size: { count: 3 }, soak: { minInferences: 2 } },
        { name: 'all', size: { percent: 100 }, soak: { minInferences: 2 } },
      ],
      rate: { maxPerMinute: 600 },
    });
    const deadline = Date.now() + 90_000;
    let state = '';
    while (Date.now() < deadline) {
      await server.engine.tick();
      await fleet.traffic({ batches: 3, rows: 4 });
      await server.ingest.flush();
      state = (await api.json<{ state: string }>('GET', `/v1/rollouts/${rollout.id}`)).state;
      if (state === 'completed') break;
      await new Promise((r) => setImmediate(r));
    }
    if (state !== 'completed') {
      console.log(
        JSON.stringify(await api.json('GET', `/v1/rollouts/${rollout.id}`), null, 1).slice(0, 3000),
      );
      console.log(
        JSON.stringify(
          fleet.devices.slice(0, 3).map((d) => d.agent.status()),
          null,
          1,
        ).slice(0, 3000),
      );
    }
    expect(state).toBe('completed');
    expect(fleet.releaseCounts()).toEqual({ [release.releaseId]: 12 });
    expect(runtime.sessionCount).toBe(1);
    const progress = await api.json<{ counts: Record<string, number> }>(
      'GET',
      `/v1/rollouts/${rollout.id}`,
    );
    expect(progress.counts).toEqual({ succeeded: 12 });
  }, 120_000);
});
