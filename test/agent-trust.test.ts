/**
 * Hostile and malformed input delivered to a real agent over real MQTT (the control plane's embedded
 * broker), and root rotation: the TUF/Uptane attack suite of the protocol, seen from the device.
 */
import { desiredTopic, cmdTopic, TRUST_ROOT_TOPIC } from '@edgefleet/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  classifierFiles,
  classifierInput,
  useHarness,
  KEYS_V2,
  rootV2Text,
  T0,
  waitForEvent,
  type TestDevice,
} from './agent-harness.test-support.js';

const harness = useHarness();

/** Nothing was downloaded or installed and the baseline keeps serving. */
async function expectUntouched(
  d: TestDevice,
  requestsBefore: number,
  baseline = 'rel-base-5',
): Promise<void> {
  expect(harness().artifacts.requests.length).toBe(requestsBefore);
  expect(d.agent.status()).toMatchObject({
    activeRelease: { releaseId: baseline },
    deployment: { releaseId: baseline, state: 'succeeded' },
  });
  expect((await d.agent.infer(classifierInput())).releaseId).toBe(baseline);
}

describe('hostile desired states over MQTT', () => {
  let d: TestDevice;
  beforeAll(async () => {
    d = await harness().device({ deviceId: 'hostile-1' });
    await harness().installBaseline(d, 5);
  });

  const good = () =>
    harness().release({ releaseId: 'rel-good-7', counter: 7, files: classifierFiles([5, 5, 5]) });

  it.each([
    ['unsigned', 'signature_invalid', { unsigned: true }],
    ['signed by a key no role trusts', 'signature_invalid', { keys: KEYS_V2.deploy }],
    ['for another device', 'wrong_device', { deviceId: 'someone-else' }],
    ['replaying an old directive counter', 'rollback_refused', { counter: 5 }],
    ['expired', 'expired', { expires: T0 - 60_000 }],
  ] as const)('refuses a directive %s (%s)', async (_what, reason, change) => {
    const before = harness().artifacts.requests.length;
    const release = good();
    const spec = { deviceId: d.deviceId, counter: 6, ...change };
    await harness().cp.publishDesired(d.deviceId, harness().directive(release, spec), release.text);
    const failed = await d.waitForDeployment(
      (e) => e.state === 'failed' && e.reason === reason && e.directiveCounter === spec.counter,
      reason,
    );
    expect(failed.releaseId).toBe('rel-good-7');
    await harness().cp.waitFor(
      (r) => r.deviceId === d.deviceId && r.kind === 'status' && r.body.reason === reason,
      `${reason} on status`,
    );
    await expectUntouched(d, before);
  });

  it('refuses a directive presented with another release (mix_and_match)', async () => {
    const before = harness().artifacts.requests.length;
    const named = good();
    const other = harness().release({
      releaseId: 'rel-other',
      counter: 8,
      files: classifierFiles([6, 6, 6]),
    });
    const directive = harness().directive(other, {
      deviceId: d.deviceId,
      counter: 9,
      names: named,
    });
    await harness().cp.publishDesired(d.deviceId, directive, other.text);
    const failed = await d.waitForDeployment((e) => e.reason === 'mix_and_match', 'mix_and_match');
    expect(failed).toMatchObject({ state: 'failed', directiveCounter: 9 });
    await expectUntouched(d, before);
  });

  it('refuses a release counter below the installed one (rollback_refused)', async () => {
    const before = harness().artifacts.requests.length;
    const old = harness().release({
      releaseId: 'rel-old-3',
      counter: 3,
      files: classifierFiles([7, 7, 7]),
    });
    await harness().deploy(old, { deviceId: d.deviceId, counter: 10 });
    const failed = await d.waitForDeployment((e) => e.releaseId === 'rel-old-3', 'refusal');
    expect(failed).toMatchObject({ state: 'failed', reason: 'rollback_refused' });
    await expectUntouched(d, before);
  });
});

