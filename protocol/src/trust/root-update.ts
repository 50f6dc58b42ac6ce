/**
 * Root rotation (TUF spec §5.3 "Update the root metadata file"): from trusted root N, accept
 * root N+1 only if a threshold of N's root keys and a threshold of N+1's own root keys signed it.
 * Intermediate roots of a chain may have expired; the last one must not have.
 *
 * Rotating a role's keys resets the counters that role guards (TUF spec §5.3, fast-forward
 * attack recovery): an attacker who held the old deploy key may have pushed the directive counter
 * to 2^53-1; after rotation the counter starts over from 0 and only the new key is trusted.
 */
import { fail, ok, type Result } from '../errors.js';
import { type Root, type TrustRole } from './root.js';
import { checkNotExpired, checkRoleSignatures, openEnvelope } from './signed-document.js';
import type { TrustState } from './state.js';

/** Devices walk at most this many root versions in one update. */
export const MAX_ROOT_CHAIN = 32;

function sameKeys(a: TrustRole, b: TrustRole): boolean {
  const set = new Set(a.keyids);
  return set.size === new Set(b.keyids).size && b.keyids.every((k) => set.has(k));
}

/** Trust root N+1 given root N, without judging expiry (intermediate roots may be expired). */
function rotateOnce(state: TrustState, rootBytes: Uint8Array): Result<TrustState> {
  const opened = openEnvelope(rootBytes, 'root');
  if (!opened.ok) return opened;
  const next: Root = opened.value.signed;
  // [TUF 5.3, arbitrary software attack] signed by a threshold of the trusted root's root role ...
  const byTrusted = checkRoleSignatures(opened.value, state.root, 'root');
  if (!byTrusted.ok) return byTrusted;
  // [TUF 5.3, rollback attack] ... with version exactly N+1 (no skip, no replay, no rollback) ...
  if (next.version !== state.rootVersion + 1) {
    return fail(
      'EF_ROOT_VERSION_INVALID',
      `root version ${next.version} does not follow the trusted version ${state.rootVersion}`,
      { trusted: state.rootVersion, received: next.version },
    );
  }
  // [TUF 5.3, arbitrary software attack] ... and by a threshold of its own root role.
  const bySelf = checkRoleSignatures(opened.value, next, 'root');
  if (!bySelf.ok) return bySelf;
  const prev = state.root.roles;
  return ok({
    ...state,
    root: next,
    rootVersion: next.version,
    directiveCounter: sameKeys(prev.deploy, next.roles.deploy) ? state.directiveCounter : 0,
    releases: sameKeys(prev.release, next.roles.release) ? state.releases : {},
  });
}

/**
 * Trust the root that follows the trusted one. Refused (state untouched) unless it is well-formed,
 * version N+1, signed by thresholds of both root roles, and not expired at max(now, timeFloor).
 */
export function updateRoot(
  state: TrustState,
  newRootBytes: Uint8Array,
  now: number,
): Result<TrustState> {
  return updateRootChain(state, [newRootBytes], now);
}

/**
 * Walk roots N+1, N+2, ... in order (at most MAX_ROOT_CHAIN). Every step must be valid; only the
 * last root is judged for expiry. All or nothing: on failure the state is untouched.
 */
export function updateRootChain(
  state: TrustState,
  rootsBytes: readonly Uint8Array[],
  now: number,
): Result<TrustState> {
  if (rootsBytes.length > MAX_ROOT_CHAIN) {
    return fail(
      'EF_ROOT_CHAIN_TOO_LONG',
      `${rootsBytes.length} roots offered; at most ${MAX_ROOT_CHAIN} are walked in one update`,
      { length: rootsBytes.length, max: MAX_ROOT_CHAIN },
    );
  }
  let current = state;
  for (const bytes of rootsBytes) {
    const next = rotateOnce(current, bytes);
    if (!next.ok) return next;
    current = next.value;
  }
  if (current === state) return ok(state);
  // [TUF 5.3, freeze attack] the final root must not be expired.
  const fresh = checkNotExpired('root', current.root.expires, now, state.timeFloor);
  if (!fresh.ok) return fresh;
  return ok(current);
}
