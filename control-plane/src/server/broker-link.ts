/**
 * The control plane's link to its broker: it publishes desired state, commands and trust roots, and
 * subscribes to what devices send.
 *
 * - External broker (MQTT_URL): an MQTT client (`connectControlPlaneClient`).
 * - Embedded broker: in process (`inProcessControlPlaneClient`). Publishes enter aedes's publish
 *   pipeline directly (retained store, queues of offline sessions, delivery to subscribers) and
 *   subscriptions are aedes's own listeners: a device message reaches ingest without a second TCP
 *   hop, a second MQTT parse, and a QoS 1 in-flight copy kept for a loopback client. The semantics
 *   are the client's: a publish resolves once the broker has taken the message.
 */
import { randomBytes } from 'node:crypto';
import { EdgefleetError } from '@edgefleet/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import type { EmbeddedBroker } from '../broker/embedded.js';
import type { Logger } from 'pino';
import type { BrokerLink } from '../api/services.js';

export interface ControlPlaneClientOptions {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly logger: Logger;
}

export interface ControlPlaneClient extends BrokerLink {
  /** Subscribe (QoS 1) and route messages to `onMessage`. */
  subscribe(
    filters: readonly string[],
    onMessage: (topic: string, payload: Buffer, retain: boolean) => void,
  ): Promise<void>;
  close(): Promise<void>;
}

/** Connect the control plane's client. Fails with a clear message when the broker is unreachable. */
export async function connectControlPlaneClient(
  options: ControlPlaneClientOptions,
  disconnectDevice: (deviceId: string) => void = () => undefined,
): Promise<ControlPlaneClient> {
  const log = options.logger.child({ component: 'mqtt-client' });
  let client: MqttClient;
  try {
    client = await mqtt.connectAsync(options.url, {
      clientId: `edgefleet-cp-${randomBytes(6).toString('hex')}`,
      username: options.username,
      password: options.password,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
    });
  } catch (e) {
    throw new EdgefleetError(
      'EF_INTERNAL',
      `cannot connect to the MQTT broker at ${options.url}: ${(e as Error).message}; check MQTT_URL and the control plane's broker credentials`,
      { cause: e },
    );
  }
  client.on('error', (err) => {
    log.error({ err }, 'mqtt client error');
  });
  client.on('reconnect', () => {
    log.warn('mqtt client reconnecting');
  });
  let handler: ((topic: string, payload: Buffer, retain: boolean) => void) | undefined;
  client.on('message', (topic, payload, packet) => {
    try {
      handler?.(topic, payload, packet.retain);
    } catch (err) {
      log.error({ err, topic }, 'message handler threw');
    }
  });
  return {
    async publish(topic, payload, opts) {
      await client.publishAsync(topic, Buffer.from(payload), {
        qos: 1,
        retain: opts?.retain ?? false,
      });
    },
    disconnectDevice,
    async subscribe(filters, onMessage) {
      handler = onMessage;
      const granted = await client.subscribeAsync([...filters], { qos: 1 });
      const refused = granted.filter((g) => g.qos === 128);
      if (refused.length > 0) {
        throw new EdgefleetError(
          'EF_FORBIDDEN',
          `the broker refused the subscriptions ${refused.map((g) => g.topic).join(', ')}`,
        );
      }
    },
    async close() {
      await client.endAsync();
    },
  };
}

/** The control plane's link to the embedded broker, in process (see the module comment). */
export function inProcessControlPlaneClient(
  broker: EmbeddedBroker,
  logger: Logger,
  disconnectDevice: (deviceId: string) => void = () => undefined,
): ControlPlaneClient {
  const log = logger.child({ component: 'broker-link' });
  const { aedes } = broker;
  const listeners: { filter: string; deliver: Deliver }[] = [];
  let closed = false;
  return {
    publish(topic, payload, opts) {
      if (closed) {
        return Promise.reject(
          new EdgefleetError(
            'EF_INTERNAL',
            `the broker link is closed; ${topic} was not published`,
          ),
        );
      }
      return new Promise<void>((resolve, reject) => {
        aedes.publish(
          {
            cmd: 'publish',
            topic,
            payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
            qos: 1,
            retain: opts?.retain ?? false,
            dup: false,
          },
          (err) => {
            if (err) reject(err);
            else resolve();
          },
        );
      });
    },
    disconnectDevice,
    async subscribe(filters, onMessage) {
      for (const filter of filters) {
        const deliver: Deliver = (packet, done) => {
          try {
            onMessage(packet.topic, packet.payload as Buffer, packet.retain);
          } catch (err) {
            log.error({ err, topic: packet.topic }, 'message handler threw');
          }
          done();
        };
        await new Promise<void>((resolve, reject) => {
          // aedes passes an error to the callback for a filter it refuses (too many levels).
          const done = (err?: unknown) => {
            if (err === undefined || err === null) resolve();
            else
              reject(
                err instanceof Error
                  ? err
                  : new Error(`the broker refused the subscription ${filter}`),
              );
          };
          aedes.subscribe(filter, deliver, done);
        });
        listeners.push({ filter, deliver });
      }
    },
    async close() {
      closed = true;
      for (const { filter, deliver } of listeners.splice(0)) {
        await new Promise<void>((resolve) => {
          aedes.unsubscribe(filter, deliver, () => {
            resolve();
          });
        });
      }
    },
  };
}

type Deliver = Parameters<EmbeddedBroker['aedes']['subscribe']>[1];
