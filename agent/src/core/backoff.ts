/**
 * Jittered exponential back-off ("equal jitter"): attempt n waits a random time in
 * [d/2, d] with d = min(cap, base * 2^n). Half the delay is fixed, so a fleet that lost its broker
 * at the same moment spreads its reconnects out without any device retrying at once.
 */

export interface BackoffOptions {
  /** Delay of the first retry, before jitter; default 1000 ms. */
  readonly baseMs?: number;
  /** Largest delay; default 60 000 ms. */
  readonly capMs?: number;
}

/** The delay before retry `attempt` (0-based), with `random()` in [0, 1). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const base = options.baseMs ?? 1000;
  const cap = options.capMs ?? 60_000;
  if (base <= 0) return 0;
  const ceiling = Math.min(cap, base * 2 ** Math.min(Math.max(0, attempt), 52));
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}
