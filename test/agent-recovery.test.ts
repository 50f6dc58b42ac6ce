/**
 * What an agent does when it starts again in the middle of a deployment. The agent is stopped at
 * the chosen point and a new one started on the same state directory: everything it acts on was
 * written before the step it records (journal, trust state, slots), so this is what it finds after
 * a crash at that point. (Killing a child process mid-step is the CLI's test, later.)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifierFiles, classifierInput, useHarness } from './agent-harness.test-support.js';

const harness = useHarness();

describe('agent recovery after a restart', () => {
  it('re-soaks a release that was soaking, with the previous one loaded; a second restart rolls it back', async () => {
    const d = await harness().device({ deviceId: 'resoak-1' });
    await harness().installBaseline(d);
    const release = harness().release({
      releaseId: 'rel-soaking',
      counter: 2,
      files: classifierFiles([1, 2, 3]),
    });
    await harness().deploy(release, {
      deviceId: d.deviceId,
      counter: 2,
      soak: { minInferences: 1000, durationSec: 3600, maxErrorRate: 0 },
    });
    await d.waitForDeployment(
      (e) => e.releaseId === 'rel-soaking' && e.state === 'soaking',
      'soaking',
    );
    await d.agent.infer(classifierInput());

    await harness().restart(d);
    // Policy: the new release stays active and its soak starts over.
    expect(d.agent.status()).toMatchObject({
      activeRelease: { releaseId: 'rel-soaking' },
      previousRelease: 'rel-base-1',
      deployment: { releaseId: 'rel-soaking', state: 'soaking' },
    });
    expect(d.agent.status().soak).toEqual({ releaseId: 'rel-soaking', inferences: 0, errors: 0 });
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-soaking');

    await harness().restart(d);
    // Restarted again before the soak finished: the release may be what keeps killing the agent.
    const rolledBack = await d.waitForDeployment((e) => e.state === 'rolled_back', 'rolled back');
    expect(rolledBack).toMatchObject({ releaseId: 'rel-soaking', reason: 'soak_failed' });
    expect(d.agent.status()).toMatchObject({
      activeRelease: { releaseId: 'rel-base-1' },
      deployment: { releaseId: 'rel-soaking', state: 'rolled_back' },
    });
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-base-1');
    await harness().cp.waitFor(
      (r) => r.deviceId === d.deviceId && r.kind === 'status' && r.body.state === 'rolled_back',
      'rolled_back on status',
    );
    expect(harness().cp.statusStates(d.deviceId, 'rel-soaking')).toEqual([
      'assigned',
      'downloading',
      'verifying',
      'staged',
      'activating',
      'soaking',
      'rolled_back(soak_failed)',
    ]);
  });

  it('resumes a deployment interrupted while downloading, reporting each state once', async () => {
    const d = await harness().device({ deviceId: 'redownload-1' });
    const release = harness().release({
      releaseId: 'rel-dl',
      counter: 1,
      files: classifierFiles([3, 2, 1]),
    });
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const blocked = release.shas['model.onnx']!;
    harness().artifacts.onRequest = (sha) => (sha === blocked ? gate : undefined);
    try {
      await harness().deploy(release, { deviceId: d.deviceId, counter: 1 });
      await d.waitForDeployment((e) => e.state === 'downloading', 'downloading');
      const stopped = harness().restart(d);
      open(); // the stop cancels the request in flight; the new agent fetches again
      await stopped;
    } finally {
      harness().artifacts.onRequest = undefined;
    }
    await d.waitForDeployment((e) => e.state === 'succeeded', 'succeeded');
    expect(d.events.map((e) => e.state)).toEqual([
      'assigned',
      'downloading',
      'verifying',
      'staged',
      'activating',
      'soaking',
      'succeeded',
    ]);
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-dl');
  });

  it('continues a download cut by a restart with a Range request, not from byte 0', async () => {
    const d = await harness().device({ deviceId: 'resume-1' });
    const release = harness().release({
      releaseId: 'rel-resume',
      counter: 1,
      files: classifierFiles([1, 3, 2]),
    });
    const model = release.shas['model.onnx']!;
    const length = release.doc.files['model.onnx']!.length;
    const half = Math.floor(length / 2);
    // The first response ends after half the file; the retry is held until the agent restarts.
    harness().artifacts.fault(model, { endAfter: half });
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let retried: () => void = () => undefined;
    const retry = new Promise<void>((resolve) => {
      retried = resolve;
    });
    let seen = 0;
    harness().artifacts.onRequest = (sha) => {
      if (sha !== model || ++seen !== 2) return undefined;
      retried(); // the first half is on disk: the downloader asks for the rest
      return gate;
    };
    try {
      await harness().deploy(release, { deviceId: d.deviceId, counter: 1 });
      await retry;
      const stopped = harness().restart(d);
      open(); // the stop cancels the held request; the new agent fetches the rest
      await stopped;
    } finally {
      harness().artifacts.onRequest = undefined;
    }
    await d.waitForDeployment((e) => e.state === 'succeeded', 'succeeded');
    const ranges = harness()
      .artifacts.requests.filter((r) => r.sha256 === model)
      .map((r) => r.range);
    expect(ranges[0]).toBeUndefined();
    expect(ranges.slice(1)).toEqual(ranges.slice(1).map(() => `bytes=${half}-`));
    expect(ranges.length).toBeGreaterThanOrEqual(3);
    // The new agent fetched only the rest of the file.
    const last = harness()
      .artifacts.requests.filter((r) => r.sha256 === model)
      .at(-1)!;
    expect(last.bytesSent).toBe(length - half);
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-resume');
  });

  it('persists the counter of a journaled directive the trust state missed, before anything else', async () => {
    const d = await harness().device({ deviceId: 'counter-1' });
    await harness().installBaseline(d);
    const release = harness().release({
      releaseId: 'rel-late',
      counter: 3,
      files: classifierFiles([2, 2, 0]),
    });
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const blocked = release.shas['model.onnx']!;
    harness().artifacts.onRequest = (sha) => (sha === blocked ? gate : undefined);
    const trustPath = join(d.stateDir, 'trust-state.json');
    try {
      await harness().deploy(release, { deviceId: d.deviceId, counter: 7 });
      await d.waitForDeployment((e) => e.releaseId === 'rel-late', 'assigned');
      await d.agent.stop();
      open();
      // A crash between the journal write and the trust state write: the counter is not on disk.
      const trust = JSON.parse(await readFile(trustPath, 'utf8')) as { directiveCounter: number };
      expect(trust.directiveCounter).toBe(7);
      await writeFile(trustPath, JSON.stringify({ ...trust, directiveCounter: 1 }));
      await harness().restart(d);
    } finally {
      harness().artifacts.onRequest = undefined;
    }
    const onDisk = JSON.parse(await readFile(trustPath, 'utf8')) as { directiveCounter: number };
    expect(onDisk.directiveCounter).toBe(7);
    await d.waitForDeployment(
      (e) => e.releaseId === 'rel-late' && e.state === 'succeeded',
      'rel-late succeeded',
    );
    // A directive between the persisted counter and the journaled one is a replay now.
    const replay = harness().release({
      releaseId: 'rel-replay',
      counter: 4,
      files: classifierFiles([0, 2, 2]),
    });
    await harness().deploy(replay, { deviceId: d.deviceId, counter: 5 });
    const refused = await d.waitForDeployment((e) => e.releaseId === 'rel-replay', 'replay');
    expect(refused).toMatchObject({ state: 'failed', reason: 'rollback_refused' });
  });
});
