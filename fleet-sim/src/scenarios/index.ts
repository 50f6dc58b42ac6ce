/** The scenario catalogue, by the name the CLI takes. */
import { canaryFailureAutoRollback } from './canary-failure.js';
import { disconnectStormDuringRollout } from './disconnect-storm.js';
import { driftInOneSite } from './drift-in-one-site.js';
import { keyRotationDuringFleet } from './key-rotation.js';
import type { Scenario } from './scenario.js';
import { stagedRolloutHappy } from './staged-rollout-happy.js';

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  'staged-rollout-happy': stagedRolloutHappy,
  'canary-failure-auto-rollback': canaryFailureAutoRollback,
  'drift-in-one-site': driftInOneSite(),
  'disconnect-storm-during-rollout': disconnectStormDuringRollout,
  'key-rotation-during-fleet': keyRotationDuringFleet,
};

/** Scenarios whose fleet must run on a lagging device clock (see OffsetClock). */
export const NEEDS_LAGGING_CLOCK: ReadonlySet<string> = new Set(['drift-in-one-site']);

export {
  ScenarioReport,
  type Scenario,
  type ScenarioCheck,
  type ScenarioContext,
  type ScenarioResult,
} from './scenario.js';
export { canaryFailureAutoRollback } from './canary-failure.js';
export { disconnectStormDuringRollout } from './disconnect-storm.js';
export {
  driftInOneSite,
  type DriftEventView,
  type DriftOptions,
  type RetrainingRequestView,
} from './drift-in-one-site.js';
export { keyRotationDuringFleet } from './key-rotation.js';
export { stagedRolloutHappy } from './staged-rollout-happy.js';
export * from './steps.js';
