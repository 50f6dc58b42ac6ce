import { connectAsync, type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker } from '../broker/embedded.js';
import { inProcessControlPlaneClient, type ControlPlaneClient } from './broker-link.js';

const TOKEN = 'device-token-0123456789';
const CP = { username: 'cp', password: 'cp-password-0123456789' };

/** The next message `c` receives. */
function nextMessage(c: MqttClient): Promise<[string, Buffer, { retain: boolean; qos: number }]> {
  return new Promise((resolve) => {
    c.once('message', (topic, payload, packet) => {
      resolve([topic, payload, packet]);
    });
  });
}

describe('the in-process link to the embedded broker', () => {
  let broker: EmbeddedBroker;
  let link: ControlPlaneClient;
  const clients: MqttClient[] = [];

  beforeEach(async () => {
    broker = await startEmbeddedBroker({
      port: 0,
      authenticateDevice: (_id, token) => Promise.resolve(token === TOKEN),
      controlPlaneCredentials: CP,
      logger: pino({ level: 'silent' }),
      connectRateLimit: false,
    });
    link = inProcessControlPlaneClient(broker, pino({ level: 'silent' }));
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync()));
    await link.close();
    await broker.close();
  });

  async function device(id: string): Promise<MqttClient> {
    const c = await connectAsync(broker.url, {
      clientId: id,
      username: id,
      password: TOKEN,
      reconnectPeriod: 0,
    });
    clients.push(c);
    return c;
  }

  it('hands what devices publish to the subscriber, without a client connection', async () => {
    const got: [string, string, boolean][] = [];
    await link.subscribe(['edgefleet/v1/d/+/telemetry', 'edgefleet/v1/d/+/status'], (t, p, r) => {
      got.push([t, p.toString(), r]);
    });
    const d = await device('dev-1');
    // QoS 1: the PUBACK comes after the broker handed the message to its subscribers.
    await d.publishAsync('edgefleet/v1/d/dev-1/telemetry', 'w1', { qos: 1 });
    await d.publishAsync('edgefleet/v1/d/dev-1/status', 's1', { qos: 1 });
    await d.publishAsync('edgefleet/v1/d/dev-1/state', 'ignored', { qos: 1 });
    expect(got).toEqual([
      ['edgefleet/v1/d/dev-1/telemetry', 'w1', false],
      ['edgefleet/v1/d/dev-1/status', 's1', false],
    ]);
    expect(broker.connectedDevices()).toEqual(['dev-1']);
  });

  it('publishes to devices at QoS 1, retained when asked, and clears a retained topic', async () => {
    await link.publish('edgefleet/v1/d/dev-2/desired', new TextEncoder().encode('{"a":1}'), {
      retain: true,
    });
    const d = await device('dev-2');
    const first = nextMessage(d);
    await d.subscribeAsync('edgefleet/v1/d/dev-2/desired', { qos: 1 });
    const [topic, payload, packet] = await first;
    expect([topic, payload.toString(), packet.retain]).toEqual([
      'edgefleet/v1/d/dev-2/desired',
      '{"a":1}',
      true,
    ]);

    await d.subscribeAsync('edgefleet/v1/d/dev-2/cmd', { qos: 1 });
    const live = nextMessage(d);
    await link.publish('edgefleet/v1/d/dev-2/cmd', new TextEncoder().encode('now'));
    const [, livePayload, livePacket] = await live;
    expect([livePayload.toString(), livePacket.qos]).toEqual(['now', 1]);

    await link.publish('edgefleet/v1/d/dev-2/desired', new Uint8Array(0), { retain: true });
    await d.endAsync();
    const again = await device('dev-2');
    const retained: string[] = [];
    again.on('message', (t) => retained.push(t));
    await again.subscribeAsync('edgefleet/v1/d/dev-2/desired', { qos: 1 });
    // A round trip after the SUBACK: a retained message would have arrived before it.
    await again.publishAsync('edgefleet/v1/d/dev-2/status', 'x', { qos: 1 });
    expect(retained).toEqual([]);
  });

  it('stops delivering once closed, and refuses to publish after', async () => {
    const got: string[] = [];
    await link.subscribe(['edgefleet/v1/d/+/telemetry'], (t) => got.push(t));
    await link.close();
    const d = await device('dev-3');
    await d.publishAsync('edgefleet/v1/d/dev-3/telemetry', 'w', { qos: 1 });
    expect(got).toEqual([]);
    await expect(
      link.publish('edgefleet/v1/d/dev-3/desired', new Uint8Array(1)),
    ).rejects.toMatchObject({ code: 'EF_INTERNAL' });
  });

  it('keeps delivering when the handler throws', async () => {
    let calls = 0;
    await link.subscribe(['edgefleet/v1/d/+/telemetry'], () => {
      calls++;
      throw new Error('boom');
    });
    const d = await device('dev-4');
    await d.publishAsync('edgefleet/v1/d/dev-4/telemetry', 'a', { qos: 1 });
    await d.publishAsync('edgefleet/v1/d/dev-4/telemetry', 'b', { qos: 1 });
    expect(calls).toBe(2);
  });
});
