/**
 * The aedes hooks that enforce the broker rules (ARCHITECTURE §3): who may connect (rate limit,
 * credentials, client id), and what each principal may publish, subscribe to and receive (`acl.ts`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type {
  AedesOptions,
  AedesPublishPacket,
  AuthenticateError,
  Client,
  ConnectPacket,
  PublishPacket,
  Subscription,
} from 'aedes';
import { isValidDeviceId } from '@edgefleet/protocol';
import type { Logger } from 'pino';
import {
  authorizeControlPlanePublish,
  authorizeControlPlaneSubscribe,
  authorizeDevicePublish,
  authorizeDeviceSubscribe,
  type AclDecision,
  type AclDenyReason,
  type AclLimits,
} from './acl.js';
import type { ConnectRateLimiter } from './connect-rate-limiter.js';
import { CappedConnection } from './packet-cap.js';
import type { VerifiedTokenCache } from './verified-token-cache.js';

/** A refusal, for logs and metrics. */
export type BrokerRefusal =
  | {
      readonly kind: 'connect';
      readonly reason: ConnectRefusalReason;
      readonly clientId: string;
    }
  | {
      readonly kind: 'publish' | 'subscribe' | 'forward';
      readonly reason: AclDenyReason | 'unknown_principal';
      readonly clientId: string;
    }
  | {
      readonly kind: 'packet';
      readonly reason: 'packet_too_large' | 'malformed_length';
      readonly remoteAddress: string | undefined;
    }
  | { readonly kind: 'rate_limit'; readonly remoteAddress: string };

export type ConnectRefusalReason =
  'bad_credentials' | 'client_id_mismatch' | 'client_id_in_use' | 'auth_backend_failed';

export interface BrokerHooksOptions {
  readonly limits: AclLimits;
  readonly authenticateDevice: (deviceId: string, token: string) => Promise<boolean>;
  readonly controlPlaneCredentials: { readonly username: string; readonly password: string };
  readonly tokenCache: VerifiedTokenCache;
  readonly rateLimiter: ConnectRateLimiter | undefined;
  /** The kind of principal holding a live session with this client id, if any. */
  readonly liveSession: (clientId: string) => Principal['kind'] | undefined;
  readonly log: Logger;
  readonly report: (refusal: BrokerRefusal) => void;
}

/** The hooks to give aedes, and who each client turned out to be. */
export type BrokerHooks = Required<
  Pick<
    AedesOptions,
    'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'
  >
> & {
  /** The principal `client` authenticated as; undefined before authentication. */
  readonly principalOf: (client: Client) => Principal | undefined;
};

/** Who a client authenticated as. */
export type Principal =
  { readonly kind: 'device'; readonly deviceId: string } | { readonly kind: 'control_plane' };

/** CONNACK return codes that refuse a connection (MQTT 3.1.1 §3.2.2.3). */
type RefusalCode = 2 | 3 | 4 | 5;
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;

/** A token longer than this is refused unread: real device tokens are far shorter. */
const MAX_TOKEN_BYTES = 1024;

type ConnectOutcome =
  | { readonly ok: true; readonly principal: Principal }
  | {
      readonly ok: false;
      readonly reason: ConnectRefusalReason;
      readonly returnCode: RefusalCode;
    };

const refuse = (reason: ConnectRefusalReason, returnCode: RefusalCode): ConnectOutcome => ({
  ok: false,
  reason,
  returnCode,
});

const sha256 = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest();

function payloadBytes(packet: PublishPacket): number {
  return typeof packet.payload === 'string'
    ? Buffer.byteLength(packet.payload)
    : packet.payload.length;
}

/**
 * The hooks for one broker. They never throw into aedes: every refusal goes through aedes's callbacks
 * (and `report`), and a rejected `authenticateDevice` becomes CONNACK 3 (server unavailable).
 */
