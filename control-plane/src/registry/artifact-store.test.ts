import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArtifactStore, parseRange } from './artifact-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ef-artifacts-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function chunks(parts: string[]): Readable {
  return Readable.from(parts.map((p) => Buffer.from(p)));
}

describe('filesystem artifact store', () => {
  it('stores a streamed upload under its sha256 and reads it back', async () => {
    const store = new FsArtifactStore(dir);
    const { sha256, length } = await store.put(chunks(['hello ', 'edge ', 'fleet']));
    expect(sha256).toBe(createHash('sha256').update('hello edge fleet').digest('hex'));
    expect(length).toBe(16);
    expect(await text(store.read(sha256))).toBe('hello edge fleet');
    expect(await text(store.read(sha256, { start: 6, end: 9 }))).toBe('edge');
    expect(await store.stat(sha256)).toEqual({ sha256, length: 16 });
  });

  it('refuses an upload over the cap with EF_TOO_LARGE and keeps nothing', async () => {
    const store = new FsArtifactStore(dir);
    await expect(store.put(chunks(['12345', '67890']), { maxBytes: 8 })).rejects.toMatchObject({
      code: 'EF_TOO_LARGE',
    });
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    expect((await readdir(dir)).filter((d) => d !== 'tmp')).toEqual([]);
  });

  it('stores identical content once', async () => {
    const store = new FsArtifactStore(dir);
    const a = await store.putBytes(new TextEncoder().encode('same'));
    const b = await store.put(chunks(['sa', 'me']));
    expect(a).toEqual(b);
  });

  it('answers undefined for unknown or malformed ids', async () => {
    const store = new FsArtifactStore(dir);
    expect(await store.stat('0'.repeat(64))).toBeUndefined();
    expect(await store.stat('../../etc/passwd')).toBeUndefined();
    expect(() => store.path('../x')).toThrow(expect.objectContaining({ code: 'EF_BAD_REQUEST' }));
  });
});

describe('Range header parsing', () => {
  it('handles closed, open-ended and suffix ranges', () => {
    expect(parseRange('bytes=0-3', 10)).toEqual({ start: 0, end: 3 });
    expect(parseRange('bytes=4-', 10)).toEqual({ start: 4, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
  });

  it('reports unsatisfiable ranges and ignores malformed ones', () => {
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-2', 10)).toBe('unsatisfiable');
    expect(parseRange('items=0-1', 10)).toBeUndefined();
    expect(parseRange('bytes=0-1,3-4', 10)).toBeUndefined();
    expect(parseRange(undefined, 10)).toBeUndefined();
  });
});
