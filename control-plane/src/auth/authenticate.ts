/**
 * Who is calling the HTTP API. Operators send `Authorization: Bearer <token>`; devices send their MQTT
 * credentials as `Authorization: Basic base64(deviceId:deviceToken)`, the same pair the broker checks.
 */
import { randomBytes } from 'node:crypto';
import { verifyToken } from '../broker/password.js';
import { VerifiedTokenCache } from '../broker/verified-token-cache.js';
import type { Database } from '../db/database.js';
import { getDevice } from '../db/devices.js';
import {
  findActiveOperatorToken,
  hashToken,
  listActiveDeviceTokens,
  markOperatorTokenUsed,
} from '../db/tokens.js';
import type { Principal } from '../http/route.js';

export type Credentials =
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string };

/** Parse an Authorization header (undefined when absent or unparseable). */
export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) return { kind: 'bearer', token: bearer[1]! };
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (basic) {
    const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const i = text.indexOf(':');
    if (i > 0) return { kind: 'basic', username: text.slice(0, i), password: text.slice(i + 1) };
  }
  return undefined;
}

/** A new random token: a recognisable prefix and 32 random bytes (base64url). */
export function newToken(prefix: 'efo' | 'efe' | 'efd'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export interface AuthenticatorOptions {
  readonly now?: () => Date;
  /** How long a verified device credential is trusted without a database read (default 30 s). */
  readonly deviceCacheTtlMs?: number;
}

export interface Authenticator {
  (authorization: string | undefined): Promise<Principal | undefined>;
  /** Check a device's MQTT credentials (also used by the embedded broker). */
  verifyDevice(deviceId: string, token: string): Promise<boolean>;
  /** Forget cached credentials of a device (after decommissioning). */
  forgetDevice(deviceId: string): void;
}

export function createAuthenticator(
  db: Database,
  options: AuthenticatorOptions = {},
): Authenticator {
  const now = options.now ?? (() => new Date());
  const cache = new VerifiedTokenCache({
    ttlMs: options.deviceCacheTtlMs ?? 30_000,
    maxEntries: 100_000,
    now: () => now().getTime(),
  });

  async function verifyDevice(deviceId: string, token: string): Promise<boolean> {
    if (cache.has(deviceId, token)) return true;
    const device = await getDevice(db, deviceId);
    if (device?.status !== 'active') return false;
    for (const t of await listActiveDeviceTokens(db, deviceId)) {
      if (await verifyToken(token, t.tokenHash)) {
        cache.remember(deviceId, token);
        return true;
      }
    }
    return false;
  }

  const authenticate = async function authenticate(
    authorization: string | undefined,
  ): Promise<Principal | undefined> {
    const creds = parseAuthorization(authorization);
    if (!creds) return undefined;
    if (creds.kind === 'basic') {
      return (await verifyDevice(creds.username, creds.password))
        ? { kind: 'device', deviceId: creds.username }
        : undefined;
    }
    const at = now();
    const token = await findActiveOperatorToken(db, hashToken(creds.token), at);
    if (!token) return undefined;
    await markOperatorTokenUsed(db, token.id, at);
    return { kind: 'operator', tokenId: token.id, name: token.name, role: token.role };
  } as Authenticator;
  authenticate.verifyDevice = verifyDevice;
  authenticate.forgetDevice = (deviceId: string) => {
    cache.forget(deviceId);
  };
  return authenticate;
}
