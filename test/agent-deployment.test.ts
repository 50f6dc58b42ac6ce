/**
 * The agent's deployment path end to end on one machine: the control plane's embedded broker, signed
 * documents, a local artifact server, real onnxruntime (in-process) and a manual clock.
 */
import { failingModel } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import {
  classifierFiles,
  classifierInput,
  dropStrayFile,
  useHarness,
  inactiveFilesDir,
} from './agent-harness.test-support.js';

const harness = useHarness();

const PIPELINE = [
  'assigned',
  'downloading',
  'verifying',
  'staged',
  'activating',
  'soaking',
  'succeeded',
];

describe('agent deployment', () => {
  it('goes through every state to succeeded after a soak of served inferences and a soak time', async () => {
    const d = await harness().device({ deviceId: 'happy-1' });
    await expect(d.agent.infer(classifierInput())).rejects.toMatchObject({ code: 'EF_NO_MODEL' });
    const release = harness().release({ releaseId: 'rel-1', counter: 1, files: classifierFiles() });
    await harness().deploy(release, {
      deviceId: d.deviceId,
      counter: 1,
      soak: { minInferences: 3, durationSec: 30, maxErrorRate: 0 },
    });
    await d.waitForDeployment((e) => e.state === 'soaking', 'soaking');
    for (let i = 0; i < 3; i++) {
      const result = await d.agent.infer(classifierInput(2));
      expect(result.releaseId).toBe('rel-1');
      expect(result.outputs.logits?.dims).toEqual([2, 3]);
    }
    expect(d.agent.status().deployment?.state).toBe('soaking'); // count reached, time not yet
    d.clock.advance(30_000);
    await d.waitForDeployment((e) => e.state === 'succeeded', 'succeeded');
    await harness().cp.waitFor(
      (r) => r.deviceId === d.deviceId && r.kind === 'status' && r.body.state === 'succeeded',
      'succeeded on status',
    );
    expect(harness().cp.statusStates(d.deviceId, 'rel-1', 1)).toEqual(PIPELINE);
    const soakReport = harness().cp.reports(d.deviceId, 'status').at(-1);
    expect(soakReport).toMatchObject({ soak: { inferences: 3, errors: 0, elapsedSec: 30 } });

    const state = await harness().cp.waitFor(
      (r) =>
        r.deviceId === d.deviceId &&
        r.kind === 'state' &&
        (r.body.deployment as { state?: string } | null)?.state === 'succeeded',
      'state after success',
    );
    expect(state.body).toMatchObject({
      release: { releaseId: 'rel-1', model: 'classifier', releaseCounter: 1 },
      previousRelease: null,
      slot: 'a',
      runtime: { executionProvider: 'cpu' },
      labels: { site: 'test' },
      rootVersion: 1,
      directiveCounter: 1,
    });
    expect(d.agent.status()).toMatchObject({
      activeRelease: { releaseId: 'rel-1', releaseCounter: 1 },
      deployment: { releaseId: 'rel-1', state: 'succeeded' },
      trust: { directiveCounter: 1 },
    });

    // A second release goes to the other slot; the first is kept as the one to go back to.
    const next = harness().release({
      releaseId: 'rel-2',
      counter: 2,
      files: classifierFiles([1, 1, 1]),
    });
    await harness().deploy(next, { deviceId: d.deviceId, counter: 2 });
    await d.waitForDeployment((e) => e.releaseId === 'rel-2' && e.state === 'succeeded', 'rel-2');
    expect(d.agent.status()).toMatchObject({
      activeRelease: { releaseId: 'rel-2' },
      previousRelease: 'rel-1',
    });
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-2');
  });

  it('counts inferences served by the local API toward the soak, like Agent.infer', async () => {
    const d = await harness().device({
      deviceId: 'local-api-1',
      config: { localApi: { host: '127.0.0.1', port: 0 } },
    });
    const address = d.agent.localApiAddress;
    if (address === undefined || !('url' in address)) throw new Error('no local API address');
    const release = harness().release({
      releaseId: 'rel-api',
      counter: 1,
      files: classifierFiles([0, 0, 0.5]),
    });
    await harness().deploy(release, {
      deviceId: d.deviceId,
      counter: 1,
      soak: { minInferences: 2, durationSec: 0, maxErrorRate: 0 },
    });
    await d.waitForDeployment((e) => e.state === 'soaking', 'soaking');
    const body = JSON.stringify({
      inputs: { input: { type: 'float32', dims: [1, 4], data: [1, 2, 3, 4] } },
    });
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${address.url}/v1/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { releaseId: string }).releaseId).toBe('rel-api');
    }
    await d.waitForDeployment((e) => e.state === 'succeeded', 'succeeded');
    expect(d.agent.status().inference).toEqual({ requests: 2, errors: 0 });
    const metrics = await (await fetch(`${address.url}/metrics`)).text();
    expect(metrics).toContain('edgefleet_agent_inferences_total 2');
    expect(metrics).toContain('edgefleet_agent_mqtt_connected 1');
    expect(metrics).toContain('edgefleet_agent_deployment_reports_total{state="succeeded"} 1');
  });

  it('resumes an interrupted download with Range, fetching each byte once', async () => {
    const d = await harness().device({ deviceId: 'resume-1' });
    const release = harness().release({
      releaseId: 'rel-resume',
      counter: 1,
      files: classifierFiles([0.125, 0.25, 0.375]), // artifacts no other test fetches
    });
    const modelSha = release.shas['model.onnx']!;
    const length = release.doc.files['model.onnx']!.length;
    harness().artifacts.fault(modelSha, { endAfter: Math.floor(length / 3) });
    await harness().deploy(release, { deviceId: d.deviceId, counter: 1 });
    await d.waitForDeployment((e) => e.state === 'succeeded', 'succeeded');
    const fetches = harness().artifacts.requests.filter((r) => r.sha256 === modelSha);
    expect(fetches.map((r) => [r.status, r.range])).toEqual([
      [200, undefined],
      [206, `bytes=${Math.floor(length / 3)}-`],
    ]);
    expect(harness().artifacts.bytesSent(modelSha)).toBe(length);
    expect(d.events.map((e) => e.state)).toEqual(PIPELINE);
  });

  it.each([
    ['hash_mismatch', { replaceWith: new Uint8Array(0) }],
    ['length_mismatch', { extra: new Uint8Array(4096) }],
  ] as const)(
    'refuses a model file with %s before activation; the old model keeps serving',
    async (reason, fault) => {
      const d = await harness().device({ deviceId: `bad-file-${reason}` });
      await harness().installBaseline(d);
      const files = classifierFiles([2, 2, 2]);
      const release = harness().release({ releaseId: `rel-${reason}`, counter: 2, files });
      const sha = release.shas['model.onnx']!;
      harness().artifacts.fault(
        sha,
        'replaceWith' in fault
          ? { replaceWith: files['model.onnx']!.map((b, i) => (i === 100 ? b ^ 0xff : b)) }
          : fault,
      );
      await harness().deploy(release, { deviceId: d.deviceId, counter: 2 });
      const failed = await d.waitForDeployment((e) => e.state === 'failed', 'failed');
      expect(failed).toMatchObject({ releaseId: release.doc.releaseId, reason });
      await harness().cp.waitFor(
        (r) => r.deviceId === d.deviceId && r.kind === 'status' && r.body.state === 'failed',
        'failed on status',
      );
      expect(harness().cp.statusStates(d.deviceId, release.doc.releaseId)).toEqual([
        'assigned',
        'downloading',
        `failed(${reason})`,
      ]);
      expect(d.agent.status().activeRelease?.releaseId).toBe('rel-base-1');
      expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-base-1');
    },
  );

  it('refuses a slot holding a file the release does not list (extraneous_file)', async () => {
    const d = await harness().device({ deviceId: 'extraneous-1' });
    await harness().installBaseline(d);
    const release = harness().release({
      releaseId: 'rel-extra',
      counter: 2,
      files: classifierFiles([3, 0, 0]),
    });
    const sha = release.shas['model.onnx']!;
    harness().artifacts.onRequest = async (requested) => {
      if (requested === sha) await dropStrayFile(await inactiveFilesDir(d.stateDir));
    };
    try {
      await harness().deploy(release, { deviceId: d.deviceId, counter: 2 });
      const failed = await d.waitForDeployment((e) => e.state === 'failed', 'failed');
      expect(failed.reason).toBe('extraneous_file');
    } finally {
      harness().artifacts.onRequest = undefined;
    }
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-base-1');
  });

  it('fails the health check of a model that errors on its sample, before activation', async () => {
    const d = await harness().device({ deviceId: 'health-1' });
    await harness().installBaseline(d);
    const sample = {
      v: 1,
      inputs: { input: { type: 'float32', dims: [1, 4], data: [1, 2, 3, 4] } },
      expected: { output: { type: 'float32', dims: [1, 4], data: [1, 2, 3, 4] } },
    };
    const release = harness().release({
      releaseId: 'rel-failing',
      counter: 2,
      files: {
        'model.onnx': failingModel(),
        'sample.json': new TextEncoder().encode(JSON.stringify(sample)),
      },
      featureSpec: { inputs: [], outputs: [] },
    });
    await harness().deploy(release, { deviceId: d.deviceId, counter: 2 });
    const failed = await d.waitForDeployment((e) => e.state === 'failed', 'failed');
    expect(failed.reason).toBe('health_check_failed');
    await harness().cp.waitFor(
      (r) => r.deviceId === d.deviceId && r.kind === 'status' && r.body.state === 'failed',
      'failed on status',
    );
    expect(harness().cp.statusStates(d.deviceId, 'rel-failing')).toEqual([
      'assigned',
      'downloading',
      'verifying',
      'failed(health_check_failed)',
    ]);
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-base-1');
  });

  it('fails with load_failed when the runtime cannot load the model; the old model keeps serving', async () => {
    const d = await harness().device({ deviceId: 'load-1' });
    await harness().installBaseline(d);
    const release = harness().release({
      releaseId: 'rel-garbage',
      counter: 2,
      files: { 'model.onnx': new TextEncoder().encode('this is not an ONNX model') },
      featureSpec: { inputs: [], outputs: [] },
    });
    await harness().deploy(release, { deviceId: d.deviceId, counter: 2 });
    const failed = await d.waitForDeployment((e) => e.state === 'failed', 'failed');
    expect(failed).toMatchObject({ releaseId: 'rel-garbage', reason: 'load_failed' });
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-base-1');
  });

  it('rolls back a model that fails served traffic while soaking; the previous model serves again', async () => {
    const d = await harness().device({ deviceId: 'soak-1' });
    await harness().installBaseline(d);
    // No health check: the broken model is only found out by the traffic it serves.
    const release = harness().release({
      releaseId: 'rel-soak-bad',
      counter: 2,
      files: { 'model.onnx': failingModel() },
      featureSpec: { inputs: [], outputs: [] },
    });
    await harness().deploy(release, {
      deviceId: d.deviceId,
      counter: 2,
      soak: { minInferences: 2, durationSec: 60, maxErrorRate: 0.1 },
    });
    await d.waitForDeployment(
      (e) => e.releaseId === 'rel-soak-bad' && e.state === 'soaking',
      'soaking',
    );
    const badInput = {
      input: { type: 'float32' as const, dims: [1, 4], data: new Float32Array(4) },
    };
    await expect(d.agent.infer(badInput)).rejects.toMatchObject({ code: 'EF_INTERNAL' });
    await expect(d.agent.infer(badInput)).rejects.toMatchObject({ code: 'EF_INTERNAL' });
    const rolledBack = await d.waitForDeployment((e) => e.state === 'rolled_back', 'rolled back');
    expect(rolledBack.reason).toBe('soak_failed');
    await harness().cp.waitFor(
      (r) => r.deviceId === d.deviceId && r.kind === 'status' && r.body.state === 'rolled_back',
      'rolled_back on status',
    );
    expect(harness().cp.statusStates(d.deviceId, 'rel-soak-bad')).toEqual([
      ...PIPELINE.slice(0, 6),
      'rolled_back(soak_failed)',
    ]);
    expect(d.agent.status()).toMatchObject({
      activeRelease: { releaseId: 'rel-base-1' },
      previousRelease: null,
    });
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-base-1');
  });

  it('fails with disk_full when the release does not fit; the old model keeps serving', async () => {
    const d = await harness().device({ deviceId: 'disk-1' });
    await harness().installBaseline(d);
    d.space.available = 100;
    const release = harness().release({
      releaseId: 'rel-big',
      counter: 2,
      files: classifierFiles([0, 0, 1]),
    });
    const before = harness().artifacts.requests.length;
    await harness().deploy(release, { deviceId: d.deviceId, counter: 2 });
    const failed = await d.waitForDeployment((e) => e.state === 'failed', 'failed');
    expect(failed.reason).toBe('disk_full');
    expect(harness().artifacts.requests.length).toBe(before);
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-base-1');
  });

  it('supersedes a queued directive with a newer one while an install is in flight', async () => {
    const d = await harness().device({ deviceId: 'supersede-1' });
    const first = harness().release({
      releaseId: 'rel-first',
      counter: 1,
      files: classifierFiles([0, 1, 0]),
    });
    const second = harness().release({
      releaseId: 'rel-second',
      counter: 2,
      files: classifierFiles([1, 0, 0]),
    });
    const third = harness().release({
      releaseId: 'rel-third',
      counter: 3,
      files: classifierFiles([0, 0, 2]),
    });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const blocked = first.shas['model.onnx']!;
    harness().artifacts.onRequest = (sha) => (sha === blocked ? gate : undefined);
    try {
      await harness().deploy(first, { deviceId: d.deviceId, counter: 1 });
      await d.waitForDeployment((e) => e.state === 'downloading', 'downloading');
      await harness().deploy(second, { deviceId: d.deviceId, counter: 2 });
      await d.waitForDeployment((e) => e.releaseId === 'rel-second', 'second assigned');
      await harness().deploy(third, { deviceId: d.deviceId, counter: 3 });
      await d.waitForDeployment((e) => e.releaseId === 'rel-third', 'third assigned');
      release();
      await d.waitForDeployment(
        (e) => e.releaseId === 'rel-third' && e.state === 'succeeded',
        'third succeeded',
      );
    } finally {
      harness().artifacts.onRequest = undefined;
    }
    expect(
      d.events.map((e) => `${e.releaseId}:${e.state}${e.reason ? `(${e.reason})` : ''}`),
    ).toEqual([
      'rel-first:assigned',
      'rel-first:downloading',
      'rel-second:assigned',
      'rel-second:failed(superseded)',
      'rel-third:assigned',
      'rel-first:verifying',
      'rel-first:staged',
      'rel-first:activating',
      'rel-first:soaking',
      'rel-first:succeeded',
      ...PIPELINE.slice(1).map((s) => `rel-third:${s}`),
    ]);
    expect(d.agent.status().activeRelease?.releaseId).toBe('rel-third');
  });
});
