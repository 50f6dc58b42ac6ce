import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SeqLease } from './seq-lease.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ef-seq-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SeqLease', () => {
  it('counts from 1 and never reuses a number after a restart, writing once per block', async () => {
    const path = join(dir, 'telemetry-seq.json');
    const lease = await SeqLease.open(path, 3);
    expect([await lease.next(), await lease.next(), await lease.next()]).toEqual([1, 2, 3]);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ reservedBelow: 4 });
    expect(await lease.next()).toBe(4);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ reservedBelow: 7 });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // A crash now: 5 and 6 were reserved but never used; they are skipped, not reused.
    const again = await SeqLease.open(path, 3);
    expect(await again.next()).toBe(7);
  });
});
