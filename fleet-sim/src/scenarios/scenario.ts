/**
 * What a scenario is: a function over a running fleet and the control plane's public API that
 * drives a story (a rollout, a fault, drift) and reports checks, each true or false with a detail.
 * The CLI, the demo and the scenario tests run the same functions.
 */
import type { ControlPlaneHttp } from '../control-plane/http-client.js';
import type { Fleet } from '../fleet.js';
import type { FaultInjection } from '../runtime/fault-injection.js';
import type { OffsetClock } from '../time/offset-clock.js';

export interface ScenarioContext {
  /** The control plane's API, with a token of a role that may create releases and rollouts. */
  readonly api: ControlPlaneHttp;
  /** Enrolled and started. */
  readonly fleet: Fleet;
  /** Label selector matching exactly this fleet's devices (e.g. `sim=run-1`); '' for every device. */
  readonly selector: string;
  /** The model the scenario pushes versions of. */
  readonly model: string;
  /** The fleet's device clock, when it lags the wall clock and may be stepped (drift scenarios). */
  readonly clock?: OffsetClock;
  /** The fleet's fault injection (the canary scenario breaks one hardware class with it). */
  readonly faults?: FaultInjection;
  /** Progress lines. */
  readonly log: (line: string) => void;
  /** Give up after this long (default 75 s). */
  readonly timeoutMs?: number;
}

export interface ScenarioCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly checks: readonly ScenarioCheck[];
  /** Scenario-specific facts (release ids, rollout ids, counts, events) for the JSON summary. */
  readonly details: Readonly<Record<string, unknown>>;
}

export type Scenario = (ctx: ScenarioContext) => Promise<ScenarioResult>;

/** Collects checks and builds the result. */
export class ScenarioReport {
  private readonly started = performance.now();
  private readonly checks: ScenarioCheck[] = [];
  readonly details: Record<string, unknown> = {};

  constructor(
    readonly scenario: string,
    private readonly log: (line: string) => void,
  ) {}

  check(name: string, ok: boolean, detail: string): boolean {
    this.checks.push({ name, ok, detail });
    this.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
    return ok;
  }

  result(): ScenarioResult {
    return {
      scenario: this.scenario,
      ok: this.checks.length > 0 && this.checks.every((c) => c.ok),
      durationMs: Math.round(performance.now() - this.started),
      checks: this.checks,
      details: this.details,
    };
  }
}
