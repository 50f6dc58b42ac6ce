import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  RECORD_HEADER_BYTES,
  TelemetrySpool,
  type SpoolDrop,
  type SpoolRecord,
  type TelemetrySpoolOptions,
} from './telemetry-spool.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ef-spool-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** mulberry32: a small seeded generator, so "random" windows are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function windowBytes(index: number, length: number, random: () => number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  bytes[0] = index & 0xff; // so a mix-up between windows cannot go unnoticed
  return bytes;
}

const text = (s: string) => new TextEncoder().encode(s);
const open = (options: TelemetrySpoolOptions = {}) =>
  TelemetrySpool.open(dir, { durable: false, ...options });

async function readAll(spool: TelemetrySpool): Promise<SpoolRecord[]> {
  return spool.peek(Number.MAX_SAFE_INTEGER);
}

describe('TelemetrySpool', () => {
  it('drains records in append order with increasing seqs and removes them on ack', async () => {
    const spool = await open();
    for (const s of ['w1', 'w2', 'w3']) expect((await spool.append(text(s))).ok).toBe(true);
    const records = await spool.peek(2);
    expect(records.map((r) => [r.seq, new TextDecoder().decode(r.bytes)])).toEqual([
      [1, 'w1'],
      [2, 'w2'],
    ]);
    await spool.ack(2);
    expect((await readAll(spool)).map((r) => r.seq)).toEqual([3]);
    expect(spool.stats()).toMatchObject({ records: 1, bytes: RECORD_HEADER_BYTES + 2 });
  });

  it('keeps concurrent appends in call order', async () => {
    const spool = await open();
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => spool.append(text(`w${i}`))),
    );
    expect(outcomes.map((o) => (o.ok ? o.seq : -1))).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  it('lets the payload carry its own seq', async () => {
    const spool = await open();
    await spool.append(text('first'));
    await spool.append((seq) => text(JSON.stringify({ seq })));
    const [, second] = await readAll(spool);
    expect(JSON.parse(new TextDecoder().decode(second!.bytes))).toEqual({ seq: 2 });
  });

  it('drops exactly the oldest windows past the bound and loses nothing within it across a reopen', async () => {
    const random = seeded(42);
    const maxBytes = 4_000;
    const drops: SpoolDrop[] = [];
    const spool = await open({ maxBytes, onDrop: (d) => drops.push(d) });
    // Reference model of the bound: a FIFO of [seq, size] trimmed from the front.
    const expected: { seq: number; bytes: Uint8Array }[] = [];
    const expectedDrops: number[] = [];
    for (let i = 1; i <= 200; i++) {
      const bytes = windowBytes(i, 50 + Math.floor(random() * 300), random);
      const outcome = await spool.append(bytes);
      expect(outcome).toEqual({ ok: true, seq: i });
      expected.push({ seq: i, bytes });
      const size = () => expected.reduce((sum, r) => sum + RECORD_HEADER_BYTES + r.bytes.length, 0);
      while (size() > maxBytes) expectedDrops.push(expected.shift()!.seq);
    }
    expect(drops).toEqual(expectedDrops.map((seq) => ({ reason: 'oldest', seq })));
    expect(spool.stats().dropped.oldest).toBe(expectedDrops.length);
    expect(spool.stats().bytes).toBeLessThanOrEqual(maxBytes);
    expect(expectedDrops.length).toBeGreaterThan(100);

    await spool.close();
    const reopened = await open({ maxBytes });
    const records = await readAll(reopened);
    expect(records.map((r) => r.seq)).toEqual(expected.map((r) => r.seq));
    records.forEach((r, i) => {
      expect(Buffer.from(r.bytes).equals(Buffer.from(expected[i]!.bytes))).toBe(true);
    });
    expect((await reopened.append(text('next'))).ok && reopened.stats().nextSeq).toBe(202);
  });

  it('also bounds the number of records', async () => {
    const spool = await open({ maxRecords: 3 });
    for (let i = 0; i < 5; i++) await spool.append(text(`w${i}`));
    expect((await readAll(spool)).map((r) => r.seq)).toEqual([3, 4, 5]);
    expect(spool.stats().dropped.oldest).toBe(2);
  });

  it('enforces a smaller bound on reopen by dropping the oldest', async () => {
    const spool = await open();
    for (let i = 0; i < 5; i++) await spool.append(new Uint8Array(80));
    const reopened = await open({ maxBytes: 2 * (RECORD_HEADER_BYTES + 80) });
    expect((await readAll(reopened)).map((r) => r.seq)).toEqual([4, 5]);
    expect(reopened.stats().dropped.oldest).toBe(3);
  });

  it('drops a record larger than the whole spool and keeps the others', async () => {
    const spool = await open({ maxBytes: 100 });
    await spool.append(text('small'));
    expect(await spool.append(new Uint8Array(200))).toMatchObject({
      ok: false,
      reason: 'too_large',
    });
    expect((await readAll(spool)).map((r) => r.seq)).toEqual([1]);
    expect(spool.stats().dropped.too_large).toBe(1);
  });

  it('never reuses a seq after everything was acknowledged and the spool reopened', async () => {
    const spool = await open();
    for (let i = 0; i < 3; i++) await spool.append(text(`w${i}`));
    await spool.ack(3);
    expect(await readdir(dir)).toEqual(['next-seq.json']);
    const reopened = await open();
    expect(await reopened.append(text('w4'))).toEqual({ ok: true, seq: 4 });
  });

  it('skips and counts a truncated record and a corrupt one, keeping the rest in order', async () => {
    const spool = await open();
    for (let i = 1; i <= 4; i++) await spool.append(text(`window ${i}`));
    await truncate(join(dir, '0000000000000002.rec'), 23);
    await writeFile(join(dir, '0000000000000003.rec'), 'EFT1 but not really a record');
    const drops: SpoolDrop[] = [];
    const reopened = await open({ onDrop: (d) => drops.push(d) });
    expect((await readAll(reopened)).map((r) => r.seq)).toEqual([1, 4]);
    expect(drops.map((d) => [d.reason, d.seq])).toEqual([
      ['corrupt', 2],
      ['corrupt', 3],
    ]);
    expect(reopened.stats()).toMatchObject({ records: 2, dropped: { corrupt: 2 } });
  });

  it('detects a flipped payload bit with the CRC', async () => {
    const spool = await open();
    await spool.append(text('payload'));
    const path = join(dir, '0000000000000001.rec');
    const bytes = await readFile(path);
    bytes[RECORD_HEADER_BYTES + 2]! ^= 0x01;
    await writeFile(path, bytes);
    expect(await readAll(spool)).toEqual([]);
    expect(spool.stats().dropped.corrupt).toBe(1);
  });

  it('removes temp files of an interrupted write on open', async () => {
    await writeFile(join(dir, '0000000000000001.rec.tmp'), 'half');
    const spool = await open();
    expect(spool.stats().records).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it('counts ENOSPC on append as a drop, does not throw, and recovers when space returns', async () => {
    let full = true;
    const spool = await open({
      writeRecord: async (path, bytes) => {
        if (full)
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        await writeFile(path, bytes);
      },
    });
    expect(await spool.append(text('lost'))).toMatchObject({ ok: false, reason: 'no_space' });
    expect(await spool.append(text('lost too'))).toMatchObject({ ok: false, reason: 'no_space' });
    full = false;
    expect(await spool.append(text('kept'))).toEqual({ ok: true, seq: 1 });
    expect(spool.stats().dropped).toMatchObject({ no_space: 2, io_error: 0 });
  });

  it('counts other write errors as io_error', async () => {
    const spool = await open({
      writeRecord: () => Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })),
    });
    expect(await spool.append(text('x'))).toMatchObject({ ok: false, reason: 'io_error' });
  });

  it('drains in order and stops at a failing publish, which is retried by the next drain', async () => {
    const spool = await open();
    for (let i = 1; i <= 5; i++) await spool.append(text(`w${i}`));
    const published: number[] = [];
    const failing = await spool.drain((record) => {
      if (record.seq === 3) return Promise.reject(new Error('broker went away'));
      published.push(record.seq);
      return Promise.resolve();
    });
    expect(failing).toMatchObject({ sent: 2, error: new Error('broker went away') });
    expect(await spool.drain((record) => Promise.resolve(void published.push(record.seq)))).toEqual(
      {
        sent: 3,
      },
    );
    expect(published).toEqual([1, 2, 3, 4, 5]);
    expect(spool.stats().records).toBe(0);
  });

  it('re-sends a record published but not acknowledged before a crash (at-least-once)', async () => {
    const spool = await open();
    await spool.append(text('w1'));
    const [record] = await spool.peek(); // published here; the process dies before ack
    const reopened = await open();
    const again = await reopened.peek();
    expect(again).toEqual([record]);
  });

  it('stops a drain when the signal aborts', async () => {
    const spool = await open();
    for (let i = 1; i <= 3; i++) await spool.append(text(`w${i}`));
    const controller = new AbortController();
    const outcome = await spool.drain(
      () => {
        controller.abort();
        return Promise.resolve();
      },
      { signal: controller.signal },
    );
    expect(outcome).toEqual({ sent: 1 });
    expect(spool.stats().records).toBe(2);
  });

  it('joins a drain already running instead of publishing twice', async () => {
    const spool = await open();
    await spool.append(text('w1'));
    const seen: number[] = [];
    const publish = (r: SpoolRecord) => Promise.resolve(void seen.push(r.seq));
    const [a, b] = await Promise.all([spool.drain(publish), spool.drain(publish)]);
    expect(a).toBe(b);
    expect(seen).toEqual([1]);
  });
});
