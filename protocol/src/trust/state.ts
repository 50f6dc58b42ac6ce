/**
 * What a device persists about trust: the root it trusts, the last directive counter it accepted,
 * the release counter and hash it installed per model, and a time floor that only moves forward.
 * Every function here is pure and returns a new state; the state it was given is never changed.
 */
import { z } from 'zod';
import { type Result, ok } from '../errors.js';
import { Sha256HexSchema } from '../crypto/sha256.js';
import { CounterSchema, TrustNameSchema } from './fields.js';
import { releaseSha256, type ReleaseDocument } from './release.js';
import { RootSchema } from './root.js';
import { checkRoleSignatures, openEnvelope } from './signed-document.js';
import { parseWith } from './validate.js';

export const InstalledReleaseSchema = z.strictObject({
  counter: CounterSchema,
  sha256: Sha256HexSchema,
});

export const TrustStateSchema = z
  .strictObject({
    /** The signed part of the trusted root. */
    root: RootSchema,
    rootVersion: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    /** The last directive counter accepted; 0 before the first (or after a deploy key rotation). */
    directiveCounter: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    /** Installed release per model name: the rollback floor for that model. */
    releases: z.record(TrustNameSchema, InstalledReleaseSchema),
    /** Milliseconds since the epoch; expiry is judged against max(clock, timeFloor). */
    timeFloor: z.number().min(0).max(Number.MAX_SAFE_INTEGER),
  })
  .refine((s) => s.rootVersion === s.root.version, {
    error: 'rootVersion must equal root.version',
    path: ['rootVersion'],
  });

export type TrustState = z.infer<typeof TrustStateSchema>;
export type InstalledRelease = z.infer<typeof InstalledReleaseSchema>;

/** Validate a persisted trust state (as read back from disk). */
export function parseTrustState(value: unknown): Result<TrustState> {
  return parseWith(TrustStateSchema, value, 'trust state');
}

/**
 * The state of a device enrolled with `rootBytes` as its pinned root (trusted on enrollment, so not
 * checked for expiry, but it must be well-formed and signed by a threshold of its own root role).
 */
export function initTrustState(
  rootBytes: Uint8Array,
  options: { readonly timeFloor?: number } = {},
): Result<TrustState> {
  const opened = openEnvelope(rootBytes, 'root');
  if (!opened.ok) return opened;
  const root = opened.value.signed;
  const signed = checkRoleSignatures(opened.value, root, 'root');
  if (!signed.ok) return signed;
  return ok({
    root,
    rootVersion: root.version,
    directiveCounter: 0,
    releases: {},
    timeFloor: options.timeFloor ?? 0,
  });
}

/**
 * Record that `release` is now installed: its counter becomes the rollback floor for its model.
 * A release below the recorded counter (the agent's local revert) leaves the record as it is, so
 * reverting never lowers the floor.
 */
export function recordInstalled(state: TrustState, release: ReleaseDocument): TrustState {
  const name = release.model.name;
  const current = Object.hasOwn(state.releases, name) ? state.releases[name] : undefined;
  if (current !== undefined && current.counter > release.releaseCounter) return state;
  return {
    ...state,
    releases: {
      ...state.releases,
      [name]: { counter: release.releaseCounter, sha256: releaseSha256({ signed: release }) },
    },
  };
}
