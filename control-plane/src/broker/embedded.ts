/**
 * The embedded MQTT broker (aedes 1.x, MQTT 3.1.1) that `edgefleet server` runs by default, with the
 * broker rules of ARCHITECTURE §3: per-device credentials, clientId = username = device id, the ACL of
 * `acl.ts`, a byte cap per packet, and a CONNECT rate limit per source address.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type Client } from 'aedes';
import type { Logger } from 'pino';
import { DEFAULT_ACL_LIMITS, type AclLimits } from './acl.js';
import { createBrokerHooks, type BrokerRefusal } from './aedes-hooks.js';
import { ConnectRateLimiter, type ConnectRateLimit } from './connect-rate-limiter.js';
import { CappedConnection, clampPacketCap, type PacketScan } from './packet-cap.js';
import { VerifiedTokenCache } from './verified-token-cache.js';

export interface EmbeddedBrokerOptions {
  /** TCP port (default 1883); 0 picks a free one, read it back from {@link EmbeddedBroker.port}. */
  readonly port?: number;
  /** Address to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Checks a device token (username = device id, password = token). Rejections refuse the CONNECT. */
  readonly authenticateDevice: (deviceId: string, token: string) => Promise<boolean>;
  /** The control plane's own MQTT user, allowed `edgefleet/v1/#` (retain included). */
  readonly controlPlaneCredentials: { readonly username: string; readonly password: string };
  /** Largest inbound packet, in bytes, header included (default 256 KiB). */
  readonly maxPacketBytes?: number;
  /** Most topic levels (default 8). */
  readonly maxTopicLevels?: number;
  /** Longest topic, in UTF-8 bytes (default 256). */
  readonly maxTopicBytes?: number;
  /** CONNECTs per source address (default 20/s, burst 100), or false for none. */
  readonly connectRateLimit?: ConnectRateLimit | false;
  /** How long a verified device token is trusted without asking again (default 30 s, 10 000 devices). */
  readonly authCache?: { readonly ttlMs: number; readonly maxEntries: number };
  readonly logger: Logger;
  /** Called when a device's session starts (true) or ends (false). Must not throw. */
  readonly onPresence?: (deviceId: string, online: boolean) => void;
  /** Called for every refusal, for metrics. Must not throw. */
  readonly onRefused?: (refusal: BrokerRefusal) => void;
  /** Clock in ms for the rate limit and the token cache (default `performance.now`). */
  readonly now?: () => number;
}

export type { BrokerRefusal, ConnectRefusalReason } from './aedes-hooks.js';

