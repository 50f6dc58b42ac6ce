/**
 * Zod schemas of every MQTT message in the contract (ARCHITECTURE §3). Each has `v` (schema version)
 * and `type`. Signed documents (directives, releases, roots) travel as their exact canonical JSON text
 * inside a string field, so the receiver verifies the very bytes that were signed.
 */
import { z } from 'zod';
import { DEPLOYMENT_REASONS, DEPLOYMENT_STATES } from '../deployment.js';
import { MAX_DEVICE_ID_LENGTH } from '../topics.js';

/** The message schema version this build speaks. */
export const MESSAGE_VERSION = 1;

const deviceId = z
  .string()
  .max(MAX_DEVICE_ID_LENGTH)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'invalid device id');
const isoTime = z.iso.datetime({ offset: true });
const shortText = z.string().max(1024);
const name = z.string().min(1).max(128);
const counter = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A signed envelope carried as its canonical JSON text; verified by the trust module, not here. */
const envelopeText = (maxChars: number) => z.string().min(2).max(maxChars);

/** `d/{id}/desired` (retained): the directive and the release document it names. */
export const DesiredMessageSchema = z.strictObject({
  v: z.literal(MESSAGE_VERSION),
  type: z.literal('desired'),
  directive: envelopeText(16 * 1024),
  release: envelopeText(256 * 1024),
});

/** Commands a device understands on `d/{id}/cmd`. */
export const COMMANDS = ['flush_telemetry', 'publish_state', 'capture_samples'] as const;

/** `d/{id}/cmd`: an imperative command (not retained). */
export const CommandMessageSchema = z.strictObject({
  v: z.literal(MESSAGE_VERSION),
  type: z.literal('cmd'),
  id: z.string().min(1).max(64),
  command: z.enum(COMMANDS),
  /** For `capture_samples`: how many raw input samples to upload (off unless the operator asks). */
  count: z.int().min(1).max(1000).optional(),
  issuedAt: isoTime,
});

/** `d/{id}/status`: one deployment transition. */
export const StatusMessageSchema = z
  .strictObject({
    v: z.literal(MESSAGE_VERSION),
    type: z.literal('status'),
    deviceId,
    releaseId: name,
    directiveCounter: counter,
    state: z.enum(DEPLOYMENT_STATES),
    reason: z.enum(DEPLOYMENT_REASONS).optional(),
    detail: shortText.optional(),
    /** Download progress, while `downloading`. */
    progress: z.strictObject({ bytes: counter, total: counter }).optional(),
    /** Soak progress, while `soaking`. */
    soak: z
      .strictObject({ inferences: counter, errors: counter, elapsedSec: z.number().min(0) })
      .optional(),
    at: isoTime,
  })
  .refine((m) => (m.state === 'failed' || m.state === 'rolled_back') === (m.reason !== undefined), {
    error: 'reason is required with failed and rolled_back, and only with them',
    path: ['reason'],
  });

const releaseRef = z.strictObject({
  releaseId: name,
  model: name,
  version: name,
  releaseCounter: counter,
});

/** `d/{id}/state`: what the device runs now (on connect and on change). */
export const StateMessageSchema = z.strictObject({
  v: z.literal(MESSAGE_VERSION),
  type: z.literal('state'),
  deviceId,
  agentVersion: z.string().max(64),
  hardwareClass: name,
  /** Active release, or null before the first install. */
  release: releaseRef.nullable(),
  /** The release kept on disk to go back to. */
  previousRelease: releaseRef.nullable(),
  slot: z.enum(['a', 'b']).nullable(),
  runtime: z.strictObject({
    ortVersion: z.string().max(64),
    /** The execution provider the active session actually uses. */
    executionProvider: z.string().max(64).nullable(),
    availableProviders: z.array(z.string().max(64)).max(32),
  }),
  labels: z.record(z.string().max(63), z.string().max(63)),
  rootVersion: counter,
  directiveCounter: counter,
  /** The deployment in flight, if any. */
  deployment: z
    .strictObject({ releaseId: name, state: z.enum(DEPLOYMENT_STATES), directiveCounter: counter })
    .nullable(),
  at: isoTime,
});

/** `d/{id}/presence`: online on connect, offline as the last will. */
export const PresenceMessageSchema = z.strictObject({
  v: z.literal(MESSAGE_VERSION),
  type: z.literal('presence'),
  deviceId,
  online: z.boolean(),
  at: isoTime,
});

/** `trust/root` (retained): the newest root metadata, for rotation. */
export const TrustRootMessageSchema = z.strictObject({
  v: z.literal(MESSAGE_VERSION),
  type: z.literal('trust_root'),
  /** The chain from version 2 up to the newest, each as canonical JSON text, oldest first. */
  roots: z
    .array(envelopeText(256 * 1024))
    .min(1)
    .max(32),
});

export type DesiredMessage = z.infer<typeof DesiredMessageSchema>;
export type CommandMessage = z.infer<typeof CommandMessageSchema>;
export type StatusMessage = z.infer<typeof StatusMessageSchema>;
export type StateMessage = z.infer<typeof StateMessageSchema>;
export type PresenceMessage = z.infer<typeof PresenceMessageSchema>;
export type TrustRootMessage = z.infer<typeof TrustRootMessageSchema>;
export type ReleaseRef = z.infer<typeof releaseRef>;
