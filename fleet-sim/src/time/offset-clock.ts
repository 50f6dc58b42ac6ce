/**
 * Device time for a simulated fleet: the wall clock shifted by an offset the simulator controls.
 * Timers run on real time (a 5 s soak or back-off still takes 5 s), only `now()` is shifted, and the
 * offset only ever grows, so device time never goes backwards (telemetry windows, time floors).
 *
 * Why: the control plane aggregates telemetry in 1-minute windows keyed by the timestamps devices put
 * in them, and evaluates a window one window after it ends. A fleet whose clock lags the wall clock
 * (by less than the server's 1 h drift look-back) and is then stepped one device-minute at a time
 * produces closed, evaluable windows in seconds instead of minutes. Every window is still made by the
 * real agents from real inferences; only the time axis is compressed.
 */
import type { AgentClock, TimerHandle } from '@edgefleet/agent';

export class OffsetClock implements AgentClock {
  private offsetMs: number;

  /** `lagMs`: how far device time starts behind the wall clock (0: device time is wall time). */
  constructor(lagMs = 0) {
    this.offsetMs = -lagMs;
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** How far device time is behind the wall clock now (negative: ahead). */
  get lagMs(): number {
    return -this.offsetMs;
  }

  /** Move device time to `t` (ms since the epoch); a `t` in the device's past is refused. */
  jumpTo(t: number): void {
    const now = this.now();
    if (t < now) throw new RangeError(`device time cannot go back (${t - now} ms)`);
    this.offsetMs += t - now;
  }

  /** Move device time forward by `ms`. */
  advance(ms: number): void {
    this.jumpTo(this.now() + Math.max(0, ms));
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return setTimeout(callback, ms);
  }

  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as NodeJS.Timeout);
  }
}
