/**
 * End to end on one machine, as a fleet would run it: a device enrolled with `edgefleet-agent
 * enroll` against `edgefleet server` (in-process, free ports), `edgefleet-agent run` as a child
 * process, and an operator who pushes a model, signs a release and rolls it out (one 100 % wave,
 * a soak of 5 served inferences). The agent installs the signed release, serves it on its local API,
 * reports telemetry, and comes back serving the same verified model after a SIGKILL.
 *
 * The same flow runs with a model built in code (always) and with ../shared/models/mnist-cnn.onnx
 * (skipped, visibly, when that directory is absent).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createRandom, linearClassifier, nextFloat } from '@edgefleet/protocol';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telemetryDeviceWindows } from '../control-plane/src/db/schema.js';
import {
  agentCli,
  AgentProcess,
  ControlPlane,
  enrollWithCli,
  inferJson,
  tempDir,
} from './agent-cli.test-support.js';
import { SHARED_MODELS, SHARED_MODELS_AVAILABLE, SHARED_MODELS_SKIP } from './support/paths.js';

let dir: string;
let cp: ControlPlane;

beforeAll(async () => {
  dir = await tempDir('ef-agent-e2e-');
  cp = await ControlPlane.start(join(dir, 'cp'));
}, 60_000);

afterAll(async () => {
  await AgentProcess.killAll();
  await cp.close();
  await rm(dir, { recursive: true, force: true });
});

const PIPELINE = [
  'assigned',
  'downloading',
  'verifying',
  'staged',
  'activating',
  'soaking',
  'succeeded',
];
const SOAK_INFERENCES = 5;

interface Scenario {
  readonly name: string;
  readonly version: string;
  readonly model: Uint8Array;
  readonly referenceCsv?: string;
  readonly inputName: string;
  readonly inputDims: number[];
  readonly outputName: string;
  readonly outputDims: number[];
}

function seededData(count: number, seed: number): number[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, () => Math.fround(nextFloat(random)));
}

async function endToEnd(s: Scenario): Promise<void> {
  const deviceId = `e2e-${s.name}`;
  const device = await enrollWithCli(cp, dir, { deviceId, labels: { e2e: s.name } });
  let agent = AgentProcess.start(device.configPath);
  try {
    const url = await agent.localApiUrl();
    await cp.until(async () => ((await cp.device(deviceId)).online ? true : undefined), 'online');

    // The operator: push, sign, roll out.
    await cp.pushModel(s.name, s.version, s.model, s.referenceCsv);
    const releaseId = await cp.release(s.name, s.version);
    const rolloutId = await cp.rollout(releaseId, `e2e=${s.name}`, SOAK_INFERENCES);

    // Installed and switched: now it must serve healthy inferences before it may report success.
    await agent.waitForLog(
      (l) => l.msg === 'deployment status' && l.releaseId === releaseId && l.state === 'soaking',
      `${releaseId} soaking`,
    );
    const count = s.inputDims.reduce((a, b) => a * b, 1);
    const input = { type: 'float32', dims: s.inputDims, data: seededData(count, 7) };
    for (let i = 0; i < SOAK_INFERENCES; i++) {
      const r = await inferJson(url, { [s.inputName]: input });
      expect(r.status).toBe(200);
      expect(r.body.releaseId).toBe(releaseId);
      expect(r.body.outputs?.[s.outputName]?.dims).toEqual(s.outputDims);
    }
    await cp.waitForStatus(
      (e) => e.deviceId === deviceId && e.releaseId === releaseId && e.state === 'succeeded',
      `${releaseId} succeeded on the control plane`,
    );
    expect(agent.deploymentStates(releaseId)).toEqual(PIPELINE);

    const rollout = await cp.until(async () => {
      await cp.server.engine.tick();
      const r = await cp.api<{ state: string; counts: Record<string, number> }>(
        'GET',
        `/v1/rollouts/${rolloutId}`,
      );
      return r.state === 'completed' ? r : undefined;
    }, 'rollout completed');
    expect(rollout.state).toBe('completed');

    const listed = await cp.until(async () => {
      const d = await cp.device(deviceId);
      return d.online && d.currentReleaseId === releaseId ? d : undefined;
    }, 'online with the release');
    expect(listed).toMatchObject({ online: true, currentReleaseId: releaseId });

    // Telemetry: the windows holding the soak's inferences reached the control plane's tables.
    const db = cp.server.services.db;
    const rows = await cp.until(async () => {
      const found = await db
        .select()
        .from(telemetryDeviceWindows)
        .where(
          and(
            eq(telemetryDeviceWindows.deviceId, deviceId),
            eq(telemetryDeviceWindows.releaseId, releaseId),
          ),
        );
      const inferences = found.reduce((sum, r) => sum + r.inferences, 0);
      return inferences >= SOAK_INFERENCES ? found : undefined;
    }, 'telemetry of the soak inferences');
    expect(rows.reduce((sum, r) => sum + r.errors, 0)).toBe(0);
    expect(rows.some((r) => r.profile !== null && r.latency !== null)).toBe(true);
    expect(rows[0]!.executionProvider).toBe('cpu');

    const status = await agentCli(['status', '--config', device.configPath, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      activeRelease: releaseId,
      activeSlot: 'a',
      previousRelease: null,
      deployment: { releaseId, state: 'succeeded' },
      trust: { rootVersion: 1, installed: { [s.name]: 1 } },
      localApi: { answering: true, model: { releaseId, executionProvider: 'cpu' } },
    });

    // The kill test: SIGKILL while serving, then start again on the same state directory.
    const killed = await agent.kill('SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    await cp.until(async () => ((await cp.device(deviceId)).online ? undefined : true), 'offline');
    const slotState = JSON.parse(
      await readFile(join(device.stateDir, 'models', 'state.json'), 'utf8'),
    ) as { activeRelease: string };
    expect(slotState.activeRelease).toBe(releaseId);

    agent = AgentProcess.start(device.configPath);
    const running = await agent.running();
    expect(running.activeRelease).toBe(releaseId);
    const again = await inferJson(await agent.localApiUrl(), { [s.inputName]: input });
    expect(again.status).toBe(200);
    expect(again.body.releaseId).toBe(releaseId);
    expect(again.body.outputs?.[s.outputName]?.dims).toEqual(s.outputDims);
    // Served from the verified slot on disk: nothing was downloaded or installed again.
    expect(agent.deploymentStates(releaseId)).toEqual([]);
    await cp.until(async () => {
      const d = await cp.device(deviceId);
      return d.online && d.currentReleaseId === releaseId ? d : undefined;
    }, 'online again with the release');
  } finally {
    const exit = await agent.kill('SIGTERM');
    expect(exit.code === 0 || exit.signal === 'SIGKILL').toBe(true);
  }
}

describe('edgefleet-agent end to end', () => {
  it('installs, serves and reports a release of a model built in code, and survives a SIGKILL', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => [i % 7, (i * 3) % 5, i / 10, 1 - i / 40]);
    await endToEnd({
      name: 'sensor',
      version: '1.0.0',
      model: linearClassifier({ features: 4, classes: 3, bias: [0.1, -0.2, 0.3] }),
      referenceCsv: ['a,b,c,d', ...rows.map((r) => r.join(','))].join('\n'),
      inputName: 'input',
      inputDims: [1, 4],
      outputName: 'logits',
      outputDims: [1, 3],
    });
  });

  describe.skipIf(!SHARED_MODELS_AVAILABLE)(
    SHARED_MODELS_AVAILABLE ? 'with ../shared/models' : SHARED_MODELS_SKIP,
    () => {
      it('installs, serves and reports a release of mnist-cnn.onnx, and survives a SIGKILL', async () => {
        const model = new Uint8Array(await readFile(join(SHARED_MODELS, 'mnist-cnn.onnx')));
        await endToEnd({
          name: 'mnist',
          version: '1.0.0',
          model,
          inputName: 'input',
          inputDims: [1, 1, 28, 28],
          outputName: 'output',
          outputDims: [1, 10],
        });
      });
    },
  );
});
