/**
 * The root document (TUF spec §4.3): the keys of the system and, per role, which of them sign and
 * how many must. A device pins root N at enrollment and later trusts root N+1 only if both N's and
 * N+1's root role signed it (see root-update.ts).
 */
import { z } from 'zod';
import { type Envelope, signEnvelope } from '../crypto/envelope.js';
import {
  keyIdOf,
  type PublicKeyObject,
  PublicKeyObjectSchema,
  SigningKey,
} from '../crypto/keys.js';
import { Sha256HexSchema } from '../crypto/sha256.js';
import { SpecVersionSchema, TimestampSchema, TRUST_SPEC_VERSION } from './fields.js';
import { addCodedIssue, orThrow, parseWith } from './validate.js';

/** The roles a root document defines. */
export const TRUST_ROLE_NAMES = ['root', 'release', 'deploy'] as const;
export type TrustRoleName = (typeof TRUST_ROLE_NAMES)[number];

export const MAX_ROLE_KEYS = 32;
export const MAX_ROOT_KEYS = 64;

/** A role: distinct key ids and a threshold between 1 and their number. */
export const TrustRoleSchema = z
  .strictObject({
    keyids: z.array(Sha256HexSchema).min(1).max(MAX_ROLE_KEYS),
    threshold: z.number().int(),
  })
  .superRefine((role, ctx) => {
    if (new Set(role.keyids).size !== role.keyids.length) {
      // A key listed twice would count twice toward the threshold.
      ctx.addIssue({ code: 'custom', message: 'key ids must be distinct', path: ['keyids'] });
    }
    if (role.threshold < 1 || role.threshold > role.keyids.length) {
      addCodedIssue(
        ctx,
        'EF_THRESHOLD_INVALID',
        `threshold ${role.threshold} is not between 1 and the role's ${role.keyids.length} keys`,
        ['threshold'],
      );
    }
  });

export type TrustRole = z.infer<typeof TrustRoleSchema>;

export const RootSchema = z
  .strictObject({
    _type: z.literal('root'),
    specVersion: SpecVersionSchema,
    version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    expires: TimestampSchema,
    keys: z.record(Sha256HexSchema, PublicKeyObjectSchema),
    roles: z.strictObject({
      root: TrustRoleSchema,
      release: TrustRoleSchema,
      deploy: TrustRoleSchema,
    }),
  })
  .superRefine((root, ctx) => {
    const keyids = Object.keys(root.keys);
    if (keyids.length > MAX_ROOT_KEYS) {
      ctx.addIssue({ code: 'custom', message: `more than ${MAX_ROOT_KEYS} keys`, path: ['keys'] });
    }
    for (const keyid of keyids) {
      // Otherwise one key could be listed under two ids and count twice toward a threshold.
      if (keyIdOf(root.keys[keyid]!) !== keyid) {
        ctx.addIssue({
          code: 'custom',
          message: 'key id is not the sha256 of the canonical key object',
          path: ['keys', keyid],
        });
      }
    }
    for (const name of TRUST_ROLE_NAMES) {
      for (const keyid of root.roles[name].keyids) {
        if (!Object.hasOwn(root.keys, keyid)) {
          ctx.addIssue({
            code: 'custom',
            message: `key id ${keyid} is not listed in keys`,
            path: ['roles', name, 'keyids'],
          });
        }
      }
    }
  });

/** The signed part of a root document. */
export type Root = z.infer<typeof RootSchema>;

/** The keys and threshold of one role, as given to `createRoot`. */
export interface TrustRoleKeys {
  readonly keys: readonly (PublicKeyObject | SigningKey)[];
  readonly threshold: number;
}

export interface CreateRootOptions {
  /** 1 for the first root; N+1 for the successor of root N. */
  readonly version: number;
  /** ISO-8601 UTC. */
  readonly expires: string;
  readonly roles: Readonly<Record<TrustRoleName, TrustRoleKeys>>;
  /** Default TRUST_SPEC_VERSION. */
  readonly specVersion?: string;
}

/** Build a root document. Throws EdgefleetError (EF_THRESHOLD_INVALID, EF_MALFORMED) if it is invalid. */
export function createRoot(options: CreateRootOptions): Root {
  const keys: Record<string, PublicKeyObject> = {};
  const role = (r: TrustRoleKeys): TrustRole => {
    const keyids = r.keys.map((k) => {
      const pub = k instanceof SigningKey ? k.publicKey : k;
      const keyid = keyIdOf(pub);
      keys[keyid] = pub;
      return keyid;
    });
    return { keyids, threshold: r.threshold };
  };
  const root = {
    _type: 'root',
    specVersion: options.specVersion ?? TRUST_SPEC_VERSION,
    version: options.version,
    expires: options.expires,
    roles: {
      root: role(options.roles.root),
      release: role(options.roles.release),
      deploy: role(options.roles.deploy),
    },
    keys,
  };
  return orThrow(parseWith(RootSchema, root, 'root'));
}

/** Sign a root document with the root role's keys (of this root and, when rotating, the previous one). */
export function signRoot(root: Root, keys: readonly SigningKey[]): Envelope<Root> {
  return signEnvelope(orThrow(parseWith(RootSchema, root, 'root')), keys);
}
