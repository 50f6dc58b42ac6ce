import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  describeError,
  MAX_CONCURRENT_WRITES,
  readJsonFile,
  writeFileAtomic,
  writeJsonFileAtomic,
} from './atomic-file.js';
import { countSyncs } from './sync-counter.test-support.js';

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

describe('writeFileAtomic durability', () => {
  it('fsyncs the file and its directory by default', async () => {
    const syncs = await countSyncs();
    try {
      await writeFileAtomic(join(dir, 'state.json'), 'x');
      expect(syncs.count).toBe(2);
    } finally {
      syncs.restore();
    }
  });

  it('with durable: false fsyncs nothing and still replaces the file by a rename', async () => {
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, 'old');
    const before = (await stat(path)).ino;
    const syncs = await countSyncs();
    try {
      await writeFileAtomic(path, 'new', { durable: false });
      expect(syncs.count).toBe(0);
    } finally {
      syncs.restore();
    }
    expect(await readFile(path, 'utf8')).toBe('new');
    expect((await stat(path)).ino).not.toBe(before); // a new file renamed over the old one
    expect(await readdir(dir)).toEqual(['state.json']);
  });
});

describe('writeFileAtomic concurrency', () => {
  it(`runs at most ${MAX_CONCURRENT_WRITES} writes at once, finishing early ones first`, async () => {
    const handle = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(handle) as {
      writeFile: (...a: unknown[]) => Promise<void>;
    };
    await handle.close();
    await rm(join(dir, 'probe'));
    let inFlight = 0;
    let most = 0;
    const writeFileOf = proto.writeFile;
    const writes = vi.spyOn(proto, 'writeFile').mockImplementation(async function (
      this: unknown,
      ...args: unknown[]
    ) {
      most = Math.max(most, ++inFlight);
      try {
        await writeFileOf.apply(this, args);
      } finally {
        inFlight--;
      }
    });
    const finished: number[] = [];
    try {
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          writeFileAtomic(join(dir, `f${i}`), `${i}`, { durable: false }).then(() => {
            finished.push(i);
          }),
        ),
      );
    } finally {
      writes.mockRestore();
    }
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(MAX_CONCURRENT_WRITES);
    // First come, first served: the first write is done long before the last one starts.
    expect(finished.indexOf(0)).toBeLessThan(100);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('describeError', () => {
  it('names the system error code and the cause', () => {
    const cause = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    expect(describeError(new Error('fetch failed', { cause }))).toBe(
      'fetch failed (cause: UND_ERR_SOCKET: other side closed)',
    );
    const emfile = Object.assign(new Error("EMFILE: too many open files, open '/x'"), {
      code: 'EMFILE',
    });
    expect(describeError(emfile)).toBe("EMFILE: too many open files, open '/x'");
    expect(describeError('plain')).toBe('plain');
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
