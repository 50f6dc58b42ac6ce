/**
 * Webhook signatures: HMAC-SHA256 with the webhook's secret over `${timestamp}.${body}`, where the
 * timestamp is Unix seconds and the body is the exact request body. Signing the timestamp with the
 * body lets receivers refuse replays of an old request (`toleranceSec`).
 *
 * Headers of every delivery:
 *   X-Edgefleet-Signature: sha256=<hex>
 *   X-Edgefleet-Timestamp: <unix seconds>
 *   X-Edgefleet-Event:     <event type, e.g. retraining.requested>
 *   X-Edgefleet-Delivery:  <delivery id: the same on every retry of one delivery>
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-edgefleet-signature';
export const TIMESTAMP_HEADER = 'x-edgefleet-timestamp';
export const EVENT_HEADER = 'x-edgefleet-event';
export const DELIVERY_HEADER = 'x-edgefleet-delivery';

/** Default accepted clock difference between sender and receiver, seconds. */
export const DEFAULT_SIGNATURE_TOLERANCE_SEC = 300;

const encoder = new TextEncoder();
const toBytes = (body: string | Uint8Array): Uint8Array =>
  typeof body === 'string' ? encoder.encode(body) : body;

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
export function signWebhookBody(
  secret: string,
  timestampSec: number,
  body: string | Uint8Array,
): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestampSec}.`);
  mac.update(toBytes(body));
  return `sha256=${mac.digest('hex')}`;
}

/** The headers of one delivery attempt (content type included). */
export function webhookHeaders(input: {
  readonly secret: string;
  readonly event: string;
  readonly deliveryId: string;
  readonly body: string;
  readonly timestampSec: number;
}): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'edgefleet-webhooks/1',
    [SIGNATURE_HEADER]: signWebhookBody(input.secret, input.timestampSec, input.body),
    [TIMESTAMP_HEADER]: String(input.timestampSec),
    [EVENT_HEADER]: input.event,
    [DELIVERY_HEADER]: input.deliveryId,
  };
}

/** Request headers as a receiver has them: a fetch `Headers`, or Node's `IncomingHttpHeaders`. */
export type ReceivedHeaders =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>;

export type WebhookVerification =
  | { readonly ok: true; readonly timestampSec: number }
  | {
      readonly ok: false;
      readonly reason:
        | 'missing_signature'
        | 'missing_timestamp'
        | 'invalid_timestamp'
        | 'timestamp_out_of_tolerance'
        | 'signature_mismatch';
    };

function header(headers: ReceivedHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? (value as readonly string[])[0] : (value as string | undefined);
}

/**
 * Check a received webhook: the timestamp is within `toleranceSec` of the receiver's clock and one
 * of the `sha256=` signatures (comma-separated, for secret rotation) matches the body, compared in
 * constant time. Pass the raw body exactly as received (not re-serialised JSON).
 */
export function verifyWebhookSignature(
  secret: string,
  headers: ReceivedHeaders,
  body: string | Uint8Array,
  toleranceSec: number = DEFAULT_SIGNATURE_TOLERANCE_SEC,
  nowSec: number = Math.floor(Date.now() / 1000),
): WebhookVerification {
  const signature = header(headers, SIGNATURE_HEADER);
  if (signature === undefined || signature === '')
    return { ok: false, reason: 'missing_signature' };
  const stamp = header(headers, TIMESTAMP_HEADER);
  if (stamp === undefined || stamp === '') return { ok: false, reason: 'missing_timestamp' };
  if (!/^\d{1,12}$/.test(stamp)) return { ok: false, reason: 'invalid_timestamp' };
  const timestampSec = Number(stamp);
  if (Math.abs(nowSec - timestampSec) > toleranceSec) {
    return { ok: false, reason: 'timestamp_out_of_tolerance' };
  }
  const expected = Buffer.from(signWebhookBody(secret, timestampSec, body));
  const matches = signature
    .split(',')
    .map((s) => Buffer.from(s.trim()))
    .some((given) => given.length === expected.length && timingSafeEqual(given, expected));
  return matches ? { ok: true, timestampSec } : { ok: false, reason: 'signature_mismatch' };
}
