/**
 * The agent's `durableState` tuning (fsync of the state directory's writes, default on) and what the
 * agent reports when a state write or a download fails underneath a deployment: the failure is
 * reported on `status` with the system error in its detail, never left hanging in the last state.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countSyncs } from '../agent/src/store/sync-counter.test-support.js';
import { classifierFiles, useHarness, type TestDevice } from './agent-harness.test-support.js';

const harness = useHarness();

/** Replace a state file by a non-empty directory: renaming a file over it fails (EISDIR). */
async function breakStateFile(d: TestDevice, name: string): Promise<void> {
  const path = join(d.stateDir, name);
  await rm(path, { force: true });
  await mkdir(join(path, 'blocker'), { recursive: true });
}

const trail = (d: TestDevice) =>
  d.events.map((e) => `${e.releaseId}:${e.state}${e.reason ? `(${e.reason})` : ''}`);

describe('durableState', () => {
  it('is on by default: starting and a deployment fsync the state directory', async () => {
    const syncs = await countSyncs();
    try {
      const d = await harness().device({ deviceId: 'durable-default' });
      await harness().installBaseline(d);
      expect(syncs.count).toBeGreaterThan(10);
    } finally {
      syncs.restore();
    }
  });

  it('off (with durableSpool off): starting and a whole deployment fsync nothing', async () => {
    const syncs = await countSyncs();
    try {
      const d = await harness().device({
        deviceId: 'durable-off',
        tuning: { durableState: false, durableSpool: false },
      });
      await harness().installBaseline(d);
      await d.agent.flushTelemetry();
      expect(d.agent.status().activeRelease?.releaseId).toBe('rel-base-1');
      expect(syncs.count).toBe(0);
    } finally {
      syncs.restore();
    }
  });
});

describe('a state write that fails', () => {
  it('refuses a desired state it cannot journal, saying why', async () => {
    const d = await harness().device({ deviceId: 'journal-broken' });
    await breakStateFile(d, 'deployment.json');
    const release = harness().release({
      releaseId: 'rel-nj',
      counter: 1,
      files: classifierFiles(),
    });
    await harness().deploy(release, { deviceId: d.deviceId, counter: 1 });
    const failed = await d.waitForDeployment((e) => e.state === 'failed', 'failed');
    expect(failed).toMatchObject({ releaseId: 'rel-nj', reason: 'internal' });
    expect(failed.detail).toMatch(/^cannot journal the deployment: E[A-Z]+: /);
    expect(trail(d)).toEqual(['rel-nj:failed(internal)']);
    await harness().cp.waitFor(
      (r) => r.deviceId === d.deviceId && r.kind === 'status' && r.body.state === 'failed',
      'failed on status',
    );
  });

  it('fails an assigned deployment whose trust state cannot be persisted, before any download', async () => {
    const d = await harness().device({ deviceId: 'trust-broken' });
    await breakStateFile(d, 'trust-state.json');
    const release = harness().release({
      releaseId: 'rel-nt',
      counter: 1,
      files: classifierFiles(),
    });
    await harness().deploy(release, { deviceId: d.deviceId, counter: 1 });
    const failed = await d.waitForDeployment((e) => e.state === 'failed', 'failed');
    expect(failed.reason).toBe('internal');
    expect(failed.detail).toMatch(/^cannot persist the trust state: E[A-Z]+: /);
    expect(trail(d)).toEqual(['rel-nt:assigned', 'rel-nt:failed(internal)']);
    expect(d.agent.status().activeRelease).toBeNull();
  });

  it.each([
    [
      'the download fails and its failure cannot be journaled',
      404,
      'failed(download_failed)',
      /HTTP 404; E[A-Z]+: .*deployment\.json/,
    ],
    [
      'the download succeeds and the next state cannot be journaled',
      0,
      'failed(internal)',
      /^E[A-Z]+: .*; the failure cannot be journaled either: E[A-Z]+: /,
    ],
  ])(
    'reports the end of a deployment when the journal breaks mid-way: %s',
    async (_, status, outcome, detail) => {
      const d = await harness().device({ deviceId: `journal-mid-${status}` });
      const release = harness().release({
        releaseId: `rel-mid-${status}`,
        counter: 1,
        files: classifierFiles(),
      });
      const sha = release.shas['model.onnx']!;
      if (status !== 0) harness().artifacts.fault(sha, { status: { code: status, times: 1 } });
      let open: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      harness().artifacts.onRequest = (s) => (s === sha ? gate : undefined);
      try {
        await harness().deploy(release, { deviceId: d.deviceId, counter: 1 });
        await d.waitForDeployment((e) => e.state === 'downloading', 'downloading');
        await breakStateFile(d, 'deployment.json');
        open();
        const end = await d.waitForDeployment((e) => e.state === 'failed', 'failed');
        expect(trail(d).at(-1)).toBe(`${release.doc.releaseId}:${outcome}`);
        expect(end.detail).toMatch(detail);
      } finally {
        harness().artifacts.onRequest = undefined;
      }
      await harness().cp.waitFor(
        (r) => r.deviceId === d.deviceId && r.kind === 'status' && r.body.state === 'failed',
        'failed on status',
      );
    },
  );
});

describe('a download that fails', () => {
  it('names the network error underneath in the detail', async () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const d = await harness().device({
      deviceId: 'download-reset',
      tuning: { downloadRetries: 1 },
      options: {
        fetch: () => Promise.reject(new TypeError('fetch failed', { cause: reset })),
      },
    });
    const release = harness().release({
      releaseId: 'rel-reset',
      counter: 1,
      files: classifierFiles(),
    });
    await harness().deploy(release, { deviceId: d.deviceId, counter: 1 });
    const failed = await d.waitForDeployment((e) => e.state === 'failed', 'failed');
    expect(failed.reason).toBe('download_failed');
    expect(failed.detail).toMatch(/fetch failed \(cause: read ECONNRESET\)/);
  });
});
