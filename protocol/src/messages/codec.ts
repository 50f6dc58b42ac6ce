/**
 * Decoders for every MQTT message: bytes in, `Result` out. The byte cap is enforced before parsing,
 * JSON is parsed defensively, and the schema decides; no input makes a decoder throw, so a hostile
 * payload can be counted and dropped without ever reaching the event loop as an exception.
 */
import type { z } from 'zod';
import { fail, ok, type Result } from '../errors.js';
import {
  CommandMessageSchema,
  DesiredMessageSchema,
  MESSAGE_VERSION,
  PresenceMessageSchema,
  StateMessageSchema,
  StatusMessageSchema,
  TrustRootMessageSchema,
} from './schemas.js';
import { TelemetryMessageSchema } from './telemetry.js';

/** Every message schema, by the message's `type`. */
export const MESSAGE_SCHEMAS = {
  desired: DesiredMessageSchema,
  cmd: CommandMessageSchema,
  status: StatusMessageSchema,
  state: StateMessageSchema,
  telemetry: TelemetryMessageSchema,
  presence: PresenceMessageSchema,
  trust_root: TrustRootMessageSchema,
} as const;

export type MessageType = keyof typeof MESSAGE_SCHEMAS;
export type MessageOf<T extends MessageType> = z.infer<(typeof MESSAGE_SCHEMAS)[T]>;
export type Message = { [T in MessageType]: MessageOf<T> }[MessageType];

/** Byte caps, checked before a payload is parsed. The broker enforces its own packet cap too. */
export const MESSAGE_BYTE_CAPS: Readonly<Record<MessageType, number>> = {
  desired: 300 * 1024,
  cmd: 4 * 1024,
  status: 8 * 1024,
  state: 16 * 1024,
  telemetry: 512 * 1024,
  presence: 1024,
  trust_root: 1024 * 1024,
};

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

function parseJson(bytes: Uint8Array, cap: number): Result<unknown> {
  if (bytes.byteLength > cap) {
    return fail('EF_TOO_LARGE', `payload of ${bytes.byteLength} bytes exceeds the cap of ${cap}`, {
      bytes: bytes.byteLength,
      cap,
    });
  }
  try {
    return ok(JSON.parse(decoder.decode(bytes)) as unknown);
  } catch (e) {
    // Invalid UTF-8, invalid JSON, or nesting deep enough to overflow the parser's stack.
    return fail(
      'EF_MALFORMED',
      `payload is not valid UTF-8 JSON: ${(e as Error).message.slice(0, 120)}`,
    );
  }
}

function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/**
 * Decode a message of the expected type. Fails with EF_TOO_LARGE (over the cap), EF_MALFORMED (not
 * JSON, wrong type, schema mismatch) or EF_UNSUPPORTED_VERSION (a `v` this build does not speak).
 */
export function decodeMessage<T extends MessageType>(
  type: T,
  bytes: Uint8Array,
): Result<MessageOf<T>> {
  const json = parseJson(bytes, MESSAGE_BYTE_CAPS[type]);
  if (!json.ok) return json;
  const value = json.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('EF_MALFORMED', 'payload is not a JSON object');
  }
  const { v, type: actual } = value as { v?: unknown; type?: unknown };
  if (actual !== type) {
    return fail(
      'EF_MALFORMED',
      `expected a "${type}" message, got type ${typeof actual === 'string' ? JSON.stringify(actual.slice(0, 40)) : typeof actual}`,
    );
  }
  if (v !== MESSAGE_VERSION) {
    return fail(
      'EF_UNSUPPORTED_VERSION',
      `message version ${typeof v === 'number' ? v : typeof v} is not supported (expected ${MESSAGE_VERSION})`,
    );
  }
  try {
    const parsed = MESSAGE_SCHEMAS[type].safeParse(value);
    if (!parsed.success) {
      return fail('EF_MALFORMED', `invalid ${type} message: ${formatIssues(parsed.error)}`);
    }
    return ok(parsed.data as MessageOf<T>);
  } catch (e) {
    return fail('EF_MALFORMED', `invalid ${type} message: ${(e as Error).message.slice(0, 120)}`);
  }
}

/**
 * Encode a message. Validates it first: sending something our own decoder would refuse is a bug, and
 * it throws here (at the sender) rather than being dropped silently at the receiver.
 */
export function encodeMessage<T extends MessageType>(type: T, message: MessageOf<T>): Uint8Array {
  const parsed = MESSAGE_SCHEMAS[type].safeParse(message);
  if (!parsed.success)
    throw new TypeError(
      `refusing to encode an invalid ${type} message: ${formatIssues(parsed.error)}`,
    );
  const bytes = encoder.encode(JSON.stringify(parsed.data));
  if (bytes.byteLength > MESSAGE_BYTE_CAPS[type]) {
    throw new RangeError(
      `${type} message of ${bytes.byteLength} bytes exceeds the cap of ${MESSAGE_BYTE_CAPS[type]}`,
    );
  }
  return bytes;
}
