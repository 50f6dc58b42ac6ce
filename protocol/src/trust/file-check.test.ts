import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../crypto/sha256.js';
import { createFileCheck, type Hasher } from './file-check.js';

const bytes = new TextEncoder().encode('0123456789');
const signed = { sha256: sha256Hex(bytes), length: bytes.length };

function feed(chunks: Uint8Array[], expected = signed, hasher?: Hasher) {
  const check = createFileCheck(expected, hasher);
  const updates = chunks.map((c) => check.update(c));
  return { check, updates };
}

describe('createFileCheck', () => {
  it('accepts the signed bytes in any chunking', () => {
    for (const size of [1, 3, 10]) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const { check, updates } = feed(chunks);
      expect(updates.every((u) => u.ok)).toBe(true);
      expect(check.finish()).toEqual({ ok: true, value: undefined });
    }
  });

  it('accepts an empty file signed with length 0', () => {
    const check = createFileCheck({ sha256: sha256Hex(new Uint8Array(0)), length: 0 });
    expect(check.update(new Uint8Array(0)).ok).toBe(true);
    expect(check.finish().ok).toBe(true);
  });

  it('fails the update that brings the file to length+1 and keeps the bytes before it', () => {
    const { check, updates } = feed([bytes, new Uint8Array(1)]);
    expect(updates[0]!.ok).toBe(true);
    expect(updates[1]).toMatchObject({ ok: false, code: 'EF_LENGTH_MISMATCH' });
    expect(check.received).toBe(bytes.length);
  });

  it('fails a single chunk longer than the signed length', () => {
    const { updates } = feed([new Uint8Array(bytes.length + 1)]);
    expect(updates[0]).toMatchObject({ ok: false, code: 'EF_LENGTH_MISMATCH' });
  });

  it('keeps failing after the first failure', () => {
    const { check } = feed([new Uint8Array(bytes.length + 1)]);
    expect(check.update(new Uint8Array(0))).toMatchObject({ code: 'EF_LENGTH_MISMATCH' });
    expect(check.finish()).toMatchObject({ code: 'EF_LENGTH_MISMATCH' });
  });

  it('fails a file shorter than signed at finish', () => {
    const { check } = feed([bytes.subarray(0, 9)]);
    expect(check.finish()).toMatchObject({
      ok: false,
      code: 'EF_LENGTH_MISMATCH',
      details: { expectedLength: 10, receivedLength: 9 },
    });
  });

  it('fails a file of the right length with another hash', () => {
    const { check } = feed([new TextEncoder().encode('0123456780')]);
    expect(check.finish()).toMatchObject({ ok: false, code: 'EF_HASH_MISMATCH' });
  });

  it('uses an injected hasher', () => {
    const seen: number[] = [];
    const hasher: Hasher = {
      update: (b) => seen.push(b.length),
      digestHex: () => signed.sha256,
    };
    const { check } = feed([new Uint8Array(4), new Uint8Array(6)], signed, hasher);
    expect(check.finish().ok).toBe(true);
    expect(seen).toEqual([4, 6]);
  });

  it('refuses an update after a successful finish', () => {
    const { check } = feed([bytes]);
    expect(check.finish().ok).toBe(true);
    expect(check.update(new Uint8Array(0))).toMatchObject({ ok: false, code: 'EF_INTERNAL' });
    expect(check.finish().ok).toBe(true);
  });
});