describe('retained desired states delivered again', () => {
  it('neither refuses nor reinstalls an accepted or refused desired state after a reconnect', async () => {
    const d = await harness().device({ deviceId: 'redeliver-1' });
    await harness().installBaseline(d);
    const before = harness().artifacts.requests.length;
    const statuses = harness().cp.reports(d.deviceId, 'status').length;
    const scheduled = waitForEvent(d.agent, 'reconnect_scheduled');
    await harness().broker.disconnectDevice(d.deviceId);
    const [{ delayMs }] = await scheduled;
    const connected = waitForEvent(d.agent, 'connected');
    d.clock.advance(delayMs);
    await connected;
    // A refused desired state after the redelivered one: once it is refused, the redelivery was handled.
    const expired = harness().release({
      releaseId: 'rel-late',
      counter: 2,
      files: classifierFiles([4, 4, 4]),
    });
    await harness().deploy(expired, { deviceId: d.deviceId, counter: 2, expires: T0 - 1 });
    await harness().cp.waitFor(
      (r) => r.deviceId === d.deviceId && r.kind === 'status' && r.body.reason === 'expired',
      'expired on status',
    );
    expect(
      harness()
        .cp.reports(d.deviceId, 'status')
        .slice(statuses)
        .map((s) => s.releaseId),
    ).toEqual(['rel-late']);
    // And that refused one, retained in turn, is not reported again after the next reconnect.
    const again = waitForEvent(d.agent, 'reconnect_scheduled');
    await harness().broker.disconnectDevice(d.deviceId);
    const [{ delayMs: delay2 }] = await again;
    const reconnected = waitForEvent(d.agent, 'connected');
    d.clock.advance(delay2);
    await reconnected;
    const handled = waitForEvent(d.agent, 'command');
    await harness().cp.publishCommand(d.deviceId, 'publish_state');
    await handled;
    await harness().cp.waitFor(
      (r) => r.deviceId === d.deviceId && r.kind === 'state' && r.body.directiveCounter === 1,
      'state',
    );
    expect(harness().cp.reports(d.deviceId, 'status').slice(statuses)).toHaveLength(1);
    await expectUntouched(d, before, 'rel-base-1');
  });
});

describe('malformed payloads', () => {
  it('are counted and dropped on desired, cmd and trust/root; the agent keeps serving', async () => {
    const d = await harness().device({ deviceId: 'malformed-1' });
    await harness().installBaseline(d);
    const garbage = [
      [desiredTopic(d.deviceId), '{"v":1,"type":"desired","directive":5}'],
      [desiredTopic(d.deviceId), 'not json at all'],
      [
        cmdTopic(d.deviceId),
        '{"v":1,"type":"cmd","id":"x","command":"format_disk","issuedAt":"2030-01-01T00:00:00Z"}',
      ],
      [cmdTopic(d.deviceId), '\u00ff\u00fe'],
      [TRUST_ROOT_TOPIC, '{"v":2,"type":"trust_root","roots":[]}'],
    ] as const;
    const seen: string[] = [];
    const listener = (e: { kind: string; code: string }) => seen.push(`${e.kind}:${e.code}`);
    d.agent.on('malformed', listener);
    try {
      for (const [topic, payload] of garbage) {
        await harness().cp.publishRaw(topic, new TextEncoder().encode(payload), false);
      }
      // A valid command after the garbage: once it is handled, all the garbage was too (in order).
      const handled = waitForEvent(d.agent, 'command');
      await harness().cp.publishCommand(d.deviceId, 'publish_state');
      await handled;
    } finally {
      d.agent.off('malformed', listener);
    }
    expect(seen).toEqual([
      'desired:EF_MALFORMED',
      'desired:EF_MALFORMED',
      'cmd:EF_MALFORMED',
      'cmd:EF_MALFORMED',
      'trust_root:EF_UNSUPPORTED_VERSION',
    ]);
    expect(d.agent.status().malformedMessages).toEqual({
      desired: 2,
      cmd: 2,
      trust_root: 1,
      unexpected_topic: 0,
    });
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-base-1');
  });
});

describe('root rotation', () => {
  it('walks to root v2, then installs a release signed with the rotated keys and refuses the old ones', async () => {
    const d = await harness().device({ deviceId: 'rotate-1' });
    await harness().installBaseline(d, 4);
    const rotated = waitForEvent(d.agent, 'trust_root');
    await harness().cp.publishTrustRoot([rootV2Text()]);
    const [rotation] = await rotated;
    expect(rotation).toEqual({ from: 1, to: 2 });
    // The deploy role changed keys: its counter starts over.
    expect(d.agent.status().trust).toEqual({ rootVersion: 2, directiveCounter: 0 });

    const stale = harness().release({
      releaseId: 'rel-stale',
      counter: 9,
      files: classifierFiles([8, 8, 8]),
    });
    await harness().deploy(stale, { deviceId: d.deviceId, counter: 1 });
    const refused = await d.waitForDeployment((e) => e.releaseId === 'rel-stale', 'stale refused');
    expect(refused).toMatchObject({ state: 'failed', reason: 'signature_invalid' });

    const fresh = harness().release({
      releaseId: 'rel-rotated',
      counter: 1, // the release role changed keys too: its rollback floors start over
      files: classifierFiles([9, 9, 9]),
      keys: KEYS_V2.release,
    });
    await harness().deploy(fresh, { deviceId: d.deviceId, counter: 2, keys: KEYS_V2.deploy });
    await d.waitForDeployment(
      (e) => e.releaseId === 'rel-rotated' && e.state === 'succeeded',
      'rotated release succeeded',
    );
    expect((await d.agent.infer(classifierInput())).releaseId).toBe('rel-rotated');
    const state = await harness().cp.waitFor(
      (r) => r.deviceId === d.deviceId && r.kind === 'state' && r.body.rootVersion === 2,
      'state with root v2',
    );
    expect(state.body.rootVersion).toBe(2);
  });
});
