/**
 * The control plane's own MQTT client, the same whether the broker is embedded or external
 * (MQTT_URL): it publishes desired state, commands and trust roots, and subscribes to what devices send.
 */
import { randomBytes } from 'node:crypto';
import { EdgefleetError } from '@edgefleet/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BrokerLink } from '../api/services.js';

export interface ControlPlaneClientOptions {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly logger: Logger;
}

export interface ControlPlaneClient extends BrokerLink {
  readonly client: MqttClient;
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
    client,
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
