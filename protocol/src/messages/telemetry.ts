/**
 * `d/{id}/telemetry`: one telemetry window from a device: counts, a latency sketch, and input/output
 * profile per the active release's feature spec. Windows carry a per-device sequence number so the
 * control plane can drop duplicates (a spooled window may be re-sent after a crash: at-least-once).
 */
import { z } from 'zod';
import { ProfileWireSchema } from '../profiles/wire.js';
import { DDSketchJsonSchema } from '../sketches/ddsketch.js';
import { MAX_DEVICE_ID_LENGTH } from '../topics.js';

const counter = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
const isoTime = z.iso.datetime({ offset: true });

export const TelemetryMessageSchema = z
  .strictObject({
    v: z.literal(1),
    type: z.literal('telemetry'),
    deviceId: z
      .string()
      .max(MAX_DEVICE_ID_LENGTH)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'invalid device id'),
    /** Monotonic per device (survives restarts): duplicates are dropped by (deviceId, seq). */
    seq: counter,
    window: z.strictObject({ start: isoTime, end: isoTime }),
    /** The release that served during the window (null: no model). */
    releaseId: z.string().min(1).max(128).nullable(),
    /** The execution provider that served. */
    executionProvider: z.string().max(64).nullable(),
    requests: counter,
    errors: counter,
    /** Inference latency in milliseconds. */
    latencyMs: DDSketchJsonSchema.nullable(),
    /**
     * The window's profile of model inputs and outputs, features named per the release's feature spec
     * (null when the release has no spec or nothing was served).
     */
    profile: ProfileWireSchema.nullable(),
    /** Windows this device dropped from its offline spool since the last delivered window. */
    droppedWindows: counter,
    /** True when the window was spooled while offline and is being drained late. */
    late: z.boolean(),
  })
  .refine((m) => m.errors <= m.requests, {
    error: 'errors cannot exceed requests',
    path: ['errors'],
  })
  .refine((m) => Date.parse(m.window.start) <= Date.parse(m.window.end), {
    error: 'window.start must not be after window.end',
    path: ['window'],
  });

export type TelemetryMessage = z.infer<typeof TelemetryMessageSchema>;
