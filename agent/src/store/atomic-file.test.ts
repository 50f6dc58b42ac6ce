import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic, writeJsonFileAtomic } from './atomic-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ef-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const Schema = z.strictObject({ name: z.string(), count: z.int() });

describe('writeFileAtomic', () => {
  it('creates a file and then replaces its content, leaving no temp files', async () => {
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, 'first');
    await writeFileAtomic(path, new TextEncoder().encode('second'));
    expect(await readFile(path, 'utf8')).toBe('second');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('applies the requested mode', async () => {
    const path = join(dir, 'secret');
    await writeFileAtomic(path, 'x', { mode: 0o600 });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('removes its temp file and keeps the old target when the rename fails', async () => {
    const target = join(dir, 'target');
    await mkdir(join(target, 'occupied'), { recursive: true }); // renaming a file over a non-empty dir fails
    await expect(writeFileAtomic(target, 'data')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['target']);
  });

  it('rejects when the directory does not exist', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'file'), 'data')).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});

describe('readJsonFile', () => {
  it('returns the parsed value of a file written by writeJsonFileAtomic', async () => {
    const path = join(dir, 'a.json');
    await writeJsonFileAtomic(path, { name: 'x', count: 3 });
    expect(await readJsonFile(path, Schema)).toEqual({ ok: true, value: { name: 'x', count: 3 } });
  });

  it('returns EF_NOT_FOUND for a missing file', async () => {
    const result = await readJsonFile(join(dir, 'none.json'), Schema);
    expect(result).toMatchObject({ ok: false, code: 'EF_NOT_FOUND' });
  });

  it('returns EF_MALFORMED for invalid JSON', async () => {
    const path = join(dir, 'bad.json');
    await writeFile(path, '{"name": "x", ');
    expect(await readJsonFile(path, Schema)).toMatchObject({ ok: false, code: 'EF_MALFORMED' });
  });

  it('returns EF_MALFORMED with the issues when the schema does not match', async () => {
    const path = join(dir, 'wrong.json');
    await writeFile(path, JSON.stringify({ name: 'x', count: 'three' }));
    const result = await readJsonFile(path, Schema);
    expect(result).toMatchObject({
      ok: false,
      code: 'EF_MALFORMED',
      details: { issues: [{ path: 'count' }] },
    });
  });

  it('returns EF_TOO_LARGE for a file over the cap without parsing it', async () => {
    const path = join(dir, 'big.json');
    await writeFile(path, JSON.stringify({ name: 'x'.repeat(100), count: 1 }));
    const result = await readJsonFile(path, Schema, { maxBytes: 50 });
    expect(result).toMatchObject({ ok: false, code: 'EF_TOO_LARGE' });
  });
});
