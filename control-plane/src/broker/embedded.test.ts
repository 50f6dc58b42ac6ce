/** Behaviour of the embedded broker beyond the shared rules of broker.test.ts. */
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { TOPIC_PREFIX, presenceTopic, statusTopic } from '@edgefleet/protocol';
import { connectAsync } from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startEmbeddedBroker,
  type BrokerRefusal,
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
} from './embedded.js';
import {
  connectProbe,
  tryConnect,
  type Credentials,
  uniquePayload,
  within,
  type Probe,
} from './mqtt-probe.test-support.js';

const TOKENS = new Map([
  ['dev-a', 'token-a'],
  ['dev-b', 'token-b'],
]);
const CONTROL_PLANE = { username: 'edgefleet-control-plane', password: 'cp-secret' };

interface Harness {
  broker: EmbeddedBroker;
  clock: { now: number };
  authCalls: string[];
  presence: [string, boolean][];
  refusals: BrokerRefusal[];
}

const opened: { brokers: EmbeddedBroker[]; probes: Probe[] } = { brokers: [], probes: [] };

afterEach(async () => {
  await Promise.all(opened.probes.splice(0).map((p) => p.end()));
  await Promise.all(opened.brokers.splice(0).map((b) => b.close()));
});

async function start(overrides: Partial<EmbeddedBrokerOptions> = {}): Promise<Harness> {
  const clock = { now: 0 };
  const authCalls: string[] = [];
  const presence: [string, boolean][] = [];
  const refusals: BrokerRefusal[] = [];
  const broker = await startEmbeddedBroker({
    port: 0,
    authenticateDevice: (deviceId, token) => {
      authCalls.push(deviceId);
      return Promise.resolve(TOKENS.get(deviceId) === token);
    },
    controlPlaneCredentials: CONTROL_PLANE,
    logger: pino({ level: 'silent' }),
    onPresence: (deviceId, online) => presence.push([deviceId, online]),
    onRefused: (r) => refusals.push(r),
    now: () => clock.now,
    ...overrides,
  });
  opened.brokers.push(broker);
  return { broker, clock, authCalls, presence, refusals };
}

async function device(
  h: Harness,
  id: string,
  extra: Pick<Credentials, 'will'> = {},
): Promise<Probe> {
  const probe = await connectProbe(h.broker.url, {
    clientId: id,
    username: id,
    password: TOKENS.get(id)!,
    ...extra,
  });
  opened.probes.push(probe);
  return probe;
}

async function controlPlane(h: Harness, clientId = `cp-${Date.now()}`): Promise<Probe> {
  const probe = await connectProbe(h.broker.url, { clientId, ...CONTROL_PLANE });
  opened.probes.push(probe);
  expect(await probe.grantedQos(`${TOPIC_PREFIX}/#`)).toBe(1);
  return probe;
}