export interface EmbeddedBroker {
  /** The port actually listened on. */
  readonly port: number;
  /** `mqtt://host:port`. */
  readonly url: string;
  /** The aedes instance, e.g. for in-process publishing by the control plane. */
  readonly aedes: Aedes;
  /** Stop accepting, close every connection, release every handle. Idempotent. */
  close(): Promise<void>;
  /**
   * Close a device's session (e.g. after its token was revoked) and forget its cached token.
   * Resolves to false if the device was not connected.
   */
  disconnectDevice(deviceId: string): Promise<boolean>;
  /** Ids of the devices with a session now. */
  connectedDevices(): string[];
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** Start the embedded broker and listen on TCP. Throws on a configuration mistake or a taken port. */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const {
    port = 1883,
    host = '127.0.0.1',
    authenticateDevice,
    controlPlaneCredentials,
    maxPacketBytes = 256 * 1024,
    maxTopicLevels = DEFAULT_ACL_LIMITS.maxTopicLevels,
    maxTopicBytes = DEFAULT_ACL_LIMITS.maxTopicBytes,
    connectRateLimit = { perSecond: 20, burst: 100 },
    authCache = { ttlMs: 30_000, maxEntries: 10_000 },
    logger,
    onPresence,
    onRefused,
    now = () => performance.now(),
  } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError(`MQTT port must be an integer from 0 to 65535, got ${port}`);
  }
  if (!Number.isInteger(maxPacketBytes) || maxPacketBytes < 20) {
    throw new TypeError('maxPacketBytes must be an integer >= 20');
  }
  if (!Number.isInteger(maxTopicLevels) || maxTopicLevels < 1 || maxTopicLevels > 100) {
    // aedes routes through qlobber, which cannot take more than 100 levels.
    throw new TypeError('maxTopicLevels must be an integer from 1 to 100');
  }
  if (
    controlPlaneCredentials.username.length === 0 ||
    controlPlaneCredentials.password.length === 0
  ) {
    throw new TypeError('the control plane MQTT username and password must not be empty');
  }
  const packetCap = clampPacketCap(maxPacketBytes);
  const limits: AclLimits = { maxTopicLevels, maxTopicBytes, maxPayloadBytes: packetCap };
  const tokenCache = new VerifiedTokenCache({ ...authCache, now });
  const rateLimiter =
    connectRateLimit === false ? undefined : new ConnectRateLimiter({ ...connectRateLimit, now });
  const log = logger.child({ component: 'mqtt-broker' });

  /** Device id -> its live client. Client id = device id for devices. */
  const devices = new Map<string, Client>();
  /** Client id -> live control-plane client. */
  const controlPlaneClients = new Map<string, Client>();

  function report(refusal: BrokerRefusal): void {
    try {
      onRefused?.(refusal);
    } catch (err) {
      log.error({ err }, 'onRefused threw');
    }
  }

  function setPresence(deviceId: string, online: boolean): void {
    try {
      onPresence?.(deviceId, online);
    } catch (err) {
      log.error({ err, deviceId }, 'onPresence threw');
    }
  }

  const hooks = createBrokerHooks({
    limits,
    authenticateDevice,
    controlPlaneCredentials,
    tokenCache,
    rateLimiter,
    liveSession: (clientId) =>
      devices.has(clientId)
        ? 'device'
        : controlPlaneClients.has(clientId)
          ? 'control_plane'
          : undefined,
    log,
    report,
  });
  const { principalOf, ...aedesHooks } = hooks;
  const aedes = await Aedes.createBroker({ ...aedesHooks, connectTimeout: 10_000 });

  // 'client' is emitted when the session is registered, before the CONNACK is sent: a client that has
  // its CONNACK is already listed.
  aedes.on('client', (client) => {
    const principal = principalOf(client);
    if (principal?.kind === 'device') {
      devices.set(principal.deviceId, client);
      log.debug({ deviceId: principal.deviceId }, 'device connected');
      setPresence(principal.deviceId, true);
    } else if (principal?.kind === 'control_plane') {
      controlPlaneClients.set(client.id, client);
    }
  });
  aedes.on('clientDisconnect', (client) => {
    const principal = principalOf(client);
    // Only the live session counts: a session taken over by a reconnect ends after the new one began.
    if (principal?.kind === 'device' && devices.get(principal.deviceId) === client) {
      devices.delete(principal.deviceId);
      log.debug({ deviceId: principal.deviceId }, 'device disconnected');
      setPresence(principal.deviceId, false);
    } else if (
      principal?.kind === 'control_plane' &&
      controlPlaneClients.get(client.id) === client
    ) {
      controlPlaneClients.delete(client.id);
    }
  });
  aedes.on('clientError', (client, err) => {
    log.debug({ clientId: client.id, err: err.message }, 'client error');
  });
  aedes.on('connectionError', (_client, err) => {
    log.debug({ err: err.message }, 'connection error');
  });

  function onOversized(scan: Exclude<PacketScan, { ok: true }>, conn: CappedConnection): void {
    const reason = scan.reason === 'too_large' ? 'packet_too_large' : 'malformed_length';
    log.warn(
      {
        remoteAddress: conn.remoteAddress,
        reason,
        declaredBytes: scan.reason === 'too_large' ? scan.declaredBytes : undefined,
        maxPacketBytes: packetCap,
      },
      'connection closed: packet over the byte cap',
    );
    report({ kind: 'packet', reason, remoteAddress: conn.remoteAddress });
  }

  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    aedes.handle(new CappedConnection(socket, packetCap, onOversized));
  });

  try {
    await listen(server, port, host);
  } catch (err) {
    await new Promise<void>((resolve) => {
      aedes.close(resolve);
    });
    const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
    throw new Error(
      inUse
        ? `MQTT port ${port} on ${host} is already in use: choose another port (0 picks a free one)`
        : `cannot listen for MQTT on ${host}:${port}`,
      { cause: err },
    );
  }
  server.on('error', (err) => {
    log.error({ err }, 'MQTT listener error');
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  log.info({ host, port: boundPort }, 'embedded MQTT broker listening');

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    await new Promise<void>((resolve) => {
      aedes.close(resolve);
    });
    // Connections that never completed a CONNECT are not aedes clients: end them here.
    for (const socket of sockets) socket.destroy();
    await serverClosed;
    log.info('embedded MQTT broker closed');
  }

  return {
    port: boundPort,
    url: `mqtt://${urlHost}:${boundPort}`,
    aedes,
    close: () => (closing ??= close()),
    async disconnectDevice(deviceId: string): Promise<boolean> {
      tokenCache.forget(deviceId);
      const client = devices.get(deviceId);
      if (!client) return false;
      await new Promise<void>((resolve) => {
        client.close(resolve);
      });
      return true;
    },
    connectedDevices: () => [...devices.keys()],
  };
}
