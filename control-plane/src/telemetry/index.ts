/** Telemetry ingest (MQTT -> batched writes) and its read side (health rollups). */
export * from './cohort.js';
export { DROP_REASONS, type DropReason } from './decode.js';
export * from './ingest.js';
export * from './rollups.js';
