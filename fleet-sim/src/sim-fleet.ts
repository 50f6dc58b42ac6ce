/**
 * A fleet as the CLI, the demo and the scenario tests run it: one shared runtime (a real onnxruntime
 * session per model, or the fake runtime), per-hardware-class fault injection, a device clock that
 * may lag the wall clock (drift scenarios), and a label `sim=<runId>` that selects exactly this fleet.
 */
import {
  FakeRuntime,
  OrtInProcessRuntime,
  type AgentTuning,
  type ModelRuntime,
} from '@edgefleet/agent';
import { Fleet, type FleetOptions } from './fleet.js';
import { FaultInjection } from './runtime/fault-injection.js';
import { SharedRuntime } from './runtime/shared-runtime.js';
import { OffsetClock } from './time/offset-clock.js';

export interface SimFleetOptions {
  readonly apiUrl: string;
  readonly enrollToken: string;
  readonly devices: number;
  readonly stateDir: string;
  readonly runId: string;
  readonly hwMix?: Readonly<Record<string, number>>;
  readonly sites?: readonly string[];
  /** `onnx` (default): onnxruntime in process, one session per model shared by every agent. */
  readonly runtime?: 'onnx' | 'fake';
  /** Device time behind the wall clock (default 0; drift scenarios need ~30 min). */
  readonly clockLagMs?: number;
  readonly telemetryIntervalSec?: number;
  readonly mqttConnectFor?: FleetOptions['mqttConnectFor'];
  readonly onProgress?: FleetOptions['onProgress'];
  /** Enrollments and starts in flight at once (default 32). */
  readonly concurrency?: number;
}

export interface SimFleet {
  readonly fleet: Fleet;
  readonly clock: OffsetClock;
  readonly faults: FaultInjection;
  /** `sim=<runId>`. */
  readonly selector: string;
  /** Stop every agent and close the runtime. */
  close(): Promise<void>;
}

/**
 * Quick retries: simulated devices sit next to their broker. No fsync of state or spool: their state
 * directories are temporary and a simulated device has no power cut to survive (writes stay atomic).
 */
export const SIM_TUNING: AgentTuning = {
  reconnectBackoff: { baseMs: 200, capMs: 3000 },
  downloadBackoff: { baseMs: 200, capMs: 3000 },
  durableSpool: false,
  durableState: false,
  slotVerify: 'lengths',
};

/** Enroll and start a simulated fleet. */
export async function startSimFleet(options: SimFleetOptions): Promise<SimFleet> {
  const runtime: ModelRuntime = new SharedRuntime(
    options.runtime === 'fake' ? new FakeRuntime() : new OrtInProcessRuntime(),
  );
  const faults = new FaultInjection(runtime);
  const clock = new OffsetClock(options.clockLagMs ?? 0);
  const fleet = await Fleet.enroll({
    apiUrl: options.apiUrl,
    enrollToken: options.enrollToken,
    devices: options.devices,
    stateDir: options.stateDir,
    runtime,
    runtimeFor: (d) => faults.for(d.hardwareClass),
    clock,
    labels: { sim: options.runId },
    idPrefix: options.runId,
    telemetryIntervalSec: options.telemetryIntervalSec ?? 3600,
    tuning: SIM_TUNING,
    // A release whose rollout gives no soak (the control plane's fleet rollback) soaks on these:
    // the agent's default is 60 s, too long for scenarios that run back to back.
    soakDefaults: { minInferences: 3, durationSec: 2 },
    ...(options.hwMix ? { hwMix: options.hwMix } : {}),
    ...(options.sites ? { sites: options.sites } : {}),
    ...(options.mqttConnectFor ? { mqttConnectFor: options.mqttConnectFor } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
  });
  await fleet.start();
  return {
    fleet,
    clock,
    faults,
    selector: `sim=${options.runId}`,
    close: async () => {
      await fleet.stop();
      await runtime.close();
    },
  };
}
