/**
 * One suite of broker rules (ARCHITECTURE §3), run with real MQTT.js clients against the embedded aedes
 * broker and against a real Mosquitto configured by `writeMosquittoConfig`.
 *
 * Refusals differ in how they show, so each is checked by what matters:
 * - a refused PUBLISH never reaches a control-plane subscriber, which does receive a marker published
 *   after it (aedes closes the publisher's connection; Mosquitto drops the message silently, or
 *   disconnects for QoS 2 and oversized packets);
 * - a refused subscription gets 0x80 in the SUBACK (aedes), or is granted but never delivers
 *   (Mosquitto's acl_file checks read access per message), shown the same way with a marker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  TOPIC_PREFIX,
  TRUST_ROOT_TOPIC,
  cmdTopic,
  desiredTopic,
  presenceTopic,
  stateTopic,
  statusTopic,
  telemetryTopic,
} from '@edgefleet/protocol';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from './embedded.js';
import { writeMosquittoConfig } from './mosquitto-config.js';
import {
  connectProbe,
  tryConnect,
  uniquePayload,
  within,
  type Probe,
} from './mqtt-probe.test-support.js';
import { hashToken, verifyToken } from './password.js';

/** What a test needs to know about a running broker. */
interface BrokerUnderTest {
  readonly deviceUrl: string;
  readonly controlPlaneUrl: string;
  /** Device id -> token. */
  readonly tokens: ReadonlyMap<string, string>;
  readonly controlPlane: { readonly username: string; readonly password: string };
  readonly maxPacketBytes: number;
  close(): Promise<void>;
}

interface SuiteTarget {
  readonly start: () => Promise<BrokerUnderTest>;
  /** False for Mosquitto 2.0, which cannot refuse retain per client (see mosquitto-config.ts). */
  readonly refusesDeviceRetain: boolean;
  /**
   * True if a refused subscription gets 0x80 in the SUBACK. Mosquitto's acl_file grants every
   * subscription and applies read access to each message instead.
   */
  readonly subackRefuses: boolean;
  /** Set when the broker is not available here: the suite is skipped and the reason shown. */
  readonly skipReason?: string | undefined;
}

const DEVICE_IDS = ['dev-a', 'dev-b', 'dev-c'] as const;
type DeviceId = (typeof DEVICE_IDS)[number];
const MAX_PACKET_BYTES = 64 * 1024;
const CONTROL_PLANE_USER = 'edgefleet-control-plane';

async function makeDevices() {
  const tokens = new Map<string, string>(
    DEVICE_IDS.map((id) => [id, randomBytes(24).toString('base64url')]),
  );
  const hashes = new Map<string, string>();
  for (const [id, token] of tokens) hashes.set(id, await hashToken(token));
  return { tokens, hashes };
}

const controlPlaneCredentials = () => ({
  username: CONTROL_PLANE_USER,
  password: randomBytes(24).toString('base64url'),
});

async function startEmbedded(): Promise<BrokerUnderTest> {
  const { tokens, hashes } = await makeDevices();
  const controlPlane = controlPlaneCredentials();
  const broker = await startEmbeddedBroker({
    port: 0,
    authenticateDevice: async (id, token) => {
      const hash = hashes.get(id);
      return hash !== undefined && (await verifyToken(token, hash));
    },
    controlPlaneCredentials: controlPlane,
    maxPacketBytes: MAX_PACKET_BYTES,
    connectRateLimit: { perSecond: 1000, burst: 1000 },
    logger: pino({ level: 'silent' }),
  });
  return {
    deviceUrl: broker.url,
    controlPlaneUrl: broker.url,
    tokens,
    controlPlane,
    maxPacketBytes: MAX_PACKET_BYTES,
    close: () => broker.close(),
  };
}

