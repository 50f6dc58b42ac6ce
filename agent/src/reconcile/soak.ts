/**
 * The soak: after the switch, the new model must serve healthy traffic before the device reports
 * `succeeded` (ARCHITECTURE §4). Served inferences count (the local API and `Agent.infer`); requests
 * refused before reaching the model and `EF_BAD_REQUEST` failures (the caller's tensors) do not.
 *
 * The decision, pure:
 * - `failed` as soon as at least max(1, minInferences) inferences were served and the error rate is
 *   above `maxErrorRate` (no point serving a broken model for the rest of the soak);
 * - `passed` once minInferences were served and durationSec elapsed, with the rate within the limit
 *   (no traffic at all passes only when minInferences is 0);
 * - otherwise `continue`. Without traffic the soak waits: the control plane's wave timeout decides.
 */
import type { Soak } from '@edgefleet/protocol';

export interface SoakPolicy {
  readonly minInferences: number;
  readonly durationSec: number;
  readonly maxErrorRate: number;
}

export interface SoakProgress {
  readonly inferences: number;
  readonly errors: number;
  readonly elapsedMs: number;
}

export type SoakVerdict = 'continue' | 'passed' | 'failed';

/** The directive's soak, field by field over the agent's defaults. */
export function soakPolicy(directive: Soak | undefined, defaults: SoakPolicy): SoakPolicy {
  return {
    minInferences: directive?.minInferences ?? defaults.minInferences,
    durationSec: directive?.durationSec ?? defaults.durationSec,
    maxErrorRate: directive?.maxErrorRate ?? defaults.maxErrorRate,
  };
}

export function judgeSoak(progress: SoakProgress, policy: SoakPolicy): SoakVerdict {
  const { inferences, errors, elapsedMs } = progress;
  const rate = inferences === 0 ? 0 : errors / inferences;
  if (inferences >= Math.max(1, policy.minInferences) && rate > policy.maxErrorRate) {
    return 'failed';
  }
  if (inferences >= policy.minInferences && elapsedMs >= policy.durationSec * 1000) {
    return 'passed';
  }
  return 'continue';
}
