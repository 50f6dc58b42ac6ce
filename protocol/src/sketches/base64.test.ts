import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64, encodeBase64 } from './base64.js';

const bytesOf = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('base64', () => {
  it('matches the RFC 4648 test vectors', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, encoded] of vectors) {
      expect(encodeBase64(bytesOf(plain))).toBe(encoded);
      const back = decodeBase64(encoded);
      expect(back.ok && back.value).toEqual(bytesOf(plain));
    }
    expect(encodeBase64(new Uint8Array([0xfb, 0xff]))).toBe('+/8=');
  });

  it('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const back = decodeBase64(encodeBase64(bytes));
        expect(back.ok && back.value).toEqual(bytes);
      }),
      { numRuns: 300, seed: 1 },
    );
    const big = new Uint8Array(20_000).map((_, i) => (i * 7) & 255);
    const back = decodeBase64(encodeBase64(big));
    expect(back.ok && back.value).toEqual(big);
  });

  it('rejects text that is not canonical base64', () => {
    for (const bad of [
      'Zg=',
      'Zg',
      'Z===',
      'Zh==',
      'Zm9=',
      'Zm=v',
      'Zm9v=',
      '====',
      'Zm9\u00e9',
      'Zm 9',
    ]) {
      const r = decodeBase64(bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.code).toBe('EF_MALFORMED');
    }
  });

  it('refuses output beyond the cap before allocating it', () => {
    const r = decodeBase64('Zm9vYmFy', 5);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('EF_TOO_LARGE');
  });

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        const r = decodeBase64(text);
        if (r.ok) expect(encodeBase64(r.value)).toBe(text);
      }),
      { numRuns: 1000, seed: 2 },
    );
  });
});
