/**
 * Test support: real MQTT.js clients (MQTT 3.1.1) that record what happens to them, so broker tests
 * wait on events (CONNACK, SUBACK, message, close) with bounded timeouts instead of sleeping.
 */
import { randomUUID } from 'node:crypto';
import { ErrorWithSubackPacket, connectAsync, type IClientOptions, type MqttClient } from 'mqtt';

export const EVENT_TIMEOUT_MS = 5_000;

export interface Credentials {
  readonly clientId: string;
  readonly username: string;
  readonly password: string;
  /** Last will, published by the broker if the connection drops without DISCONNECT. */
  readonly will?: IClientOptions['will'];
}

export interface ReceivedMessage {
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
}

/** Reject after `ms` unless `promise` settles first. */
export async function within<T>(
  promise: Promise<T>,
  what: string,
  ms = EVENT_TIMEOUT_MS,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A unique payload to tell messages of one test apart. */
export const uniquePayload = (label: string): string => `${label}:${randomUUID()}`;

/** A connected client plus what it has seen: messages, errors, and whether its connection closed. */
export class Probe {
  readonly messages: ReceivedMessage[] = [];
  readonly errors: Error[] = [];
  /** Resolves when the network connection closes (for any reason). */
  readonly closed: Promise<void>;
  #isClosed = false;
  #waiters = new Set<() => void>();
  readonly #onMessage = (topic: string, payload: Buffer, packet: { retain: boolean }) => {
    this.messages.push({ topic, payload: payload.toString('utf8'), retain: packet.retain });
    for (const wake of this.#waiters) wake();
  };
  readonly #onError = (err: Error) => this.errors.push(err);
  #onClose: () => void = () => undefined;

  constructor(readonly client: MqttClient) {
    this.closed = new Promise((resolve) => {
      this.#onClose = () => {
        this.#isClosed = true;
        resolve();
      };
    });
    client.on('message', this.#onMessage);
    client.on('error', this.#onError);
    client.on('close', this.#onClose);
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Wait for a message matching `match` (already received, or still to come). */
  async waitFor(match: (m: ReceivedMessage) => boolean, what: string): Promise<ReceivedMessage> {
    const found = () => this.messages.find(match);
    let wake: () => void = () => undefined;
    const arrived = new Promise<ReceivedMessage>((resolve) => {
      wake = () => {
        const m = found();
        if (m) resolve(m);
      };
    });
    this.#waiters.add(wake);
    try {
      wake();
      return await within(arrived, what);
    } finally {
      this.#waiters.delete(wake);
    }
  }

  /** Wait for a message with exactly this payload. */
  waitForPayload(payload: string): Promise<ReceivedMessage> {
    return this.waitFor((m) => m.payload === payload, `message ${payload}`);
  }

  hasPayload(payload: string): boolean {
    return this.messages.some((m) => m.payload === payload);
  }

  /** Subscribe and return the granted QoS of the (single) filter: 128 = refused, 'closed' = dropped. */
  async grantedQos(filter: string, qos: 0 | 1 | 2 = 1): Promise<number | 'closed'> {
    const suback = this.client.subscribeAsync(filter, { qos }).then(
      (granted) => granted[0]?.qos ?? -1,
      (err: unknown) => {
        if (err instanceof ErrorWithSubackPacket) {
          const code = err.packet.granted[0];
          return typeof code === 'number' ? code : -1;
        }
        return 'closed' as const;
      },
    );
    return within(
      Promise.race([suback, this.closed.then(() => 'closed' as const)]),
      `SUBACK for ${filter}`,
    );
  }

  /** Disconnect and detach every listener. */
  async end(): Promise<void> {
    await this.client.endAsync(true);
    this.client.off('message', this.#onMessage);
    this.client.off('error', this.#onError);
    this.client.off('close', this.#onClose);
  }
}

const clientOptions = (c: Credentials): IClientOptions => ({
  protocolVersion: 4,
  clientId: c.clientId,
  username: c.username,
  password: c.password,
  ...(c.will === undefined ? {} : { will: c.will }),
  clean: true,
  reconnectPeriod: 0,
  connectTimeout: EVENT_TIMEOUT_MS,
  keepalive: 30,
});

/** Connect or throw. */
export async function connectProbe(url: string, credentials: Credentials): Promise<Probe> {
  // MQTT.js gives up (and ends the client) after connectTimeout; this outer bound only reports a hang.
  const client = await within(
    connectAsync(url, clientOptions(credentials), false),
    `CONNACK for ${credentials.clientId}`,
    EVENT_TIMEOUT_MS + 1_000,
  );
  return new Probe(client);
}

/** The outcome of a CONNECT that may be refused. */
export type ConnectAttempt =
  | { readonly outcome: 'connected'; readonly probe: Probe }
  | { readonly outcome: 'refused'; readonly returnCode: number }
  | { readonly outcome: 'closed' };

export async function tryConnect(url: string, credentials: Credentials): Promise<ConnectAttempt> {
  try {
    return { outcome: 'connected', probe: await connectProbe(url, credentials) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'number'
      ? { outcome: 'refused', returnCode: code }
      : { outcome: 'closed' };
  }
}
