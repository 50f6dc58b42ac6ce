/**
 * Staged rollouts: the spec operators write, the rollout/wave/deployment state machines, the pure
 * planner, their persistence and the scheduler engine that drives them.
 */
export * from './spec.js';
export * from './machines.js';
export * from './gates.js';
export * from './membership.js';
export * from './throttle.js';
export * from './planner.js';
export * from './store.js';
export * from './tick.js';
export * from './outbox.js';
export * from './reports.js';
export * from './operator-actions.js';
export * from './fleet-rollback.js';
export * from './engine.js';
