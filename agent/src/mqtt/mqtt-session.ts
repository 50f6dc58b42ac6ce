/**
 * The device's MQTT session (ARCHITECTURE §3): MQTT 3.1.1, clientId = username = deviceId, password
 * = device token, a persistent session (clean = false, so QoS 1 messages for the device wait at the
 * broker while it is offline), a last will on its own `presence` (online: false, QoS 1, not
 * retained), and subscriptions at QoS 1 to its own `desired` and `cmd` and to `trust/root`.
 *
 * - One MQTT.js client per connection (`connectAsync`, `reconnectPeriod: 0`): the session owns
 *   the reconnect loop, with jittered exponential back-off on the agent's clock (capped, default
 *   60 s), so a fleet that lost its broker does not come back in lock-step.
 * - Every incoming payload goes through the protocol's `decodeMessage` (byte cap first); anything
 *   malformed or on an unexpected topic is reported to `onMalformed` and dropped, never thrown.
 * - The device never publishes retained messages (retain = 0 always) and only at QoS 1.
 * - `publish` settles when the broker acknowledges (PUBACK) and rejects if the connection it went
 *   out on closes first, so callers can spool and resend (at-least-once).
 */
import {
  cmdTopic,
  decodeMessage,
  desiredTopic,
  parseTopic,
  presenceTopic,
  TRUST_ROOT_TOPIC,
  type CommandMessage,
  type DesiredMessage,
  type Failure,
  type TrustRootMessage,
} from '@edgefleet/protocol';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { backoffDelay, type BackoffOptions } from '../core/backoff.js';
import { sleep, withinRealTime, type AgentClock } from '../core/clock.js';
import { errorMessage } from '../store/atomic-file.js';

/** Opens one MQTT connection; rejects if it cannot (default: MQTT.js `connectAsync`, no retries). */
export type MqttConnect = (url: string, options: IClientOptions) => Promise<MqttClient>;

export const defaultMqttConnect: MqttConnect = (url, options) => connectAsync(url, options, false);

/** A decoded message for the device. */
export type Inbound =
  | { readonly kind: 'desired'; readonly message: DesiredMessage }
  | { readonly kind: 'cmd'; readonly message: CommandMessage }
  | { readonly kind: 'trust_root'; readonly message: TrustRootMessage };

/** Where a dropped payload arrived. */
export type InboundKind = Inbound['kind'] | 'unexpected_topic';

export interface MqttSessionOptions {
  readonly url: string;
  readonly deviceId: string;
  readonly token: string;
  /** Keep-alive in seconds; default 30. */
  readonly keepaliveSec?: number;
  /** CONNACK timeout (real time, it is a network timeout); default 30 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Reconnect back-off; default base 1 s, cap 60 s. */
  readonly backoff?: BackoffOptions;
  readonly random?: () => number;
  readonly clock: AgentClock;
  readonly logger: Logger;
  readonly connect?: MqttConnect;
  /** The presence payload (the last will is `presence(false)`, made at each CONNECT). */
  readonly presence: (online: boolean) => Uint8Array;
  /** After CONNACK and SUBACK: publish presence/state, flush queues. Errors are logged. */
  readonly onConnected: () => Promise<void>;
  readonly onDisconnected: () => void;
  readonly onMessage: (inbound: Inbound) => void;
  readonly onMalformed: (kind: InboundKind, failure: Failure) => void;
  /** A reconnect attempt is scheduled in `delayMs` (after `attempt` failures in a row). */
  readonly onReconnectScheduled?: (attempt: number, delayMs: number) => void;
}

interface Pending {
  readonly reject: (error: Error) => void;
}

export class MqttSession {
  private client: MqttClient | undefined;
  private isConnected = false;
  private stopping = false;
  private readonly stopSignal = new AbortController();
  private loop: Promise<void> | undefined;
  private pending = new Set<Pending>();
  private readonly topics: { desired: string; cmd: string; presence: string };

  constructor(private readonly o: MqttSessionOptions) {
    this.topics = {
      desired: desiredTopic(o.deviceId),
      cmd: cmdTopic(o.deviceId),
      presence: presenceTopic(o.deviceId),
    };
  }