describe('startEmbeddedBroker', () => {
  // First in the file, so that no handle of an earlier test is still being released.
  it('releases every handle on close', async () => {
    const tcp = () => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = { timers: timers() };
    const h = await start();
    await device(h, 'dev-a');
    const half = connect(h.broker.port, '127.0.0.1'); // connected, never sends CONNECT
    await once(half, 'connect');
    const halfClosed = once(half, 'close');
    await h.broker.close();
    await h.broker.close(); // idempotent
    await within(halfClosed, 'the half-open connection to close');
    await Promise.all(opened.probes.splice(0).map((p) => p.end()));
    expect(tcp()).toBe(0);
    // vitest may own a timer of its own that comes and goes: ours must all be gone.
    expect(timers()).toBeLessThanOrEqual(before.timers);
    await expect(connectAsync(h.broker.url, { reconnectPeriod: 0 }, false)).rejects.toThrow();
  });

  it('reports presence and connected devices, and disconnects a device on request', async () => {
    const h = await start();
    const a = await device(h, 'dev-a');
    await device(h, 'dev-b');
    expect(h.broker.connectedDevices().sort()).toEqual(['dev-a', 'dev-b']);
    expect(await h.broker.disconnectDevice('dev-a')).toBe(true);
    await within(a.closed, 'dev-a to be disconnected');
    expect(h.broker.connectedDevices()).toEqual(['dev-b']);
    expect(await h.broker.disconnectDevice('dev-a')).toBe(false);
    expect(h.presence).toEqual([
      ['dev-a', true],
      ['dev-b', true],
      ['dev-a', false],
    ]);
  });

  it("reports a device's reconnect as offline then online, never leaving it offline", async () => {
    const h = await start();
    const first = await device(h, 'dev-a');
    await device(h, 'dev-a'); // takes over its own session [MQTT-3.1.4-2]
    await within(first.closed, 'the old session to close');
    expect(h.presence).toEqual([
      ['dev-a', true],
      ['dev-a', false],
      ['dev-a', true],
    ]);
    expect(h.broker.connectedDevices()).toEqual(['dev-a']);
  });

  it("delivers a device's will on its own presence topic when its connection drops", async () => {
    const h = await start();
    const cp = await controlPlane(h);
    const offline = uniquePayload('offline');
    await device(h, 'dev-a', {
      will: { topic: presenceTopic('dev-a'), payload: Buffer.from(offline), qos: 1, retain: false },
    });
    await h.broker.disconnectDevice('dev-a');
    await cp.waitForPayload(offline);
  });

  it('refuses a will that breaks the rules (retained) like any other publish', async () => {
    const h = await start();
    const cp = await controlPlane(h);
    const offline = uniquePayload('retained will');
    await device(h, 'dev-a', {
      will: { topic: presenceTopic('dev-a'), payload: Buffer.from(offline), qos: 1, retain: true },
    });
    await h.broker.disconnectDevice('dev-a');
    const b = await device(h, 'dev-b');
    const marker = uniquePayload('marker');
    await b.client.publishAsync(statusTopic('dev-b'), marker, { qos: 1 });
    await cp.waitForPayload(marker);
    expect(cp.hasPayload(offline)).toBe(false);
    expect(h.refusals).toContainEqual({
      kind: 'publish',
      reason: 'retain_refused',
      clientId: 'dev-a',
    });
  });

  it('reports each refusal with its reason, for metrics', async () => {
    const h = await start();
    const a = await device(h, 'dev-a');
    expect(await a.grantedQos('#')).toBe(128);
    a.client.publish(statusTopic('dev-b'), 'x', { qos: 0 });
    await within(a.closed, 'the connection to close');
    expect(h.refusals).toEqual([
      { kind: 'subscribe', reason: 'wildcard', clientId: 'dev-a' },
      { kind: 'publish', reason: 'other_device', clientId: 'dev-a' },
    ]);
  });

  it('asks the verifier once per device within the cache lifetime, again after it', async () => {
    const h = await start({ authCache: { ttlMs: 1_000, maxEntries: 10 } });
    await (await device(h, 'dev-a')).end();
    await (await device(h, 'dev-a')).end();
    expect(h.authCalls).toEqual(['dev-a']);
    h.clock.now = 1_000;
    await device(h, 'dev-a');
    expect(h.authCalls).toEqual(['dev-a', 'dev-a']);
  });

  it('asks the verifier again after disconnectDevice (token revoked)', async () => {
    const h = await start();
    await device(h, 'dev-a');
    await h.broker.disconnectDevice('dev-a');
    await device(h, 'dev-a');
    expect(h.authCalls).toEqual(['dev-a', 'dev-a']);
  });

  it('does not cache a wrong token', async () => {
    const h = await start();
    const wrong = { clientId: 'dev-a', username: 'dev-a', password: 'nope' };
    expect(await tryConnect(h.broker.url, wrong)).toEqual({ outcome: 'refused', returnCode: 4 });
    expect(await tryConnect(h.broker.url, wrong)).toEqual({ outcome: 'refused', returnCode: 4 });
    expect(h.authCalls).toEqual(['dev-a', 'dev-a']);
  });

  it('answers 3 (server unavailable) when the verifier fails, and keeps serving', async () => {
    const h = await start({ authenticateDevice: () => Promise.reject(new Error('db down')) });
    const creds = { clientId: 'dev-a', username: 'dev-a', password: 'token-a' };
    expect(await tryConnect(h.broker.url, creds)).toEqual({ outcome: 'refused', returnCode: 3 });
    await controlPlane(h);
  });

  it('refuses a CONNECT over the per-address rate, until tokens refill', async () => {
    const h = await start({ connectRateLimit: { perSecond: 1, burst: 2 } });
    await device(h, 'dev-a');
    await device(h, 'dev-b');
    const creds = { clientId: 'dev-a', username: 'dev-a', password: 'token-a' };
    expect(await tryConnect(h.broker.url, creds)).toEqual({ outcome: 'closed' });
    expect(h.refusals).toContainEqual({ kind: 'rate_limit', remoteAddress: '127.0.0.1' });
    h.clock.now = 1_000;
    await device(h, 'dev-a');
  });

  it("refuses a device taking over the control plane's client id", async () => {
    const h = await start();
    const cp = await controlPlane(h, 'dev-a');
    const creds = { clientId: 'dev-a', username: 'dev-a', password: 'token-a' };
    expect(await tryConnect(h.broker.url, creds)).toEqual({ outcome: 'refused', returnCode: 2 });
    expect(cp.isClosed).toBe(false);
    expect(await cp.grantedQos(statusTopic('dev-a'))).toBe(1);
  });

  it('closes a connection whose packet declares more than the cap, before reading its body', async () => {
    const h = await start({ maxPacketBytes: 1024 });
    const b = await device(h, 'dev-b');
    const raw = connect(h.broker.port, '127.0.0.1');
    await once(raw, 'connect');
    // A PUBLISH header declaring 200 MB of body, and none of the body.
    raw.write(Buffer.from([0x30, 0x80, 0x80, 0xae, 0x5f]));
    await within(once(raw, 'close'), 'the oversized connection to close');
    expect(h.refusals).toContainEqual({
      kind: 'packet',
      reason: 'packet_too_large',
      remoteAddress: '127.0.0.1',
    });
    expect(await b.grantedQos(statusTopic('dev-b'))).toBe(128); // still served (and still refused)
    expect(b.isClosed).toBe(false);
  });

  it('says clearly when the port is taken', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      await expect(start({ port })).rejects.toThrow(/already in use/);
    } finally {
      await new Promise<void>((resolve) =>
        blocker.close(() => {
          resolve();
        }),
      );
    }
  });

  it('rejects configuration mistakes at start', async () => {
    await expect(start({ port: -1 })).rejects.toThrow(TypeError);
    await expect(start({ maxTopicLevels: 101 })).rejects.toThrow(TypeError);
    await expect(start({ maxPacketBytes: 1 })).rejects.toThrow(TypeError);
    await expect(
      start({ controlPlaneCredentials: { username: 'cp', password: '' } }),
    ).rejects.toThrow(TypeError);
  });
});