export function createBrokerHooks(options: BrokerHooksOptions): BrokerHooks {
  const { limits, authenticateDevice, tokenCache, rateLimiter, liveSession, log, report } = options;
  const controlPlaneUser = options.controlPlaneCredentials.username;
  const controlPlaneSecret = sha256(options.controlPlaneCredentials.password);
  const principals = new WeakMap<Client, Principal>();

  async function decideConnect(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<ConnectOutcome> {
    if (username === undefined || password === undefined || password.length > MAX_TOKEN_BYTES) {
      return refuse('bad_credentials', BAD_USERNAME_OR_PASSWORD);
    }
    if (username === controlPlaneUser) {
      if (!timingSafeEqual(sha256(password), controlPlaneSecret)) {
        return refuse('bad_credentials', BAD_USERNAME_OR_PASSWORD);
      }
      // A control-plane client must not take over a device's session either.
      if (liveSession(client.id) === 'device') {
        return refuse('client_id_in_use', IDENTIFIER_REJECTED);
      }
      return { ok: true, principal: { kind: 'control_plane' } };
    }
    if (!isValidDeviceId(username)) return refuse('bad_credentials', BAD_USERNAME_OR_PASSWORD);
    // Client id = username: a device can only ever take over its own session [MQTT-3.1.4-2], never
    // another client's [MQTT-3.1.3-9].
    if (client.id !== username) return refuse('client_id_mismatch', IDENTIFIER_REJECTED);
    if (liveSession(client.id) === 'control_plane') {
      return refuse('client_id_in_use', IDENTIFIER_REJECTED);
    }
    const token = password.toString('utf8');
    if (!tokenCache.has(username, token)) {
      if (!(await authenticateDevice(username, token))) {
        return refuse('bad_credentials', BAD_USERNAME_OR_PASSWORD);
      }
      tokenCache.remember(username, token);
    }
    return { ok: true, principal: { kind: 'device', deviceId: username } };
  }

  function authError(message: string, returnCode: RefusalCode): AuthenticateError {
    // aedes sends this return code in the CONNACK, then closes the connection [MQTT-3.2.2-5].
    // Its type, AuthErrorCode, is an ambient const enum that isolatedModules code cannot name; its
    // members are these very numbers.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
    return Object.assign(new Error(message), { returnCode });
  }

  function authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    decideConnect(client, username, password)
      .then(
        (outcome) => {
          if (outcome.ok) {
            principals.set(client, outcome.principal);
            done(null, true);
            return;
          }
          log.info({ clientId: client.id, username, reason: outcome.reason }, 'CONNECT refused');
          report({ kind: 'connect', reason: outcome.reason, clientId: client.id });
          done(authError(`connect refused: ${outcome.reason}`, outcome.returnCode), false);
        },
        (err: unknown) => {
          log.error({ err, clientId: client.id }, 'device authentication failed');
          report({ kind: 'connect', reason: 'auth_backend_failed', clientId: client.id });
          done(authError('authentication backend failed', SERVER_UNAVAILABLE), false);
        },
      )
      .catch((err: unknown) => {
        log.error({ err }, 'authenticate callback threw');
      });
  }

  function preConnect(
    client: Client,
    _packet: ConnectPacket,
    done: (error: Error | null, success: boolean) => void,
  ): void {
    if (rateLimiter) {
      const source =
        client.conn instanceof CappedConnection ? client.conn.remoteAddress : undefined;
      const key = source ?? 'unknown';
      if (!rateLimiter.tryAcquire(key)) {
        log.warn({ remoteAddress: key }, 'CONNECT refused: rate limit');
        report({ kind: 'rate_limit', remoteAddress: key });
        // An error (not just `false`) makes aedes close the connection instead of leaving it open.
        done(new Error('connect rate limit exceeded'), false);
        return;
      }
    }
    done(null, true);
  }

  function refused(
    kind: 'publish' | 'subscribe' | 'forward',
    client: Client | null,
    topic: string,
    decision: Extract<AclDecision, { allowed: false }> | { reason: 'unknown_principal' },
  ): void {
    const clientId = client?.id ?? '';
    log.info({ clientId, topic: topic.slice(0, 200), reason: decision.reason }, `${kind} refused`);
    report({ kind, reason: decision.reason, clientId });
  }

  function authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ): void {
    // client is null only for a will left by a broker that died: nobody to check it against.
    const principal = client ? principals.get(client) : undefined;
    if (!principal) {
      refused('publish', client, packet.topic, { reason: 'unknown_principal' });
      done(new Error('publish refused: unknown_principal'));
      return;
    }
    const facts = { qos: packet.qos, retain: packet.retain, bytes: payloadBytes(packet) };
    const decision =
      principal.kind === 'device'
        ? authorizeDevicePublish(principal.deviceId, packet.topic, facts, limits)
        : authorizeControlPlanePublish(packet.topic, facts, limits);
    if (decision.allowed) {
      done(null);
      return;
    }
    refused('publish', client, packet.topic, decision);
    // MQTT 3.1.1 cannot tell the client: aedes closes the connection [MQTT-3.3.5-2].
    done(new Error(`publish refused: ${decision.reason}`));
  }

  function authorizeSubscribe(
    client: Client,
    subscription: Subscription,
    done: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    const principal = principals.get(client);
    if (!principal) {
      refused('subscribe', client, subscription.topic, { reason: 'unknown_principal' });
      done(null, null);
      return;
    }
    const decision =
      principal.kind === 'device'
        ? authorizeDeviceSubscribe(principal.deviceId, subscription.topic, limits)
        : authorizeControlPlaneSubscribe(subscription.topic, limits);
    if (!decision.allowed) {
      refused('subscribe', client, subscription.topic, decision);
      done(null, null); // null = return code 0x80 (Failure) in the SUBACK, MQTT 3.1.1 §3.9.3
      return;
    }
    // Devices get at most QoS 1, like the Mosquitto device listener's max_qos.
    const qos = principal.kind === 'device' ? Math.min(subscription.qos, 1) : subscription.qos;
    done(null, { ...subscription, qos: qos as Subscription['qos'] });
  }

  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    // Defence in depth: subscriptions were checked, but a message reaches a device only if the device
    // could have subscribed to exactly its topic.
    const principal = principals.get(client);
    const decision: AclDecision | undefined =
      principal === undefined
        ? undefined
        : principal.kind === 'device'
          ? authorizeDeviceSubscribe(principal.deviceId, packet.topic, limits)
          : authorizeControlPlaneSubscribe(packet.topic, limits);
    if (decision?.allowed === true) return packet;
    refused('forward', client, packet.topic, decision ?? { reason: 'unknown_principal' });
    return null;
  }

  return {
    preConnect,
    authenticate,
    authorizePublish,
    authorizeSubscribe,
    authorizeForward,
    principalOf: (client) => principals.get(client),
  };
}
