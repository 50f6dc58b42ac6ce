import { inspect } from 'node:util';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from './sha256.js';
import {
  decodeSigningKeyFile,
  encodeSigningKeyFile,
  generateSigningKey,
  keyIdOf,
  publicKeyObject,
  SigningKey,
} from './keys.js';

// RFC 8032 §7.1, TEST 1.
const RFC_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC_SIG =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

const key = SigningKey.fromSeed(hexToBytes(RFC_SEED));

describe('Ed25519 keys', () => {
  it('derives the RFC 8032 test 1 public key and signature from its seed', () => {
    expect(key.publicKey).toEqual({
      keytype: 'ed25519',
      scheme: 'ed25519',
      keyval: { public: RFC_PUBLIC },
    });
    expect(bytesToHex(key.sign(new Uint8Array(0)))).toBe(RFC_SIG);
  });

  it('names a key by the sha256 of its canonical key object', () => {
    const canonical = `{"keytype":"ed25519","keyval":{"public":"${RFC_PUBLIC}"},"scheme":"ed25519"}`;
    expect(keyIdOf(key.publicKey)).toBe(sha256Hex(new TextEncoder().encode(canonical)));
    expect(key.keyid).toBe(keyIdOf(key.publicKey));
  });

  it('generates the same key from the same injected randomness', () => {
    const requested: number[] = [];
    const bytes = (n: number) => {
      requested.push(n);
      return new Uint8Array(n).fill(7);
    };
    expect(generateSigningKey(bytes).keyid).toBe(generateSigningKey(bytes).keyid);
    expect(requested).toEqual([32, 32]);
  });

  it('generates different keys from the default randomness', () => {
    expect(generateSigningKey().keyid).not.toBe(generateSigningKey().keyid);
  });

  it('refuses a seed that is not 32 bytes', () => {
    expect(() => SigningKey.fromSeed(new Uint8Array(31))).toThrow(/32 bytes/);
  });

  it('refuses a public key that is not 32 bytes', () => {
    expect(() => publicKeyObject(new Uint8Array(33))).toThrow(/32 bytes/);
  });
});

describe('SigningKey never shows its secret', () => {
  const secretHex = RFC_SEED;
  const shown = [
    ['JSON.stringify', JSON.stringify(key)],
    ['String()', String(key)],
    ['util.inspect', inspect(key)],
    ['util.inspect with showHidden', inspect(key, { showHidden: true, depth: 5 })],
    ['util.inspect without custom inspectors', inspect(key, { customInspect: false, depth: 5 })],
    [
      'its own properties',
      JSON.stringify(
        Object.getOwnPropertyNames(key).map((p) => [
          p,
          (key as unknown as Record<string, unknown>)[p],
        ]),
      ),
    ],
    ['its enumerable entries', JSON.stringify(Object.entries(key))],
    ['structuredClone', JSON.stringify(structuredClone(key))],
  ] as const;

  it.each(shown)('keeps the seed out of %s', (_how, text) => {
    expect(text).not.toContain(secretHex);
    expect(text.toLowerCase()).not.toContain(secretHex.slice(0, 16));
  });

  it('shows the key id in its string form', () => {
    expect(String(key)).toBe(`SigningKey(ed25519 ${key.keyid})`);
    expect(inspect(key)).toBe(String(key));
  });

  it('serialises to its key id and public key only', () => {
    expect(JSON.parse(JSON.stringify(key))).toEqual({ keyid: key.keyid, publicKey: key.publicKey });
  });

  it('cannot be changed', () => {
    expect(Object.isFrozen(key)).toBe(true);
  });
});

describe('key files', () => {
  it('round-trips a key through its key file', () => {
    const decoded = decodeSigningKeyFile(encodeSigningKeyFile(key));
    if (!decoded.ok) throw new Error(decoded.message);
    expect(decoded.value.keyid).toBe(key.keyid);
    expect(bytesToHex(decoded.value.sign(new Uint8Array(0)))).toBe(RFC_SIG);
  });

  it('writes canonical JSON with the seed as keyval.private and a final newline', () => {
    expect(encodeSigningKeyFile(key)).toBe(
      `{"_type":"edgefleet-signing-key","keyid":"${key.keyid}","keytype":"ed25519",` +
        `"keyval":{"private":"${RFC_SEED}","public":"${RFC_PUBLIC}"},"scheme":"ed25519"}\n`,
    );
  });

  it('reads a reformatted key file', () => {
    const pretty = JSON.stringify(JSON.parse(encodeSigningKeyFile(key)), null, 2);
    expect(decodeSigningKeyFile(pretty).ok).toBe(true);
  });

  const file = () =>
    JSON.parse(encodeSigningKeyFile(key)) as Record<string, unknown> & {
      keyval: Record<string, string>;
    };

  it('refuses a key file whose public key does not belong to its private key', () => {
    const f = file();
    f.keyval.public = 'ab'.repeat(32);
    expect(decodeSigningKeyFile(JSON.stringify(f))).toMatchObject({
      ok: false,
      code: 'EF_MALFORMED',
    });
  });

  it('refuses a key file whose key id does not match its public key', () => {
    const f = file();
    f.keyid = 'cd'.repeat(32);
    expect(decodeSigningKeyFile(JSON.stringify(f))).toMatchObject({
      ok: false,
      code: 'EF_MALFORMED',
    });
  });

  it.each([
    ['not JSON', 'not json'],
    ['another key type', JSON.stringify({ ...file(), keytype: 'rsa' })],
    [
      'a short private key',
      JSON.stringify({ ...file(), keyval: { ...file().keyval, private: 'ab' } }),
    ],
    ['an extra member', JSON.stringify({ ...file(), note: 'x' })],
  ])('refuses a key file with %s', (_what, text) => {
    expect(decodeSigningKeyFile(text)).toMatchObject({ ok: false, code: 'EF_MALFORMED' });
  });

  it('refuses an oversized key file before parsing it', () => {
    expect(decodeSigningKeyFile(' '.repeat(10_000))).toMatchObject({
      ok: false,
      code: 'EF_TOO_LARGE',
    });
  });
});
