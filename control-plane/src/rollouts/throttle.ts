/**
 * How fast a rollout may go: the rate limit (directives per minute, ramping up exponentially after
 * successes), the disruption budget (devices updating at once) and the maintenance window. Pure
 * functions of the rollout's own history, so they hold across restarts without extra state.
 */
import type { MaintenanceWindow, RateSpec, Weekday } from './spec.js';
import { WEEKDAYS } from './spec.js';

export const MINUTE_MS = 60_000;

/**
 * Directives allowed per minute once `succeeded` devices succeeded: `maxPerMinute`, multiplied by
 * `rampFactor` for every `rampAfter` successes when a ramp is set, up to `rampMaxPerMinute`.
 */
export function effectiveRate(rate: RateSpec, succeeded: number): number {
  if (rate.rampAfter === undefined) return rate.maxPerMinute;
  const steps = Math.floor(succeeded / rate.rampAfter);
  const ceiling = rate.rampMaxPerMinute ?? Number.MAX_SAFE_INTEGER;
  // factor >= 1.000...1, so the exponent that reaches any safe ceiling is bounded; cap it to stay finite.
  const ramped = rate.maxPerMinute * rate.rampFactor ** Math.min(steps, 1024);
  return Math.floor(Math.min(ceiling, ramped));
}

/**
 * How many more directives may go out at `now` without exceeding `perMinute` in the 60 seconds that end
 * at `now`. Because every directive is checked this way when it is sent, no 60-second window ever holds
 * more than the rate in force at its last directive.
 */
export function rateAllowance(perMinute: number, sentAtMs: Iterable<number>, now: number): number {
  let recent = 0;
  for (const at of sentAtMs) if (at > now - MINUTE_MS && at <= now) recent++;
  return Math.max(0, perMinute - recent);
}

/** How many more devices may start updating: the budget minus the devices updating now. */
export function budgetAllowance(maxConcurrent: number, updating: number): number {
  return Math.max(0, maxConcurrent - updating);
}

function minutesOfDay(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

/**
 * True when `now` is inside the maintenance window (always, without one). A day in `days` is the day
 * the window opens; a window whose end is not after its start closes on the next day.
 */
export function inMaintenanceWindow(window: MaintenanceWindow | undefined, now: number): boolean {
  if (window === undefined) return true;
  const date = new Date(now);
  const minute = date.getUTCHours() * 60 + date.getUTCMinutes();
  const today = WEEKDAYS[date.getUTCDay()]!;
  const yesterday = WEEKDAYS[(date.getUTCDay() + 6) % 7]!;
  const start = minutesOfDay(window.start);
  const end = minutesOfDay(window.end);
  const opensOn = (day: Weekday) => window.days.includes(day);
  if (start < end) return opensOn(today) && minute >= start && minute < end;
  // Past midnight: open from `start` today, or until `end` on the morning after an opening day.
  return (opensOn(today) && minute >= start) || (opensOn(yesterday) && minute < end);
}
