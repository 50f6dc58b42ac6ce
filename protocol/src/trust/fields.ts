/** Field schemas shared by the trust documents (root, release, directive). */
import { z } from 'zod';
import { isValidDeviceId } from '../topics.js';

/** The trust document format this build writes; documents with another major version are refused. */
export const TRUST_SPEC_VERSION = '1.0';

/** `1.<minor>`: the same major version as TRUST_SPEC_VERSION. */
export const SpecVersionSchema = z
  .string()
  .regex(/^1\.(0|[1-9][0-9]{0,8})$/, 'must be a 1.x trust spec version');

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/** Milliseconds since the epoch of an ISO-8601 UTC timestamp, or undefined if it is not a real instant. */
export function timestampMs(s: string): number | undefined {
  if (!ISO_UTC.test(s)) return undefined;
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) return undefined;
  // Date.parse rolls 2025-02-30 over into March; a timestamp that does not read back is not real.
  if (new Date(ms).toISOString().slice(0, 19) !== s.slice(0, 19)) return undefined;
  return ms;
}

/** An ISO-8601 UTC timestamp: `YYYY-MM-DDTHH:MM:SS[.sss]Z`. */
export const TimestampSchema = z
  .string()
  .refine((s) => timestampMs(s) !== undefined, 'must be an ISO-8601 UTC timestamp (…Z)');

/** The ISO-8601 UTC timestamp of `ms` since the epoch (`String(ms)` if no Date can hold it). */
export function isoTimestamp(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/** A monotonic counter: a safe integer >= 1 (JSON numbers above 2^53-1 lose precision). */
export const CounterSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/** A byte length: a safe integer >= 0. */
export const LengthSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** Release ids, model names and versions, hardware classes, execution provider names. */
export const TrustNameSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:+@-]*$/,
    'must start with a letter or digit and contain only letters, digits and . _ : + @ -',
  );

/** A device id, held to the alphabet of MQTT topic levels (see topics.ts). */
export const DeviceIdSchema = z.string().refine(isValidDeviceId, 'must be a valid device id');
