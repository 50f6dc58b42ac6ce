/**
 * The first steps every received trust document goes through, in order: byte cap, canonical bytes,
 * schema, `_type`; then the role's signature threshold and expiry (ARCHITECTURE §3).
 */
import { z } from 'zod';
import { canonicalBytes, parseCanonical } from '../canonical-json.js';
import { type Envelope, envelopeSchema, verifyThreshold } from '../crypto/envelope.js';
import { fail, ok, type Result } from '../errors.js';
import { DirectiveSchema, type Directive } from './directive.js';
import { isoTimestamp, timestampMs } from './fields.js';
import { ReleaseDocumentSchema, type ReleaseDocument } from './release.js';
import { RootSchema, type TrustRoleName, type Root } from './root.js';
import { parseWith } from './validate.js';

/** The signed documents, by `_type`. */
export interface TrustDocuments {
  root: Root;
  release: ReleaseDocument;
  directive: Directive;
}

export type TrustDocumentType = keyof TrustDocuments;

export const MAX_ROOT_BYTES = 256 * 1024;
export const MAX_RELEASE_BYTES = 256 * 1024;
export const MAX_DIRECTIVE_BYTES = 16 * 1024;

/** Byte caps of received envelopes, checked before anything is parsed. */
export const MAX_DOCUMENT_BYTES: Readonly<Record<TrustDocumentType, number>> = {
  root: MAX_ROOT_BYTES,
  release: MAX_RELEASE_BYTES,
  directive: MAX_DIRECTIVE_BYTES,
};

const AnyEnvelopeSchema = envelopeSchema(
  z.discriminatedUnion('_type', [RootSchema, ReleaseDocumentSchema, DirectiveSchema]),
);

/** EF_TOO_LARGE if `bytes` exceed the cap for documents of `type`. */
export function checkSize(bytes: Uint8Array, type: TrustDocumentType): Result<void> {
  const cap = MAX_DOCUMENT_BYTES[type];
  if (bytes.length <= cap) return ok(undefined);
  return fail('EF_TOO_LARGE', `${type} is ${bytes.length} bytes; the cap is ${cap}`, {
    length: bytes.length,
    maxBytes: cap,
  });
}

/**
 * Decode a received envelope expected to hold a `type` document: byte cap (EF_TOO_LARGE), canonical
 * bytes (EF_NOT_CANONICAL / EF_MALFORMED), schema (EF_MALFORMED and the codes of specific rules),
 * `_type` (EF_WRONG_TYPE). Signatures are not checked here. Never throws.
 */
export function openEnvelope<K extends TrustDocumentType>(
  bytes: Uint8Array,
  type: K,
): Result<Envelope<TrustDocuments[K]>> {
  const size = checkSize(bytes, type);
  if (!size.ok) return size;
  const raw = parseCanonical(bytes, MAX_DOCUMENT_BYTES[type]);
  if (!raw.ok) return raw;
  const parsed = parseWith(AnyEnvelopeSchema, raw.value, `${type} envelope`);
  if (!parsed.ok) return parsed;
  const envelope = parsed.value;
  if (!holds(envelope, type)) {
    const actual = envelope.signed._type;
    return fail('EF_WRONG_TYPE', `expected a ${type} document, got ${actual}`, {
      expected: type,
      actual,
    });
  }
  // What is checked and acted on must be exactly what was signed: refuse anything the schema
  // would drop or rewrite on the way (a member named __proto__, for one).
  if (!sameCanonical(envelope, bytes)) {
    return fail('EF_MALFORMED', `${type} has members the schema cannot represent`);
  }
  return ok(envelope);
}

function holds<K extends TrustDocumentType>(
  envelope: Envelope<TrustDocuments[TrustDocumentType]>,
  type: K,
): envelope is Envelope<TrustDocuments[K]> {
  return envelope.signed._type === type;
}

function sameCanonical(value: unknown, bytes: Uint8Array): boolean {
  let again: Uint8Array;
  try {
    again = canonicalBytes(value);
  } catch {
    return false;
  }
  return again.length === bytes.length && again.every((b, i) => b === bytes[i]);
}

/** EF_SIGNATURE_INVALID unless a threshold of `root`'s `role` keys signed the envelope. */
export function checkRoleSignatures(
  envelope: Envelope<unknown>,
  root: Root,
  role: TrustRoleName,
): Result<void> {
  const verified = verifyThreshold(envelope, root.roles[role], root.keys);
  if (verified.ok) return ok(undefined);
  return fail(verified.code, `${role} role (root v${root.version}): ${verified.message}`, {
    role,
    rootVersion: root.version,
    ...verified.details,
  });
}

/**
 * EF_EXPIRED if `expires` is not after max(now, timeFloor): a clock set back below the persisted
 * floor cannot revive an expired document (freeze attack).
 */
export function checkNotExpired(
  what: TrustDocumentType,
  expires: string,
  now: number,
  timeFloor: number,
): Result<void> {
  const effectiveNow = Math.max(now, timeFloor);
  const expiresMs = timestampMs(expires);
  if (expiresMs !== undefined && effectiveNow < expiresMs) return ok(undefined);
  return fail('EF_EXPIRED', `${what} expired at ${expires}`, {
    expires,
    effectiveNow: isoTimestamp(effectiveNow),
    clock: now,
    timeFloor,
  });
}
