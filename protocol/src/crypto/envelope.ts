/**
 * Signed envelopes: `{signed, signatures: [{keyid, sig}]}`, where each `sig` is a hex Ed25519
 * signature of the RFC 8785 canonical bytes of `signed` (TUF spec §4.2, ARCHITECTURE §3).
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { canonicalBytes } from '../canonical-json.js';
import { EdgefleetError, fail, ok, type Result } from '../errors.js';
import { verifyEd25519 } from './ed25519.js';
import {
  keyIdOf,
  publicKeyBytes,
  PublicKeyObjectSchema,
  type PublicKeyObject,
  type SigningKey,
} from './keys.js';
import { Sha256HexSchema } from './sha256.js';

const SIG_HEX = /^[0-9a-f]{128}$/;

/** More signatures than this on one document is refused: it bounds the verification work. */
export const MAX_SIGNATURES = 32;

export const SignatureSchema = z.strictObject({
  keyid: Sha256HexSchema,
  sig: z.string().regex(SIG_HEX, 'must be 128 lower-case hex digits (64 bytes)'),
});

export type Signature = z.infer<typeof SignatureSchema>;

/** A signed document. */
export interface Envelope<T> {
  readonly signed: T;
  readonly signatures: readonly Signature[];
}

/** The schema of an envelope around documents matching `signed`. */
export function envelopeSchema<S extends z.ZodType>(signed: S) {
  return z.strictObject({
    signed,
    signatures: z.array(SignatureSchema).max(MAX_SIGNATURES),
  });
}

/** A role as the root document lists it: which keys may sign, and how many must. */
export interface ThresholdRole {
  readonly keyids: readonly string[];
  readonly threshold: number;
}

/** The signature entry of `key` over `signed`. Throws EF_MALFORMED if `signed` is not canonicalizable. */
export function signatureOf(signed: unknown, key: SigningKey): Signature {
  return { keyid: key.keyid, sig: bytesToHex(key.sign(canonicalBytes(signed))) };
}

/** Sign `signed` with each key (a key given twice signs once). */
export function signEnvelope<T>(signed: T, keys: readonly SigningKey[]): Envelope<T> {
  const message = canonicalBytes(signed);
  const signatures: Signature[] = [];
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key.keyid)) continue;
    seen.add(key.keyid);
    signatures.push({ keyid: key.keyid, sig: bytesToHex(key.sign(message)) });
  }
  return { signed, signatures };
}

/** A copy of `envelope` with `key`'s signature added (replacing an earlier one by the same key). */
export function addSignature<T>(envelope: Envelope<T>, key: SigningKey): Envelope<T> {
  const signature = signatureOf(envelope.signed, key);
  return {
    signed: envelope.signed,
    signatures: [...envelope.signatures.filter((s) => s.keyid !== key.keyid), signature],
  };
}

/**
 * Check that at least `role.threshold` distinct keys of `role` signed the envelope.
 *
 * Each key id counts once however often it appears, in the role or among the signatures
 * (TUF spec §5.3.4). Signatures by keys outside the role, by keys missing from `keys`, or that do not
 * verify are ignored, so extra invalid signatures do no harm once the threshold is met. A key whose
 * id is not the hash of the key object is ignored too: one key cannot pose as two.
 * Returns EF_THRESHOLD_INVALID for a threshold below 1 or above the number of distinct key ids,
 * EF_SIGNATURE_INVALID when too few valid signatures remain. Never throws.
 */
export function verifyThreshold(
  envelope: Envelope<unknown>,
  role: ThresholdRole,
  keys: Readonly<Record<string, PublicKeyObject>>,
): Result<{ validKeyids: string[] }> {
  const keyids = [...new Set(role.keyids)];
  if (!Number.isSafeInteger(role.threshold) || role.threshold < 1) {
    return fail('EF_THRESHOLD_INVALID', `threshold ${role.threshold} is not an integer >= 1`);
  }
  if (role.threshold > keyids.length) {
    return fail(
      'EF_THRESHOLD_INVALID',
      `threshold ${role.threshold} is above the role's ${keyids.length} distinct keys`,
    );
  }
  let message: Uint8Array;
  try {
    message = canonicalBytes(envelope.signed);
  } catch (e) {
    if (e instanceof EdgefleetError) return fail(e.code, e.message);
    return fail('EF_MALFORMED', 'signed part cannot be canonicalized');
  }
  const validKeyids: string[] = [];
  for (const keyid of keyids) {
    if (!Object.hasOwn(keys, keyid)) continue;
    const key = PublicKeyObjectSchema.safeParse(keys[keyid]);
    if (!key.success || keyIdOf(key.data) !== keyid) continue;
    const publicKey = publicKeyBytes(key.data);
    const valid = envelope.signatures.some(
      (s) =>
        s.keyid === keyid &&
        SIG_HEX.test(s.sig) &&
        verifyEd25519(message, hexToBytes(s.sig), publicKey),
    );
    if (valid) validKeyids.push(keyid);
  }
  if (validKeyids.length < role.threshold) {
    return fail(
      'EF_SIGNATURE_INVALID',
      `${validKeyids.length} valid signature(s) from the role's keys; ${role.threshold} required`,
      { valid: validKeyids.length, threshold: role.threshold },
    );
  }
  return ok({ validKeyids });
}
