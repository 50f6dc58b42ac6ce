/**
 * The control plane as a client of an external Mosquitto (MQTT_URL), configured by the files
 * `writeMosquittoConfig` writes (what `edgefleet broker mosquitto-config` does). The flow an operator
 * follows:
 *
 * 1. write the config with no devices yet and a control-plane password they chose, start Mosquitto;
 * 2. start the server with MQTT_URL = the control-plane listener (that user and plaintext password)
 *    and `deviceMqttUrl` = the device listener, which is what enrollment hands devices; it subscribes
 *    to device topics as `$share/edgefleet/...`, as replicas of a cluster would;
 * 3. enroll devices over HTTP; regenerate the password file from the database and send SIGHUP;
 * 4. rotate the deploy key (root version 2: only roots after version 1 are published, devices pin
 *    version 1 at enrollment), start the agents: they connect to the device listener, take the
 *    retained root 2 and their desired state, and a rollout signed with the new key completes.
 *
 * Skipped (and says so) when no mosquitto binary is found.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrtInProcessRuntime } from '@edgefleet/agent';
import {
  loadServerConfig,
  startServer,
  writeMosquittoConfig,
  type RunningServer,
} from '@edgefleet/control-plane';
import {
  ControlPlaneHttp,
  DEMO_BIAS,
  DEMO_WEIGHTS,
  Fleet,
  SensorGenerator,
  SharedRuntime,
} from '@edgefleet/fleet-sim';
import { linearClassifier, TRUST_ROOT_TOPIC } from '@edgefleet/protocol';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMosquittoDevices } from '../control-plane/src/server/mosquitto-devices.js';

async function findMosquitto(): Promise<string | undefined> {
  for (const candidate of [
    process.env.MOSQUITTO_BIN,
    '/usr/sbin/mosquitto',
    '/usr/bin/mosquitto',
  ]) {
    if (candidate === undefined) continue;
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const MOSQUITTO = await findMosquitto();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** Resolves once Mosquitto logs that it runs; rejects with its log if it exits first or in 10 s. */
function mosquittoReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      finish(new Error(`mosquitto did not start in 10 s:\n${log}`));
    }, 10_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      if (/mosquitto version \S+ running/.test(log)) finish();
    };
    const onExit = (code: number | null) => {
      finish(new Error(`mosquitto exited (${code}) before it was ready:\n${log}`));
    };
    const finish = (err?: Error) => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Poll `condition` until it holds; fail with `what` after `ms`. */
