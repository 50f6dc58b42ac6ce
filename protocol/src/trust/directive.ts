/**
 * The directive (`_type: 'directive'`, ARCHITECTURE §3, after Uptane's targets metadata for one ECU):
 * "device D shall run release R", signed by the online deploy role. It names the release by the
 * sha256 of its signed part, so a directive and a release cannot be mixed and matched.
 */
import { z } from 'zod';
import { type Envelope, signEnvelope } from '../crypto/envelope.js';
import type { SigningKey } from '../crypto/keys.js';
import { Sha256HexSchema } from '../crypto/sha256.js';
import { CounterSchema, DeviceIdSchema, TrustNameSchema, TimestampSchema } from './fields.js';
import { orThrow, parseWith } from './validate.js';

/** How long the device must serve the release healthily before it reports `succeeded`. */
export const SoakSchema = z.strictObject({
  minInferences: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  durationSec: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  maxErrorRate: z.number().min(0).max(1).optional(),
});

export const DirectiveSchema = z.strictObject({
  _type: z.literal('directive'),
  deviceId: DeviceIdSchema,
  releaseId: TrustNameSchema,
  /** releaseSha256() of the release envelope this directive installs. */
  releaseSha256: Sha256HexSchema,
  /** Monotonic per device; a device accepts only a counter above the last one it accepted. */
  directiveCounter: CounterSchema,
  issuedAt: TimestampSchema,
  expires: TimestampSchema,
  soak: SoakSchema.optional(),
});

/** The signed part of a directive. */
export type Directive = z.infer<typeof DirectiveSchema>;
export type Soak = z.infer<typeof SoakSchema>;

/** Check and sign a directive with deploy-role keys. Throws EdgefleetError if it is invalid. */
export function signDirective(
  directive: Directive,
  keys: readonly SigningKey[],
): Envelope<Directive> {
  return signEnvelope(orThrow(parseWith(DirectiveSchema, directive, 'directive')), keys);
}
