/**
 * Retry timing of webhook deliveries: exponential backoff with jitter, so that receivers coming back
 * after an outage are not hit by every pending delivery at the same instant.
 */

export interface RetryPolicy {
  /** Attempts in all (the first included) before a delivery is given up as `dead` (default 10). */
  readonly maxAttempts: number;
  /** Delay after the first failed attempt, ms (default 5 s); doubled after each further failure. */
  readonly baseDelayMs: number;
  /** Upper bound of one delay, ms (default 1 h). */
  readonly maxDelayMs: number;
  /** Fraction of each delay taken off at random, in [0, 1] (default 0.5: between d/2 and d). */
  readonly jitter: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 10,
  baseDelayMs: 5_000,
  maxDelayMs: 3_600_000,
  jitter: 0.5,
});

/**
 * Delay before the next attempt after `failedAttempts` failures (>= 1), or undefined when the
 * policy allows no more attempts. `random()` returns values in [0, 1).
 */
export function retryDelayMs(
  failedAttempts: number,
  policy: RetryPolicy,
  random: () => number,
): number | undefined {
  if (failedAttempts >= policy.maxAttempts) return undefined;
  const exponential = policy.baseDelayMs * 2 ** Math.max(0, failedAttempts - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  return Math.round(capped * (1 - policy.jitter * random()));
}
