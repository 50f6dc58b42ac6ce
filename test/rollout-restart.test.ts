/**
 * Restart safety of the rollout scheduler: `edgefleet server` runs as a child process, is SIGKILLed in
 * the middle of a multi-wave rollout and restarted on the same data dir and ports (so the agents
 * reconnect to the same address). The rollout carries on from the database and completes; no device
 * was ever assigned twice.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrtInProcessRuntime } from '@edgefleet/agent';
import {
  ControlPlaneHttp,
  Fleet,
  SensorGenerator,
  SharedRuntime,
  startServerProcess,
  type ServerProcess,
} from '@edgefleet/fleet-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_V1, type RolloutView } from './rollout-harness.test-support.js';

const DEVICES = 8;
let dir: string;
let ports: string[];
let server: ServerProcess;
let runtime: SharedRuntime;
let fleet: Fleet;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => {
        resolve(port);
      });
    });
  });
}

function start(): Promise<ServerProcess> {
  return startServerProcess({
    dataDir: join(dir, 'cp'),
    extraArgs: ['--http-port', ports[0]!, '--mqtt-port', ports[1]!],
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ef-restart-'));
  ports = [String(await freePort()), String(await freePort())];
  server = await start();
  const api = new ControlPlaneHttp(server.httpUrl, server.adminToken);
  await api.upload(
    '/v1/models/sensor/versions',
    { version: '1' },
    {
      model: { name: 'm.onnx', bytes: MODEL_V1 },
      reference: { name: 'ref.csv', bytes: new SensorGenerator(1).csv(500) },
    },
  );
  const enroll = await api.json<{ token: string }>('POST', '/v1/enrollment-tokens', {
    maxUses: 50,
  });
  runtime = new SharedRuntime(new OrtInProcessRuntime());
  fleet = await Fleet.enroll({
    apiUrl: server.httpUrl,
    enrollToken: enroll.token,
    devices: DEVICES,
    stateDir: join(dir, 'devices'),
    runtime,
    telemetryIntervalSec: 3600,
    soakDefaults: { minInferences: 2, durationSec: 0 },
  });
  await fleet.start();
}, 120_000);

afterAll(async () => {
  await fleet.stop();
  await runtime.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('restart safety', () => {
  it('a rollout survives a SIGKILL of the server mid-rollout and completes with every device assigned once', async () => {
    let api = new ControlPlaneHttp(server.httpUrl, server.adminToken);
    const release = await api.json<{ releaseId: string }>('POST', '/v1/releases', {
      model: 'sensor',
      version: '1',
    });
    const rollout = await api.json<{ id: string }>('POST', '/v1/rollouts', {
      releaseId: release.releaseId,
      waves: [
        { name: 'canary', size: { count: 2 }, soak: { minInferences: 2 } },
        { name: 'half', size: { percent: 50 }, soak: { minInferences: 2 } },
        { name: 'all', size: { percent: 100 }, soak: { minInferences: 2 } },
      ],
      rate: { maxPerMinute: 600 },
      maxConcurrent: 2,
    });

    /** Every directive counter each device has accepted, in order. */
    const counters = new Map<string, number[]>(fleet.devices.map((d) => [d.deviceId, []]));
    const sample = () => {
      for (const d of fleet.devices) {
        const c = d.agent.status().trust.directiveCounter;
        const seen = counters.get(d.deviceId)!;
        if (c !== 0 && seen.at(-1) !== c) seen.push(c);
      }
    };
    /** Serve traffic (the soak) and poll the rollout until `done`, at most `ms`. */
    const driveUntil = async (done: (r: RolloutView) => boolean, ms: number) => {
      const deadline = Date.now() + ms;
      let last: RolloutView | undefined;
      while (Date.now() < deadline) {
        await fleet.traffic({ batches: 2, rows: 4 });
        sample();
        try {
          last = await api.json<RolloutView>('GET', `/v1/rollouts/${rollout.id}`);
          if (done(last)) return last;
        } catch {
          // The server is still coming back.
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out; last: ${JSON.stringify(last).slice(0, 3000)}`);
    };

    // Mid-rollout: the canary passed and the second wave is under way.
    const before = await driveUntil(
      (r) => r.waves[0]!.state === 'passed' && r.waves[1]!.state !== 'pending',
      60_000,
    );
    expect(before.state).toBe('running');
    expect(before.waves[2]!.state).toBe('pending');

    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGKILL');
    await exited;

    server = await start();
    api = new ControlPlaneHttp(server.httpUrl, server.adminToken);
    const done = await driveUntil(
      (r) => ['completed', 'aborted', 'paused'].includes(r.state),
      75_000,
    );
    expect(done.state).toBe('completed');
    expect(done.waves.map((w) => w.state)).toEqual(['passed', 'passed', 'passed']);
    // One deployment row per device: the counts add up to the fleet exactly.
    expect(done.counts).toEqual({ succeeded: DEVICES });
    expect(done.waves.map((w) => w.members)).toEqual([2, 2, 4]);
    expect(fleet.releaseCounts()).toEqual({ [release.releaseId]: DEVICES });
    sample();
    for (const [deviceId, seen] of counters) {
      // Exactly one directive per device for this rollout (a second assignment takes a new counter).
      expect(seen, deviceId).toEqual([1]);
    }
  }, 180_000);
});
