/** Drift monitors: configuration, the pure state machine, the evaluator shell, and the read side. */
export * from './config.js';
export * from './evaluator.js';
export * from './events.js';
export * from './monitor.js';
export * from './store.js';