async function eventually(what: string, ms: number, condition: () => Promise<boolean>) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(MOSQUITTO === undefined)(
  `external Mosquitto broker${MOSQUITTO === undefined ? ' (skipped: no mosquitto binary; set MOSQUITTO_BIN)' : ''}`,
  () => {
    let dir: string;
    let mosquitto: ChildProcess | undefined;
    let mosquittoExited: Promise<void> | undefined;
    let server: RunningServer | undefined;
    let api: ControlPlaneHttp;
    let fleet: Fleet | undefined;
    let runtime: SharedRuntime | undefined;
    let ports: { device: number; controlPlane: number };
    const controlPlane = {
      username: 'edgefleet-control-plane',
      password: randomBytes(24).toString('base64url'),
    };
    const deviceUrl = () => `mqtt://127.0.0.1:${ports.device}`;

    const writeConfig = (devices: Parameters<typeof writeMosquittoConfig>[0]['devices']) =>
      writeMosquittoConfig({
        outDir: join(dir, 'mosquitto'),
        devices,
        controlPlane,
        deviceListener: { port: ports.device, host: '127.0.0.1' },
        controlPlaneListener: { port: ports.controlPlane },
        // As root, Mosquitto would drop to the `mosquitto` user, which cannot read 0600 files.
        ...(process.getuid?.() === 0 ? { user: 'root' } : {}),
      });

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ef-mosquitto-'));
      // 1. Mosquitto with no devices yet. Free ports can be taken before Mosquitto binds: retry.
      for (let attempt = 1; ; attempt++) {
        ports = { device: await freePort(), controlPlane: await freePort() };
        const files = await writeConfig([]);
        const child = spawn(MOSQUITTO!, ['-c', files.config], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        try {
          await mosquittoReady(child);
        } catch (err) {
          child.kill('SIGKILL');
          if (attempt < 3 && String(err).includes('Address already in use')) continue;
          throw err;
        }
        mosquitto = child;
        mosquittoExited = new Promise((resolve) =>
          child.once('exit', () => {
            resolve();
          }),
        );
        // Keep draining its log so the pipe never fills.
        child.stderr.resume();
        break;
      }

      // 2. The server, a client of the control-plane listener; devices get the device listener.
      server = await startServer(
        loadServerConfig(
          {
            dataDir: join(dir, 'cp'),
            httpPort: 0,
            mqttUrl: `mqtt://127.0.0.1:${ports.controlPlane}`,
            mqttUsername: controlPlane.username,
            mqttPassword: controlPlane.password,
            deviceMqttUrl: deviceUrl(),
            // Mosquitto 2.0 has shared subscriptions: ingest the way a cluster of replicas would.
            sharedSubscriptionGroup: 'edgefleet',
          },
          {},
        ),
        { logger: pino({ level: 'silent' }) },
      );
      api = new ControlPlaneHttp(server.httpUrl, server.adminToken!);
      await api.upload(
        '/v1/models/sensor/versions',
        { version: '1' },
        {
          model: {
            name: 'm.onnx',
            bytes: linearClassifier({
              features: 4,
              classes: 3,
              weights: DEMO_WEIGHTS,
              bias: DEMO_BIAS,
            }),
          },
          reference: { name: 'ref.csv', bytes: new SensorGenerator(1).csv(200) },
        },
      );

      // 3. Enroll over HTTP, then regenerate the password file from the database and reload.
      const enroll = await api.json<{ token: string }>('POST', '/v1/enrollment-tokens', {
        maxUses: 10,
      });
      runtime = new SharedRuntime(new OrtInProcessRuntime());
      fleet = await Fleet.enroll({
        apiUrl: server.httpUrl,
        enrollToken: enroll.token,
        devices: 4,
        stateDir: join(dir, 'devices'),
        runtime,
        telemetryIntervalSec: 3600,
      });
      await writeConfig(await listMosquittoDevices(server.services.db));
      mosquitto.kill('SIGHUP');
      await api.json('POST', '/v1/trust/rotate', { role: 'deploy' });
    }, 60_000);

    afterAll(async () => {
      await fleet?.stop();
      await runtime?.close();
      await server?.close();
      if (mosquitto && mosquitto.exitCode === null) {
        mosquitto.kill('SIGTERM');
        await mosquittoExited;
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    }, 30_000);

    it('hands enrolled devices the device listener, where the retained trust root waits', async () => {
      const device = fleet!.devices[0]!.config;
      expect(fleet!.devices.map((d) => d.config.mqttUrl)).toEqual(Array(4).fill(deviceUrl()));
      // Mosquitto re-reads the password file on SIGHUP: poll until the device's credentials work.
      let client: mqtt.MqttClient | undefined;
      await eventually('mosquitto to accept the enrolled device', 10_000, async () => {
        try {
          client = await mqtt.connectAsync(
            deviceUrl(),
            {
              clientId: device.deviceId,
              username: device.deviceId,
              password: device.deviceToken,
              protocolVersion: 4,
              reconnectPeriod: 0,
              connectTimeout: 2000,
            },
            false,
          );
          return true;
        } catch {
          return false;
        }
      });
      try {
        const retained = new Promise<{ payload: Buffer; retain: boolean }>((resolve) => {
          client!.on('message', (topic, payload, packet) => {
            if (topic === TRUST_ROOT_TOPIC) resolve({ payload, retain: packet.retain });
          });
        });
        await client!.subscribeAsync(TRUST_ROOT_TOPIC, { qos: 1 });
        const root = await retained;
        expect(root.retain).toBe(true);
        const message = JSON.parse(root.payload.toString()) as { type: string; roots: unknown[] };
        expect(message.type).toBe('trust_root');
        expect(message.roots).toHaveLength(1);
      } finally {
        await client!.endAsync();
      }
    });

    it('takes a rollout with real agents to completion through Mosquitto, signed with the rotated key', async () => {
      await fleet!.start();
      await eventually('every agent to take root version 2', 20_000, () =>
        Promise.resolve(fleet!.devices.every((d) => d.agent.status().trust.rootVersion === 2)),
      );
      const release = await api.json<{ releaseId: string }>('POST', '/v1/releases', {
        model: 'sensor',
        version: '1',
      });
      const rollout = await api.json<{ id: string }>('POST', '/v1/rollouts', {
        releaseId: release.releaseId,
        selector: '',
        waves: [
          { name: 'canary', size: { count: 1 }, soak: { minInferences: 2 } },
          { name: 'all', size: { percent: 100 }, soak: { minInferences: 2 } },
        ],
        rate: { maxPerMinute: 600 },
      });
      let last = { state: '', counts: {} as Record<string, number> };
      await eventually('the rollout to complete', 60_000, async () => {
        await fleet!.traffic({ batches: 2, rows: 4 });
        await server!.ingest.flush();
        last = await api.json('GET', `/v1/rollouts/${rollout.id}`);
        return last.state === 'completed';
      });
      expect(last.counts).toEqual({ succeeded: 4 });
      expect(fleet!.releaseCounts()).toEqual({ [release.releaseId]: 4 });
    }, 90_000);
  },
);
