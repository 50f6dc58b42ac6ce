/**
 * Time as the agent sees it: the wall clock (for document expiry, window bounds, soak durations) and
 * timers (telemetry windows, soak deadlines, reconnect and download back-off). Injectable, so tests
 * and the fleet simulator drive time themselves (`ManualClock`) instead of sleeping.
 *
 * Network-level timeouts that only exist because real sockets are involved (MQTT keep-alive,
 * CONNACK timeout) stay on real timers inside MQTT.js; everything the agent decides on uses this.
 */

/** An opaque timer handle of an `AgentClock`. */
export type TimerHandle = object;

export interface AgentClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Call `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancel a timer (no-op for one that already ran or was cancelled). */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now` and the global timers. */
export const systemClock: AgentClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

interface ManualTimer {
  readonly id: number;
  readonly due: number;
  readonly callback: () => void;
}

/**
 * A clock that moves only when told to. `advance(ms)` runs every timer that falls due on the way,
 * in due order (ties in scheduling order), with `now()` set to each timer's due time while it runs;
 * timers scheduled by those callbacks run too if they fall due within the advance.
 */
export class ManualClock implements AgentClock {
  private time: number;
  private nextId = 1;
  private timers: ManualTimer[] = [];

  constructor(start = Date.parse('2030-01-01T00:00:00.000Z')) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = {
      id: this.nextId++,
      due: this.time + Math.max(0, ms),
      callback,
    };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  /** Timers not yet run. */
  get pending(): number {
    return this.timers.length;
  }

  /** Due time of the next timer, or undefined when none is pending. */
  nextDue(): number | undefined {
    return this.earliest()?.due;
  }

  /** Move time forward by `ms`, running the timers that fall due. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a clock by ${ms} ms`);
    const target = this.time + ms;
    for (;;) {
      const next = this.earliest();
      if (next === undefined || next.due > target) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.time = Math.max(this.time, next.due);
      next.callback();
    }
    this.time = target;
  }

  /** Move time to the next timer and run it (and any due at the same time). No-op when none. */
  runNext(): void {
    const next = this.earliest();
    if (next !== undefined) this.advance(Math.max(0, next.due - this.time));
  }

  private earliest(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers) {
      if (best === undefined || t.due < best.due || (t.due === best.due && t.id < best.id)) {
        best = t;
      }
    }
    return best;
  }
}

/**
 * Wait `ms` on `clock`; resolves early (to false) when `signal` aborts, else to true. A wait of
 * 0 ms or less resolves at once without a timer.
 */
export function sleep(clock: AgentClock, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clock.clearTimeout(handle);
      resolve(false);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Wait for `promise`, but at most `ms` of real time (network bounds such as a broker that does
 * not answer a DISCONNECT); resolves to undefined on timeout. The timer is cleared either way.
 */
export async function withinRealTime<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      resolve(undefined);
    }, ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