  /** True between SUBACK and the connection closing. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** Start connecting (in the background; see the callbacks). */
  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Publish at QoS 1, never retained. Resolves on PUBACK; rejects when not connected or when the
   * connection closes before the PUBACK.
   */
  publish(topic: string, payload: Uint8Array): Promise<void> {
    const client = this.client;
    if (client === undefined || !this.isConnected) {
      return Promise.reject(new Error('not connected to the MQTT broker'));
    }
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = { reject };
      this.pending.add(entry);
      client.publish(topic, Buffer.from(payload), { qos: 1, retain: false }, (error) => {
        this.pending.delete(entry);
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /**
   * Stop: publish presence offline (a clean DISCONNECT suppresses the will), disconnect, and stop
   * reconnecting. Bounded: a broker that does not answer within `graceMs` is cut off.
   */
  async stop(graceMs = 2000): Promise<void> {
    if (this.stopping) return this.loop;
    this.stopping = true;
    this.stopSignal.abort();
    const client = this.client;
    if (client !== undefined) {
      if (this.isConnected) {
        const offline = this.publish(this.topics.presence, this.o.presence(false));
        await withinRealTime(
          offline.catch(() => undefined),
          graceMs,
        );
      }
      await withinRealTime(
        client.endAsync(false).catch(() => undefined),
        graceMs,
      );
      if (!client.disconnected) await client.endAsync(true).catch(() => undefined);
    }
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const session = await this.connectOnce();
      if (this.stopSignal.signal.aborted) break;
      failures = session === 'established' ? 0 : failures + 1;
      const delay = backoffDelay(
        Math.max(0, failures - 1),
        { baseMs: 1000, capMs: 60_000, ...this.o.backoff },
        this.o.random,
      );
      this.o.onReconnectScheduled?.(failures, delay);
      this.o.logger.debug({ attempt: failures, delayMs: delay }, 'MQTT reconnect scheduled');
      await sleep(this.o.clock, delay, this.stopSignal.signal);
    }
  }

  /** One connection, from CONNECT to close. */
  private async connectOnce(): Promise<'established' | 'failed'> {
    const connect = this.o.connect ?? defaultMqttConnect;
    let client: MqttClient;
    try {
      client = await connect(this.o.url, {
        clientId: this.o.deviceId,
        username: this.o.deviceId,
        password: this.o.token,
        protocolVersion: 4,
        clean: false,
        keepalive: this.o.keepaliveSec ?? 30,
        connectTimeout: this.o.connectTimeoutMs ?? 30_000,
        reconnectPeriod: 0,
        queueQoSZero: false,
        resubscribe: false,
        will: {
          topic: this.topics.presence,
          payload: Buffer.from(this.o.presence(false)),
          qos: 1,
          retain: false,
        },
      });
    } catch (error) {
      this.o.logger.warn({ err: errorMessage(error), url: this.o.url }, 'MQTT connect failed');
      return 'failed';
    }
    if (this.stopSignal.signal.aborted) {
      await client.endAsync(true).catch(() => undefined);
      return 'failed';
    }
    this.client = client;
    let onClose: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      onClose = resolve;
    });
    const onError = (error: Error) => {
      this.o.logger.warn({ err: error.message }, 'MQTT client error');
    };
    const onMessage = (topic: string, payload: Buffer) => {
      this.dispatch(topic, payload);
    };
    client.on('close', onClose);
    client.on('error', onError);
    client.on('message', onMessage);
    let established = false;
    try {
      // trust/root first: its retained root is then handled before the retained desired state,
      // which may be signed with keys that root introduces.
      const granted = await client.subscribeAsync(
        [TRUST_ROOT_TOPIC, this.topics.desired, this.topics.cmd],
        { qos: 1 },
      );
      const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
      if (refused.length > 0) {
        this.o.logger.error({ topics: refused }, 'the broker refused subscriptions');
      }
      established = true;
      this.isConnected = true;
      this.o.logger.info({ url: this.o.url }, 'MQTT connected');
      try {
        await this.o.onConnected();
      } catch (error) {
        this.o.logger.error({ err: error }, 'onConnected failed');
      }
      await closed;
    } catch (error) {
      this.o.logger.warn({ err: errorMessage(error) }, 'MQTT subscribe failed');
    } finally {
      const wasConnected = this.isConnected;
      this.isConnected = false;
      this.client = undefined;
      const pending = this.pending;
      this.pending = new Set();
      for (const p of pending) p.reject(new Error('the MQTT connection closed before PUBACK'));
      if (!client.disconnected) await client.endAsync(true).catch(() => undefined);
      client.off('close', onClose);
      client.off('error', onError);
      client.off('message', onMessage);
      if (wasConnected) {
        this.o.logger.info('MQTT disconnected');
        this.o.onDisconnected();
      }
    }
    return established ? 'established' : 'failed';
  }

  private dispatch(topic: string, payload: Uint8Array): void {
    const parsed = parseTopic(topic);
    const kind: Inbound['kind'] | undefined = !parsed.ok
      ? undefined
      : parsed.value.kind === 'trust_root'
        ? 'trust_root'
        : parsed.value.deviceId !== this.o.deviceId
          ? undefined
          : parsed.value.kind === 'desired' || parsed.value.kind === 'cmd'
            ? parsed.value.kind
            : undefined;
    if (kind === undefined) {
      this.malformed('unexpected_topic', {
        ok: false,
        code: 'EF_MALFORMED',
        message: `message on unexpected topic ${JSON.stringify(topic.slice(0, 200))}`,
      });
      return;
    }
    try {
      switch (kind) {
        case 'desired': {
          const m = decodeMessage('desired', payload);
          if (m.ok) this.o.onMessage({ kind, message: m.value });
          else this.malformed(kind, m);
          return;
        }
        case 'cmd': {
          const m = decodeMessage('cmd', payload);
          if (m.ok) this.o.onMessage({ kind, message: m.value });
          else this.malformed(kind, m);
          return;
        }
        case 'trust_root': {
          const m = decodeMessage('trust_root', payload);
          if (m.ok) this.o.onMessage({ kind, message: m.value });
          else this.malformed(kind, m);
          return;
        }
      }
    } catch (error) {
      this.o.logger.error({ err: error, kind }, 'handling an MQTT message threw');
    }
  }

  private malformed(kind: InboundKind, failure: Failure): void {
    this.o.logger.warn({ kind, code: failure.code, err: failure.message }, 'MQTT message dropped');
    try {
      this.o.onMalformed(kind, failure);
    } catch (error) {
      this.o.logger.error({ err: error }, 'onMalformed threw');
    }
  }
}