async function findMosquitto(): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d.length > 0);
  const candidates = [
    process.env.MOSQUITTO_BIN,
    ...dirs.map((d) => join(d, 'mosquitto')),
    '/usr/sbin/mosquitto',
    '/usr/local/sbin/mosquitto',
  ];
  for (const candidate of candidates) {
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

/** Resolves once Mosquitto logs that it runs; rejects with its log if it exits first. */
function mosquittoReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      if (/mosquitto version \S+ running/.test(log)) {
        cleanup();
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`mosquitto exited (${code}) before it was ready:\n${log}`));
    };
    const cleanup = () => {
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

async function startMosquitto(bin: string): Promise<BrokerUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'edgefleet-mosquitto-'));
  const { tokens, hashes } = await makeDevices();
  const controlPlane = controlPlaneCredentials();
  // Free ports can be taken between our probe and Mosquitto's bind: try a few times.
  for (let attempt = 1; ; attempt++) {
    const [devicePort, controlPlanePort] = [await freePort(), await freePort()];
    const files = await writeMosquittoConfig({
      outDir: dir,
      devices: [...hashes].map(([id, tokenHash]) => ({ id, tokenHash })),
      controlPlane,
      deviceListener: { port: devicePort, host: '127.0.0.1' },
      controlPlaneListener: { port: controlPlanePort },
      maxPacketBytes: MAX_PACKET_BYTES,
      // As root, Mosquitto would drop to the `mosquitto` user, which cannot read our 0600 files.
      ...(process.getuid?.() === 0 ? { user: 'root' } : {}),
    });
    const child = spawn(bin, ['-c', files.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await within(mosquittoReady(child), 'mosquitto to start', 10_000);
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt < 3 && String(err).includes('Address already in use')) continue;
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        resolve();
      }),
    );
    return {
      deviceUrl: `mqtt://127.0.0.1:${devicePort}`,
      controlPlaneUrl: `mqtt://127.0.0.1:${controlPlanePort}`,
      tokens,
      controlPlane,
      maxPacketBytes: MAX_PACKET_BYTES,
      async close() {
        child.kill('SIGTERM');
        await within(exited, 'mosquitto to exit');
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

/** `edgefleet/v1/d/{id}/status/x/x/...` with `levels` levels in all. */
const deepTopic = (deviceId: string, levels: number): string =>
  [statusTopic(deviceId), ...Array<string>(levels - 5).fill('x')].join('/');

function aclSuite(name: string, target: SuiteTarget) {
  const { skipReason } = target;
  describe.skipIf(skipReason !== undefined)(
    `broker rules: ${name}${skipReason === undefined ? '' : ` (skipped: ${skipReason})`}`,
    () => {
      let broker: BrokerUnderTest;
      /** A control-plane client subscribed to `edgefleet/v1/#` for the whole test. */
      let controlPlane: Probe;
      const probes: Probe[] = [];

      const track = (probe: Probe): Probe => {
        probes.push(probe);
        return probe;
      };
      const credentials = (id: DeviceId, clientId: string = id) => ({
        clientId,
        username: id,
        password: broker.tokens.get(id)!,
      });
      const connectDevice = async (id: DeviceId): Promise<Probe> =>
        track(await connectProbe(broker.deviceUrl, credentials(id)));
      const connectControlPlane = async (): Promise<Probe> =>
        track(
          await connectProbe(broker.controlPlaneUrl, {
            clientId: `cp-${randomUUID()}`,
            ...broker.controlPlane,
          }),
        );

      /** Publish `payload` from `deviceId` and wait until the control plane has it. */
      async function deliver(device: Probe, deviceId: DeviceId, payload: string): Promise<void> {
        await within(
          device.client.publishAsync(statusTopic(deviceId), payload, { qos: 1 }),
          'PUBACK',
        );
        await controlPlane.waitForPayload(payload);
      }

      /**
       * Publish something the broker must refuse, then a marker that it must accept. The marker goes on
       * the same connection if the broker kept it, else on a fresh one. Once the control plane has the
       * marker, it would also have the refused message, had the broker let it through.
       */
      async function expectNeverDelivered(
        device: Probe,
        deviceId: DeviceId,
        topic: string,
        options: { qos: 0 | 1 | 2; retain?: boolean; payload?: string },
      ): Promise<'dropped' | 'disconnected'> {
        const refused = options.payload ?? uniquePayload('refused');
        device.client.publish(
          topic,
          refused,
          { qos: options.qos, retain: options.retain === true },
          () => {
            // a refused QoS 1/2 publish may never be acknowledged: the outcome is checked below
          },
        );
        const marker = uniquePayload('marker');
        const markerAcked = device.client
          .publishAsync(statusTopic(deviceId), marker, { qos: 1 })
          .then(
            () => 'acked' as const,
            () => 'failed' as const,
          );
        const outcome = await within(
          Promise.race([markerAcked, device.closed.then(() => 'closed' as const)]),
          'PUBACK of the marker or the connection to close',
        );
        if (outcome !== 'acked') {
          const fresh = await connectDevice(deviceId);
          await within(
            fresh.client.publishAsync(statusTopic(deviceId), marker, { qos: 1 }),
            'PUBACK',
          );
        }
        await controlPlane.waitForPayload(marker);
        expect(controlPlane.hasPayload(refused)).toBe(false);
        return outcome === 'acked' ? 'dropped' : 'disconnected';
      }

      /**
       * Subscribe to `filter`, which the device must not be able to use. Either the SUBACK refuses it
       * (0x80), or nothing on `probeTopics` reaches the device: neither a retained message there before
       * the subscription nor a live one after it, while a later marker on its own `cmd` does arrive.
       */
      async function expectSubscriptionUseless(
        device: Probe,
        deviceId: DeviceId,
        filter: string,
        probeTopics: readonly string[],
      ): Promise<void> {
        const publishAll = async (label: string, retain: boolean) => {
          const sent = probeTopics.map((topic) => ({ topic, payload: uniquePayload(label) }));
          for (const { topic, payload } of sent) {
            await controlPlane.client.publishAsync(topic, payload, { qos: 1, retain });
          }
          return sent.map((m) => m.payload);
        };
        expect(await device.grantedQos(cmdTopic(deviceId))).toBe(1);
        const retained = await publishAll('retained', true);
        try {
          const granted = await device.grantedQos(filter);
          if (target.subackRefuses) {
            expect(granted).toBe(128);
          } else {
            expect([0, 1, 128]).toContain(granted);
          }
          const live = await publishAll('live', false);
          const marker = uniquePayload('marker');
          await controlPlane.client.publishAsync(cmdTopic(deviceId), marker, { qos: 1 });
          await device.waitForPayload(marker);
          for (const payload of [...retained, ...live]) {
            expect(device.hasPayload(payload)).toBe(false);
          }
          expect(device.messages.filter((m) => m.topic.startsWith('$'))).toEqual([]);
        } finally {
          for (const topic of probeTopics) {
            // An empty retained message deletes the retained one [MQTT-3.3.1-10].
            await controlPlane.client.publishAsync(topic, '', { qos: 1, retain: true });
          }
        }
      }

      beforeAll(async () => {
        broker = await target.start();
      });
      afterAll(async () => {
        await broker.close();
      });
      beforeEach(async () => {
        controlPlane = await connectControlPlane();
        expect(await controlPlane.grantedQos(`${TOPIC_PREFIX}/#`)).toBe(1);
      });
      afterEach(async () => {
        await Promise.all(probes.splice(0).map((p) => p.end()));
      });

      describe('allows', () => {
        it('a device to publish its own status, state, telemetry and presence at QoS 1', async () => {
          const device = await connectDevice('dev-a');
          for (const topic of [
            statusTopic('dev-a'),
            stateTopic('dev-a'),
            telemetryTopic('dev-a'),
            presenceTopic('dev-a'),
          ]) {
            const payload = uniquePayload(topic);
            await within(device.client.publishAsync(topic, payload, { qos: 1 }), 'PUBACK');
            const received = await controlPlane.waitForPayload(payload);
            expect(received.topic).toBe(topic);
          }
        });

        it('a device to subscribe to its own desired and cmd and to trust/root', async () => {
          const device = await connectDevice('dev-a');
          expect(await device.grantedQos(desiredTopic('dev-a'))).toBe(1);
          expect(await device.grantedQos(cmdTopic('dev-a'))).toBe(1);
          expect(await device.grantedQos(TRUST_ROOT_TOPIC)).toBe(1);
        });

        it('a device to receive its retained desired, trust/root and live cmd from the control plane', async () => {
          const desired = uniquePayload('desired');
          const root = uniquePayload('root');
          await controlPlane.client.publishAsync(desiredTopic('dev-b'), desired, {
            qos: 1,
            retain: true,
          });
          await controlPlane.client.publishAsync(TRUST_ROOT_TOPIC, root, { qos: 1, retain: true });
          try {
            const device = await connectDevice('dev-b');
            expect(await device.grantedQos(desiredTopic('dev-b'))).toBe(1);
            expect(await device.grantedQos(TRUST_ROOT_TOPIC)).toBe(1);
            expect(await device.grantedQos(cmdTopic('dev-b'))).toBe(1);
            expect((await device.waitForPayload(desired)).retain).toBe(true);
            expect((await device.waitForPayload(root)).retain).toBe(true);
            const cmd = uniquePayload('cmd');
            await controlPlane.client.publishAsync(cmdTopic('dev-b'), cmd, { qos: 1 });
            expect((await device.waitForPayload(cmd)).topic).toBe(cmdTopic('dev-b'));
          } finally {
            // An empty retained message deletes the retained one [MQTT-3.3.1-10].
            await controlPlane.client.publishAsync(desiredTopic('dev-b'), '', {
              qos: 1,
              retain: true,
            });
            await controlPlane.client.publishAsync(TRUST_ROOT_TOPIC, '', { qos: 1, retain: true });
          }
        });
      });

      describe('refuses', () => {
        // After every refusal the broker must still serve a fresh client end to end.
        afterEach(async () => {
          const fresh = await connectDevice('dev-c');
          await deliver(fresh, 'dev-c', uniquePayload('still serving'));
        });

        it("a subscription to another device's desired or cmd", async () => {
          const device = await connectDevice('dev-a');
          for (const topic of [desiredTopic('dev-b'), cmdTopic('dev-b')]) {
            await expectSubscriptionUseless(device, 'dev-a', topic, [topic]);
          }
        });

        it("a device's publish to another device's topic", async () => {
          const device = await connectDevice('dev-a');
          await expectNeverDelivered(device, 'dev-a', statusTopic('dev-b'), { qos: 1 });
        });

        it("a device's publish to its own desired (wrong direction)", async () => {
          const device = await connectDevice('dev-a');
          await expectNeverDelivered(device, 'dev-a', desiredTopic('dev-a'), { qos: 1 });
        });

        it.each([
          [`${TOPIC_PREFIX}/d/+/desired`, [desiredTopic('dev-b')]],
          ['#', [desiredTopic('dev-b'), statusTopic('dev-b'), statusTopic('dev-a')]],
          [`${TOPIC_PREFIX}/d/dev-a/#`, [statusTopic('dev-a'), telemetryTopic('dev-a')]],
        ])('the wildcard subscription %s', async (filter, probeTopics) => {
          const device = await connectDevice('dev-a');
          await expectSubscriptionUseless(device, 'dev-a', filter, probeTopics);
        });

        it('a subscription to $SYS/#', async () => {
          // Both brokers keep retained $SYS messages, sent at once to a subscription that may read them.
          const device = await connectDevice('dev-a');
          await expectSubscriptionUseless(device, 'dev-a', '$SYS/#', []);
        });

        it('a QoS 2 publish from a device', async () => {
          const device = await connectDevice('dev-a');
          await expectNeverDelivered(device, 'dev-a', statusTopic('dev-a'), { qos: 2 });
        });

        it('a client-id takeover: the victim stays connected', async () => {
          const victim = await connectDevice('dev-a');
          // The attacker's own valid credentials with the victim's client id.
          const own = await tryConnect(broker.deviceUrl, credentials('dev-b', 'dev-a'));
          if (own.outcome === 'connected') {
            // Mosquitto renames the client to its username (use_username_as_clientid): it is dev-b.
            track(own.probe);
            await expectSubscriptionUseless(own.probe, 'dev-b', desiredTopic('dev-a'), [
              desiredTopic('dev-a'),
            ]);
          } else {
            expect(own).toEqual({ outcome: 'refused', returnCode: 2 });
          }
          // The victim's username and client id with a wrong password.
          const wrong = await tryConnect(broker.deviceUrl, {
            ...credentials('dev-a'),
            password: 'not-the-token',
          });
          if (wrong.outcome === 'connected') track(wrong.probe);
          expect(wrong.outcome).toBe('refused');
          await deliver(victim, 'dev-a', uniquePayload('victim'));
          expect(victim.isClosed).toBe(false);
        });

        it('a wrong password or an unknown device', async () => {
          for (const attempt of [
            { ...credentials('dev-a'), password: 'wrong' },
            { clientId: 'dev-x', username: 'dev-x', password: 'whatever' },
            { ...credentials('dev-a'), username: 'dev-b' },
          ]) {
            const result = await tryConnect(broker.deviceUrl, attempt);
            expect(result.outcome).toBe('refused');
            if (result.outcome === 'refused') expect([2, 4, 5]).toContain(result.returnCode);
          }
        });

        it('an oversized packet: that connection closes, others are unaffected', async () => {
          const other = await connectDevice('dev-b');
          const device = await connectDevice('dev-a');
          const payload = 'x'.repeat(broker.maxPacketBytes + 1);
          expect(
            await expectNeverDelivered(device, 'dev-a', statusTopic('dev-a'), { qos: 1, payload }),
          ).toBe('disconnected');
          expect(other.isClosed).toBe(false);
          await deliver(other, 'dev-b', uniquePayload('other'));
          expect(controlPlane.isClosed).toBe(false);
        });

        it('a 100-level topic, to subscribe or to publish', async () => {
          const device = await connectDevice('dev-a');
          const deep = deepTopic('dev-a', 100);
          expect(deep.split('/')).toHaveLength(100);
          // The embedded broker refuses deep topics from the control plane too: probe Mosquitto only.
          await expectSubscriptionUseless(
            device,
            'dev-a',
            deep,
            target.subackRefuses ? [] : [deep],
          );
          await expectNeverDelivered(device, 'dev-a', deep, { qos: 1 });
        });

        if (!target.refusesDeviceRetain) {
          it('KNOWN GAP (Mosquitto 2.0): a retained publish from a device is kept', async () => {
            // retain_available is global in Mosquitto 2.0: see mosquitto-config.ts. The control plane's
            // ingest must ignore retained messages on device topics.
            const device = await connectDevice('dev-a');
            const payload = uniquePayload('retained');
            await device.client.publishAsync(statusTopic('dev-a'), payload, {
              qos: 1,
              retain: true,
            });
            const reader = await connectControlPlane();
            expect(await reader.grantedQos(statusTopic('dev-a'))).toBe(1);
            expect((await reader.waitForPayload(payload)).retain).toBe(true);
            await controlPlane.client.publishAsync(statusTopic('dev-a'), '', {
              qos: 1,
              retain: true,
            });
          });
        } else {
          it('a retained publish from a device', async () => {
            const device = await connectDevice('dev-a');
            await expectNeverDelivered(device, 'dev-a', statusTopic('dev-a'), {
              qos: 1,
              retain: true,
            });
          });
        }
      });
    },
  );
}

const mosquitto = await findMosquitto();

aclSuite('embedded aedes', {
  start: startEmbedded,
  refusesDeviceRetain: true,
  subackRefuses: true,
});
aclSuite('mosquitto', {
  start: () => startMosquitto(mosquitto!),
  refusesDeviceRetain: false,
  subackRefuses: false,
  skipReason:
    mosquitto === undefined
      ? 'no mosquitto binary on PATH, in /usr/sbin or /usr/local/sbin, or at $MOSQUITTO_BIN'
      : undefined,
});
