/**
 * Telemetry windows through a broker that goes away: windows are spooled while offline and drained
 * in order after the reconnect, at least once, with nothing lost within the spool's bound.
 */
import { OrtInProcessRuntime } from '@edgefleet/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  classifierInput,
  Harness,
  startTcpProxy,
  waitForEvent,
  type TcpProxy,
  type TestDevice,
} from './agent-harness.test-support.js';

const runtime = new OrtInProcessRuntime({ logLevel: 'fatal' });
let h: Harness;
let proxy: TcpProxy;

beforeAll(async () => {
  h = await Harness.start(runtime);
  proxy = await startTcpProxy(h.broker.port);
});

afterAll(async () => {
  await h.close();
  await proxy.close();
  await runtime.close();
});

const WINDOW_MS = 10_000;

function telemetry(deviceId: string): Record<string, unknown>[] {
  return h.cp.reports(deviceId, 'telemetry');
}

async function waitForSeq(deviceId: string, seq: number): Promise<void> {
  await h.cp.waitFor(
    (r) => r.deviceId === deviceId && r.kind === 'telemetry' && r.body.seq === seq,
    `telemetry seq ${seq}`,
  );
}

/** Close `count` windows while offline, serving one inference in each. */
async function offlineWindows(d: TestDevice, count: number): Promise<void> {
  let spooled = 0;
  const listener = (e: { delivery: string }) => {
    if (e.delivery === 'spooled' || e.delivery === 'dropped') spooled++;
  };
  d.agent.on('telemetry', listener);
  try {
    for (let i = 0; i < count; i++) {
      await d.agent.infer(classifierInput());
      const closed = waitForEvent(d.agent, 'telemetry');
      d.clock.advance(WINDOW_MS);
      await closed;
    }
  } finally {
    d.agent.off('telemetry', listener);
  }
  expect(spooled).toBe(count);
}

/** Let the back-off run until the agent is connected again. */
async function reconnect(d: TestDevice): Promise<void> {
  const connected = waitForEvent(d.agent, 'connected');
  while (!d.agent.connected) {
    const scheduled = waitForEvent(d.agent, 'reconnect_scheduled');
    d.clock.advance(60_000); // the back-off cap: fires the pending attempt (and more windows)
    await Promise.race([connected, scheduled]);
  }
  await connected;
}

describe('agent telemetry', () => {
  it('publishes a window per interval with counts, latency and the profile of the served inputs', async () => {
    const d = await h.device({ deviceId: 'telemetry-1', config: { telemetryIntervalSec: 10 } });
    await h.installBaseline(d);
    // The switch to the new model closed the window that had none (so each window has one release).
    await waitForSeq(d.deviceId, 1);
    expect(telemetry(d.deviceId)[0]).toMatchObject({ seq: 1, releaseId: null, requests: 0 });

    for (let i = 0; i < 4; i++) await d.agent.infer(classifierInput(3));
    d.clock.advance(WINDOW_MS);
    await waitForSeq(d.deviceId, 2);
    const window = telemetry(d.deviceId)[1];
    expect(window).toMatchObject({
      seq: 2,
      releaseId: 'rel-base-1',
      executionProvider: 'cpu',
      requests: 4,
      errors: 0,
      droppedWindows: 0,
      late: false,
    });
    expect((window?.latencyMs as { min: number } | null)?.min).toBeGreaterThan(0);
    const features = Object.keys((window?.profile as { features: object }).features);
    expect(features.sort()).toEqual([
      'input.a',
      'input.b',
      'input.c',
      'input.d',
      'logits.class',
      'logits.top_score',
    ]);

    // flush_telemetry closes the window now, without waiting for the interval.
    await d.agent.infer(classifierInput());
    await h.cp.publishCommand(d.deviceId, 'flush_telemetry');
    await waitForSeq(d.deviceId, 3);
    expect(telemetry(d.deviceId)[2]).toMatchObject({ seq: 3, requests: 1 });
  });

  it('spools windows while the broker is away and drains them in order after the reconnect', async () => {
    const d = await h.device({
      deviceId: 'outage-1',
      mqttUrl: proxy.url,
      config: { telemetryIntervalSec: 10 },
    });
    await h.installBaseline(d);
    d.clock.advance(WINDOW_MS);
    await waitForSeq(d.deviceId, 2);

    const gone = waitForEvent(d.agent, 'disconnected');
    proxy.cut();
    await gone;
    await offlineWindows(d, 25);
    expect(d.agent.status().telemetry).toMatchObject({ spooled: 25, unreportedDrops: 0 });

    proxy.restore();
    await reconnect(d);
    const last = (d.agent.status().telemetry?.nextSeq ?? 0) - 1;
    await waitForSeq(d.deviceId, last);

    const seqs = telemetry(d.deviceId).map((m) => m.seq as number);
    // At least once (a window in flight at the cut may come twice), in order, none missing.
    const firsts = seqs.filter((s, i) => seqs.indexOf(s) === i);
    expect(firsts).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    const late = telemetry(d.deviceId)
      .filter((m) => m.late === true)
      .map((m) => m.seq);
    expect(late.slice(0, 25)).toEqual(Array.from({ length: 25 }, (_, i) => i + 3));
    expect(telemetry(d.deviceId).every((m) => m.droppedWindows === 0)).toBe(true);
  });

  it('drops the oldest windows past the spool bound and reports how many in droppedWindows', async () => {
    const d = await h.device({
      deviceId: 'outage-2',
      mqttUrl: proxy.url,
      config: { telemetryIntervalSec: 10, spoolMaxBytes: 8192 },
    });
    await h.installBaseline(d);
    await waitForSeq(d.deviceId, 1);
    const gone = waitForEvent(d.agent, 'disconnected');
    proxy.cut();
    await gone;
    await offlineWindows(d, 30);
    const { spooled, unreportedDrops } = d.agent.status().telemetry!;
    expect(unreportedDrops).toBeGreaterThan(0);
    expect(spooled + unreportedDrops).toBe(30);

    proxy.restore();
    await reconnect(d);
    const last = (d.agent.status().telemetry?.nextSeq ?? 0) - 1;
    await waitForSeq(d.deviceId, last);
    const received = telemetry(d.deviceId);
    const seqs = received.map((m) => m.seq as number);
    // seq 1 (the window before the install) went out before the cut; of the offline windows the
    // newest arrive, in order and contiguous, and the first of them counts the ones dropped.
    expect(seqs[0]).toBe(1);
    const tail = seqs.slice(1);
    const first = tail[0]!;
    expect(first).toBeGreaterThan(2);
    expect(tail).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
    const dropped = received.reduce((n, m) => n + (m.droppedWindows as number), 0);
    expect(dropped).toBe(first - 2);
    expect(received[1]?.droppedWindows).toBe(dropped);
    expect(dropped).toBeGreaterThanOrEqual(unreportedDrops);
  });
});
