import { hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { canonicalBytes } from '../canonical-json.js';
import { verifyEd25519 } from './ed25519.js';
import {
  addSignature,
  envelopeSchema,
  signEnvelope,
  signatureOf,
  verifyThreshold,
  type Envelope,
} from './envelope.js';
import { type PublicKeyObject, publicKeyBytes, SigningKey } from './keys.js';
import { z } from 'zod';

const [k1, k2, k3, k4] = [1, 2, 3, 4].map((n) =>
  SigningKey.fromSeed(new Uint8Array(32).fill(n)),
) as [SigningKey, SigningKey, SigningKey, SigningKey];
const keys: Record<string, PublicKeyObject> = Object.fromEntries(
  [k1, k2, k3, k4].map((k) => [k.keyid, k.publicKey]),
);
const doc = { _type: 'note', b: [1, 2], a: 'é' };
const role = (ks: readonly SigningKey[], threshold: number) => ({
  keyids: ks.map((k) => k.keyid),
  threshold,
});
const codeOf = (r: { ok: boolean; code?: string }) => (r.ok ? 'ok' : r.code);

describe('signing', () => {
  it('signs the canonical bytes of the signed part', () => {
    const env = signEnvelope(doc, [k1]);
    const sig = hexToBytes(env.signatures[0]!.sig);
    expect(verifyEd25519(canonicalBytes(doc), sig, publicKeyBytes(k1.publicKey))).toBe(true);
    expect(env.signatures[0]!.keyid).toBe(k1.keyid);
  });

  it('signs once per key when a key is given twice', () => {
    expect(signEnvelope(doc, [k1, k2, k1]).signatures.map((s) => s.keyid)).toEqual([
      k1.keyid,
      k2.keyid,
    ]);
  });

  it('adds a signature to a copy and leaves the original as it was', () => {
    const env = signEnvelope(doc, [k1]);
    const more = addSignature(env, k2);
    expect(env.signatures).toHaveLength(1);
    expect(more.signatures.map((s) => s.keyid)).toEqual([k1.keyid, k2.keyid]);
  });

  it('replaces an earlier signature by the same key', () => {
    const env: Envelope<unknown> = {
      signed: doc,
      signatures: [{ keyid: k1.keyid, sig: '00'.repeat(64) }],
    };
    expect(addSignature(env, k1).signatures).toEqual([signatureOf(doc, k1)]);
  });

  it('refuses to sign what JSON cannot represent', () => {
    expect(() => signEnvelope({ when: new Date(0) }, [k1])).toThrow(/plain object/);
  });

  it('describes envelopes with a strict schema', () => {
    const schema = envelopeSchema(z.strictObject({ n: z.number() }));
    expect(schema.safeParse(signEnvelope({ n: 1 }, [k1])).success).toBe(true);
    expect(schema.safeParse({ ...signEnvelope({ n: 1 }, [k1]), extra: 1 }).success).toBe(false);
    const upper = { signed: { n: 1 }, signatures: [{ keyid: k1.keyid, sig: 'AB'.repeat(64) }] };
    expect(schema.safeParse(upper).success).toBe(false);
  });
});

describe('verifyThreshold', () => {
  it('reports the key ids whose signatures are valid', () => {
    const r = verifyThreshold(signEnvelope(doc, [k1, k3]), role([k1, k2, k3], 2), keys);
    expect(r).toEqual({ ok: true, value: { validKeyids: [k1.keyid, k3.keyid] } });
  });

  it('refuses fewer valid signatures than the threshold', () => {
    const r = verifyThreshold(signEnvelope(doc, [k1]), role([k1, k2, k3], 2), keys);
    expect(r).toMatchObject({
      ok: false,
      code: 'EF_SIGNATURE_INVALID',
      details: { valid: 1, threshold: 2 },
    });
  });

  it('counts a signature repeated in the envelope once', () => {
    const one = signEnvelope(doc, [k1]);
    const env = { signed: doc, signatures: [one.signatures[0]!, one.signatures[0]!] };
    expect(codeOf(verifyThreshold(env, role([k1, k2], 2), keys))).toBe('EF_SIGNATURE_INVALID');
  });

  it('counts a key id listed twice in the role once', () => {
    const r = verifyThreshold(signEnvelope(doc, [k1]), role([k1, k1, k2], 2), keys);
    expect(codeOf(r)).toBe('EF_SIGNATURE_INVALID');
  });

  it('refuses a threshold above the number of distinct key ids', () => {
    const r = verifyThreshold(signEnvelope(doc, [k1]), role([k1, k1], 2), keys);
    expect(codeOf(r)).toBe('EF_THRESHOLD_INVALID');
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses the threshold %d', (threshold) => {
    const r = verifyThreshold(signEnvelope(doc, [k1, k2]), role([k1, k2], threshold), keys);
    expect(codeOf(r)).toBe('EF_THRESHOLD_INVALID');
  });

  it('ignores signatures by keys outside the role', () => {
    const r = verifyThreshold(signEnvelope(doc, [k1, k4]), role([k1, k2], 2), keys);
    expect(codeOf(r)).toBe('EF_SIGNATURE_INVALID');
  });

  it('ignores role key ids missing from the key map', () => {
    const { [k2.keyid]: _dropped, ...without } = keys;
    const r = verifyThreshold(signEnvelope(doc, [k1, k2]), role([k1, k2], 2), without);
    expect(codeOf(r)).toBe('EF_SIGNATURE_INVALID');
  });

  it('ignores a key filed under a key id that is not its hash', () => {
    const aliased = { ...keys, [k2.keyid]: k1.publicKey };
    const env = {
      signed: doc,
      signatures: [signatureOf(doc, k1), { keyid: k2.keyid, sig: signatureOf(doc, k1).sig }],
    };
    expect(codeOf(verifyThreshold(env, role([k1, k2], 2), aliased))).toBe('EF_SIGNATURE_INVALID');
  });

  it('ignores malformed and wrong signatures and still meets the threshold with the rest', () => {
    const env = {
      signed: doc,
      signatures: [
        { keyid: k1.keyid, sig: 'not hex' },
        { keyid: k2.keyid, sig: signatureOf({ other: true }, k2).sig },
        signatureOf(doc, k1),
        signatureOf(doc, k3),
      ],
    };
    expect(verifyThreshold(env, role([k1, k2, k3], 2), keys)).toEqual({
      ok: true,
      value: { validKeyids: [k1.keyid, k3.keyid] },
    });
  });

  it('refuses a signature once the signed part changes', () => {
    const env = signEnvelope(doc, [k1]);
    const changed = { signed: { ...doc, a: 'e' }, signatures: env.signatures };
    expect(codeOf(verifyThreshold(changed, role([k1], 1), keys))).toBe('EF_SIGNATURE_INVALID');
  });

  it('does not mistake prototype members of the key map for keys', () => {
    const r = verifyThreshold(
      { signed: doc, signatures: [] },
      { keyids: ['constructor', '__proto__'], threshold: 1 },
      keys,
    );
    expect(codeOf(r)).toBe('EF_SIGNATURE_INVALID');
  });

  it('returns EF_MALFORMED for a signed part JSON cannot represent', () => {
    const r = verifyThreshold({ signed: { n: NaN }, signatures: [] }, role([k1], 1), keys);
    expect(codeOf(r)).toBe('EF_MALFORMED');
  });
});
