/**
 * A model that runs far longer than the MQTT keep-alive must not cost the device its session:
 * with `OrtWorkerRuntime` the run happens off the event loop, so keep-alive pings go on.
 *
 * The broker runs in a worker thread of its own (bare aedes), so a blocked agent event loop could
 * not hide behind a blocked broker event loop. Real time is the subject here (aedes drops a client
 * silent for 1.5 keep-alives), so the run is calibrated on this machine to about 4 keep-alives.
 */
import { Worker } from 'node:worker_threads';
import { OrtWorkerRuntime } from '@edgefleet/agent';
import { cmdTopic, desiredTopic, presenceTopic, slowModel } from '@edgefleet/protocol';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Harness,
  iso,
  T0,
  waitForEvent,
  type SignedRelease,
} from './agent-harness.test-support.js';

const BROKER_WORKER = `
const { parentPort } = require('node:worker_threads');
const { createServer } = require('node:net');
import('aedes').then(async ({ Aedes }) => {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
  parentPort.on('message', () => {
    server.close();
    broker.close(() => parentPort.close());
  });
});
`;

const runtime = new OrtWorkerRuntime({ logLevel: 'fatal' });
let h: Harness;
let worker: Worker;
let brokerUrl: string;
let client: MqttClient;
const presence: boolean[] = [];

beforeAll(async () => {
  h = await Harness.start(runtime);
  worker = new Worker(BROKER_WORKER, { eval: true });
  const port = await new Promise<number>((resolve) => {
    worker.once('message', resolve);
  });
  brokerUrl = `mqtt://127.0.0.1:${port}`;
  client = await connectAsync(brokerUrl, { clientId: 'test-control', reconnectPeriod: 0 });
  client.on('message', (_topic, payload) => {
    presence.push((JSON.parse(payload.toString('utf8')) as { online: boolean }).online);
  });
  await client.subscribeAsync(presenceTopic('slow-1'), { qos: 1 });
});

afterAll(async () => {
  await h.close();
  await client.endAsync(true);
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  worker.postMessage('close');
  await exited;
  await runtime.close();
});

const SIZE = 128;
const input = () => ({
  input: { type: 'float32' as const, dims: [1, SIZE], data: new Float32Array(SIZE).fill(0.5) },
});

async function install(deviceId: string, release: SignedRelease, counter: number): Promise<void> {
  const directive = h.directive(release, { deviceId, counter });
  const payload = JSON.stringify({ v: 1, type: 'desired', directive, release: release.text });
  await client.publishAsync(desiredTopic(deviceId), payload, { qos: 1, retain: true });
}

describe('agent keep-alive', () => {
  it('keeps its MQTT session through a model run of 4 keep-alives', async () => {
    const d = await h.device({
      deviceId: 'slow-1',
      mqttUrl: brokerUrl,
      config: { mqttKeepaliveSec: 1 },
    });
    const featureSpec = { inputs: [], outputs: [] };

    // Calibrate: time a short version of the model on this machine.
    const probe = h.release({
      releaseId: 'rel-probe',
      counter: 1,
      files: { 'model.onnx': slowModel({ iterations: 20_000, size: SIZE }) },
      featureSpec,
    });
    await install(d.deviceId, probe, 1);
    await d.waitForDeployment(
      (e) => e.releaseId === 'rel-probe' && e.state === 'succeeded',
      'probe',
    );
    await d.agent.infer(input()); // warm-up
    // The fastest of a few runs: a probe slowed by other work would make the real run too short.
    let fastest = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await d.agent.infer(input());
      fastest = Math.min(fastest, performance.now() - t0);
    }
    const iterations = Math.ceil((4000 * 20_000) / fastest);

    const slow = h.release({
      releaseId: 'rel-slow',
      counter: 2,
      files: { 'model.onnx': slowModel({ iterations, size: SIZE }) },
      featureSpec,
    });
    await install(d.deviceId, slow, 2);
    await d.waitForDeployment((e) => e.releaseId === 'rel-slow' && e.state === 'succeeded', 'slow');

    let disconnects = 0;
    const onDisconnect = () => {
      disconnects++;
    };
    d.agent.on('disconnected', onDisconnect);
    try {
      const started = performance.now();
      const result = await d.agent.infer(input());
      const ranMs = performance.now() - started;
      expect(result.releaseId).toBe('rel-slow');
      expect(ranMs).toBeGreaterThan(2000); // well past the broker's 1.5 s keep-alive limit
      // A round trip after the run: had the broker dropped the session during it, the agent would
      // learn so now, before this command could reach it.
      const command = waitForEvent(d.agent, 'command');
      const dropped = waitForEvent(d.agent, 'disconnected');
      await client.publishAsync(
        cmdTopic(d.deviceId),
        JSON.stringify({
          v: 1,
          type: 'cmd',
          id: 'c1',
          command: 'publish_state',
          issuedAt: iso(T0),
        }),
        { qos: 1 },
      );
      const first = await Promise.race([
        command.then(() => 'command'),
        dropped.then(() => 'dropped'),
      ]);
      expect(first).toBe('command');
      void dropped.catch(() => undefined);
    } finally {
      d.agent.off('disconnected', onDisconnect);
    }
    expect(disconnects).toBe(0);
    expect(d.agent.connected).toBe(true);
    // Online on connect; the broker never published the last will.
    expect(presence).toEqual([true]);
  });
});
