/**
 * An install starts from the documents verified when the `desired` message was accepted: their
 * signatures are not checked a second time in the same process unless the trusted root or the
 * model's installed release changed meanwhile, and expiry is always checked again.
 */
import * as protocol from '@edgefleet/protocol';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { classifierFiles, useHarness, T0, type TestDevice } from './agent-harness.test-support.js';

vi.mock('@edgefleet/protocol', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@edgefleet/protocol')>();
  return {
    ...actual,
    verifyRelease: vi.fn(actual.verifyRelease),
    verifyDesired: vi.fn(actual.verifyDesired),
  };
});

const verifyRelease = vi.mocked(protocol.verifyRelease);
const verifyDesired = vi.mocked(protocol.verifyDesired);

const harness = useHarness();
const HOUR = 3_600_000;

beforeEach(() => {
  verifyRelease.mockClear();
  verifyDesired.mockClear();
});

const trail = (d: TestDevice) =>
  d.events.map((e) => `${e.releaseId}:${e.state}${e.reason ? `(${e.reason})` : ''}`);

/** Hold the downloads of `sha` until the returned function is called. */
function holdDownloads(sha: string): () => void {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  harness().artifacts.onRequest = (s) => (s === sha ? gate : undefined);
  return () => {
    harness().artifacts.onRequest = undefined;
    open();
  };
}

describe('verification of an accepted release at install', () => {
  it('does not check the signatures again when nothing changed since acceptance', async () => {
    const d = await harness().device({ deviceId: 'reverify-none' });
    await harness().installBaseline(d);
    expect(verifyDesired).toHaveBeenCalledTimes(1);
    expect(verifyRelease).not.toHaveBeenCalled();
  });

  it('verifies a queued release again once an install of its model moved the rollback floor', async () => {
    const d = await harness().device({ deviceId: 'reverify-floor' });
    const first = harness().release({
      releaseId: 'rel-f1',
      counter: 1,
      files: classifierFiles([0, 1, 0]),
    });
    const second = harness().release({
      releaseId: 'rel-f2',
      counter: 2,
      files: classifierFiles([1, 0, 0]),
    });
    const release = holdDownloads(first.shas['model.onnx']!);
    try {
      await harness().deploy(first, { deviceId: d.deviceId, counter: 1 });
      await d.waitForDeployment((e) => e.state === 'downloading', 'first downloading');
      await harness().deploy(second, { deviceId: d.deviceId, counter: 2 });
      await d.waitForDeployment((e) => e.releaseId === 'rel-f2', 'second assigned');
    } finally {
      release();
    }
    await d.waitForDeployment(
      (e) => e.releaseId === 'rel-f2' && e.state === 'succeeded',
      'second succeeded',
    );
    expect(verifyRelease).toHaveBeenCalledTimes(1);
    expect(d.agent.status().activeRelease?.releaseId).toBe('rel-f2');
  });

  it('still refuses a queued release that expired while it waited', async () => {
    const d = await harness().device({ deviceId: 'reverify-expiry' });
    const first = harness().release({
      releaseId: 'rel-e1',
      counter: 1,
      files: classifierFiles([0, 1, 0]),
    });
    const other = harness().release({
      releaseId: 'rel-e2',
      counter: 1,
      model: { name: 'other-model', version: '1.0.0' },
      files: classifierFiles([1, 0, 0]),
      expires: T0 + HOUR,
    });
    const release = holdDownloads(first.shas['model.onnx']!);
    try {
      await harness().deploy(first, { deviceId: d.deviceId, counter: 1 });
      await d.waitForDeployment((e) => e.state === 'downloading', 'first downloading');
      await harness().deploy(other, { deviceId: d.deviceId, counter: 2 });
      await d.waitForDeployment((e) => e.releaseId === 'rel-e2', 'second assigned');
      d.clock.advance(2 * HOUR);
    } finally {
      release();
    }
    await d.waitForDeployment(
      (e) => e.releaseId === 'rel-e2' && e.state === 'failed',
      'second failed',
    );
    expect(trail(d).filter((t) => t.startsWith('rel-e2'))).toEqual([
      'rel-e2:assigned',
      'rel-e2:failed(expired)',
    ]);
    // Checked from what was verified on acceptance: same root, no install of its model since.
    expect(verifyRelease).not.toHaveBeenCalled();
  });
});
