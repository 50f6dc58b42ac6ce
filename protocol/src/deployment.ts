/**
 * The device deployment state machine (ARCHITECTURE §4). State names are part of the contract: the
 * agent reports every transition on `status`, the control plane stores them, the dashboard shows them.
 *
 *   assigned -> downloading -> verifying -> staged -> activating -> soaking -> succeeded
 *
 * Before activation nothing on the device has changed, so a problem ends in `failed(reason)` and the
 * previous model keeps serving. From `activating` on, the new model was (being) switched in, so a problem
 * ends in `rolled_back(reason)`: the agent went back to the previous model by itself.
 */
import type { ReasonCode } from './errors.js';

export const DEPLOYMENT_STATES = [
  /** The device accepted a verified directive and queued the install. */
  'assigned',
  /** Fetching the release's files (resumable, length- and hash-checked while streaming). */
  'downloading',
  /** All files are on disk; checking them against the signed release and loading the model. */
  'verifying',
  /** Verified and loaded into the inactive slot; health check passed. */
  'staged',
  /** Switching the active slot (atomic rename + fsync). */
  'activating',
  /** Serving with the new model; counting healthy inferences before declaring success. */
  'soaking',
  /** The new model served a healthy soak. Terminal. */
  'succeeded',
  /** Refused or failed before activation; the previous model is untouched. Terminal. */
  'failed',
  /** Failed after activation; the agent reverted to the previous model. Terminal. */
  'rolled_back',
] as const;

export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

export const TERMINAL_DEPLOYMENT_STATES: ReadonlySet<DeploymentState> = new Set([
  'succeeded',
  'failed',
  'rolled_back',
]);

const NEXT: Readonly<Record<DeploymentState, readonly DeploymentState[]>> = {
  assigned: ['downloading', 'failed'],
  downloading: ['verifying', 'failed'],
  verifying: ['staged', 'failed'],
  staged: ['activating', 'failed'],
  activating: ['soaking', 'rolled_back'],
  soaking: ['succeeded', 'rolled_back'],
  succeeded: [],
  failed: [],
  rolled_back: [],
};

/** True if the machine allows `from -> to`. */
export function canTransition(from: DeploymentState, to: DeploymentState): boolean {
  return NEXT[from].includes(to);
}

/** True for `succeeded`, `failed` and `rolled_back`. */
export function isTerminal(state: DeploymentState): boolean {
  return TERMINAL_DEPLOYMENT_STATES.has(state);
}

/** Terminal states that carry a reason code. */
export function needsReason(state: DeploymentState): boolean {
  return state === 'failed' || state === 'rolled_back';
}

/** The reason codes a device may report with `failed` or `rolled_back`. */
export const DEPLOYMENT_REASONS = [
  'malformed',
  'not_canonical',
  'too_large',
  'signature_invalid',
  'threshold_invalid',
  'wrong_type',
  'expired',
  'rollback_refused',
  'wrong_device',
  'incompatible',
  'mix_and_match',
  'path_invalid',
  'extraneous_file',
  'hash_mismatch',
  'length_mismatch',
  'download_failed',
  'disk_full',
  'load_failed',
  'health_check_failed',
  'soak_failed',
  'superseded',
  'internal',
] as const satisfies readonly ReasonCode[];

export type DeploymentReason = (typeof DEPLOYMENT_REASONS)[number];
