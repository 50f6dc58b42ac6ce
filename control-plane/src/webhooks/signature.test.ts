import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, retryDelayMs } from './backoff.js';
import { signWebhookBody, verifyWebhookSignature, webhookHeaders } from './signature.js';

const SECRET = 'whsec_test_secret_0123456789';
const BODY = '{"id":"e1","type":"retraining.requested","data":{"model":"m"}}';
const NOW = 1_900_000_000;

const headersFor = (body = BODY, ts = NOW, secret = SECRET) =>
  webhookHeaders({
    secret,
    event: 'retraining.requested',
    deliveryId: '42',
    body,
    timestampSec: ts,
  });

describe('webhook signatures', () => {
  it('signs HMAC-SHA256 over "<timestamp>.<body>" as sha256=<hex>', () => {
    const expected = createHmac('sha256', SECRET).update(`${NOW}.${BODY}`).digest('hex');
    expect(signWebhookBody(SECRET, NOW, BODY)).toBe(`sha256=${expected}`);
    expect(signWebhookBody(SECRET, NOW, new TextEncoder().encode(BODY))).toBe(`sha256=${expected}`);
  });

  it('sends the signature, timestamp, event and delivery headers', () => {
    expect(headersFor()).toMatchObject({
      'content-type': 'application/json',
      'x-edgefleet-signature': signWebhookBody(SECRET, NOW, BODY),
      'x-edgefleet-timestamp': String(NOW),
      'x-edgefleet-event': 'retraining.requested',
      'x-edgefleet-delivery': '42',
    });
  });

  it('verifies a genuine request (fetch Headers or Node header records)', () => {
    const h = headersFor();
    expect(verifyWebhookSignature(SECRET, h, BODY, 300, NOW + 10)).toEqual({
      ok: true,
      timestampSec: NOW,
    });
    expect(verifyWebhookSignature(SECRET, new Headers(h), BODY, 300, NOW).ok).toBe(true);
    const upper = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhookSignature(SECRET, upper, BODY, 300, NOW).ok).toBe(true);
  });

  it('refuses a tampered body, a wrong secret, and a re-signed timestamp', () => {
    const h = headersFor();
    const reason = (r: ReturnType<typeof verifyWebhookSignature>) => (r.ok ? 'ok' : r.reason);
    expect(reason(verifyWebhookSignature(SECRET, h, `${BODY} `, 300, NOW))).toBe(
      'signature_mismatch',
    );
    expect(reason(verifyWebhookSignature('another-secret-0123456', h, BODY, 300, NOW))).toBe(
      'signature_mismatch',
    );
    // Replaying the body with a fresh timestamp but the old signature fails.
    expect(
      reason(
        verifyWebhookSignature(
          SECRET,
          { ...h, 'x-edgefleet-timestamp': String(NOW + 5) },
          BODY,
          300,
          NOW,
        ),
      ),
    ).toBe('signature_mismatch');
  });

  it('refuses requests outside the tolerance, and missing or invalid headers', () => {
    const h = headersFor();
    const reason = (r: ReturnType<typeof verifyWebhookSignature>) => (r.ok ? 'ok' : r.reason);
    expect(reason(verifyWebhookSignature(SECRET, h, BODY, 300, NOW + 301))).toBe(
      'timestamp_out_of_tolerance',
    );
    expect(reason(verifyWebhookSignature(SECRET, h, BODY, 300, NOW - 301))).toBe(
      'timestamp_out_of_tolerance',
    );
    expect(reason(verifyWebhookSignature(SECRET, {}, BODY, 300, NOW))).toBe('missing_signature');
    const { 'x-edgefleet-timestamp': _t, ...noStamp } = h;
    expect(reason(verifyWebhookSignature(SECRET, noStamp, BODY, 300, NOW))).toBe(
      'missing_timestamp',
    );
    expect(
      reason(verifyWebhookSignature(SECRET, { ...h, 'x-edgefleet-timestamp': '1e9' }, BODY)),
    ).toBe('invalid_timestamp');
  });

  it('accepts any of several comma-separated signatures (secret rotation)', () => {
    const h = headersFor();
    const both = `${signWebhookBody('old-secret-0123456789', NOW, BODY)},${h['x-edgefleet-signature']!}`;
    expect(
      verifyWebhookSignature(SECRET, { ...h, 'x-edgefleet-signature': both }, BODY, 300, NOW).ok,
    ).toBe(true);
  });
});

describe('retry backoff', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 1000, maxDelayMs: 10_000, maxAttempts: 6 };

  it('doubles the delay after each failure, up to the cap', () => {
    const noJitter = { ...policy, jitter: 0 };
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, noJitter, () => 0.5))).toEqual([
      1000, 2000, 4000, 8000, 10_000,
    ]);
  });

  it('takes up to the jitter fraction off at random', () => {
    expect(retryDelayMs(3, policy, () => 0)).toBe(4000);
    expect(retryDelayMs(3, policy, () => 0.999999)).toBe(2000);
    expect(retryDelayMs(3, policy, () => 0.5)).toBe(3000);
  });

  it('gives up after maxAttempts attempts', () => {
    expect(retryDelayMs(5, policy, () => 0)).toBeDefined();
    expect(retryDelayMs(6, policy, () => 0)).toBeUndefined();
  });
});
