/**
 * Root rotation from the retained `trust/root` message: walk the chain from the trusted version
 * (TUF spec §5.3). The message carries the chain from version 2 up; only the versions above the
 * trusted one are walked, and all of them must be valid or nothing changes. Counters of rotated
 * roles are reset by the protocol's `updateRootChain`.
 */
import {
  ok,
  openEnvelope,
  updateRootChain,
  type Result,
  type TrustRootMessage,
  type TrustState,
} from '@edgefleet/protocol';
import type { TrustStore } from '../config/trust-store.js';

export interface RotationOutcome {
  readonly from: number;
  readonly to: number;
}

const encoder = new TextEncoder();

/** The roots of `message` above `state.rootVersion`, in message order. */
export function newerRoots(state: TrustState, message: TrustRootMessage): Result<Uint8Array[]> {
  const newer: Uint8Array[] = [];
  for (const text of message.roots) {
    const bytes = encoder.encode(text);
    const opened = openEnvelope(bytes, 'root');
    if (!opened.ok) return opened;
    if (opened.value.signed.version > state.rootVersion) newer.push(bytes);
  }
  return ok(newer);
}

/** Apply a `trust_root` message; persisted before it resolves. */
export async function applyTrustRoot(
  trust: TrustStore,
  message: TrustRootMessage,
  now: number,
): Promise<Result<RotationOutcome>> {
  const from = trust.state.rootVersion;
  const result = await trust.update((state) => {
    const newer = newerRoots(state, message);
    if (!newer.ok) return newer;
    if (newer.value.length === 0) return ok(state);
    return updateRootChain(state, newer.value, now);
  });
  if (!result.ok) return result;
  return ok({ from, to: result.value.rootVersion });
}
