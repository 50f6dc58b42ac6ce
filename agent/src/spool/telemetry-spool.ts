/**
 * A bounded on-disk FIFO for telemetry windows while the device is offline (ARCHITECTURE §5 step 7).
 *
 * Format: one file per record, `<dir>/<seq, 16 decimal digits>.rec`, written to `<name>.tmp`, fsynced
 * and renamed into place (then the directory fsynced), so a record is on disk whole or not at all.
 * A file is a 20-byte little-endian header followed by the payload:
 *
 *     offset 0   4 bytes  magic "EFT1"
 *     offset 4   8 bytes  seq (u64; equals the file name)
 *     offset 12  4 bytes  payload length (u32)
 *     offset 16  4 bytes  CRC-32 of the payload (u32, zlib polynomial)
 *     offset 20  payload
 *
 * One file per record (rather than a segment log) because telemetry windows are few and small
 * (one every N seconds, a few KiB each): dropping the oldest or acknowledging one is a single unlink,
 * a torn write can only damage the record being written, and recovery is a directory listing.
 *
 * Guarantees:
 * - Order: records are drained in `seq` order; `seq` never goes backwards, across restarts too (the
 *   next seq is kept in `next-seq.json` whenever the spool becomes empty), so a receiver can dedupe.
 * - At-least-once: `peek` does not remove; `ack` does, after the publish succeeded. A crash between
 *   publish and ack sends the record again after restart.
 * - Bound: the record files never hold more than `maxBytes` (and `maxRecords`) once an append has
 *   returned; the oldest records are dropped to make room and counted. While an append is in flight
 *   the new file may briefly exceed the bound by its own size: it is written before the oldest are
 *   unlinked, so an append that fails (ENOSPC) never costs older records.
 * - Faults: a truncated or corrupt record is skipped and counted; ENOSPC or another I/O error on
 *   append drops the new record and is counted. Nothing here throws into the caller's loop: `append`
 *   reports an outcome, `drain` reports the publisher's error.
 */
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import {
  errorMessage,
  fsyncDirectory,
  isErrno,
  readJsonFile,
  writeJsonFileAtomic,
} from '../store/atomic-file.js';

export const RECORD_MAGIC = 'EFT1';
export const RECORD_HEADER_BYTES = 20;

/** A spooled record. */
export interface SpoolRecord {
  readonly seq: number;
  readonly bytes: Uint8Array;
}

/** Why a record was dropped. */
export type SpoolDropReason = 'oldest' | 'too_large' | 'no_space' | 'io_error' | 'corrupt';

export interface SpoolDrop {
  readonly reason: SpoolDropReason;
  /** The dropped record's seq; absent for a new record that was never assigned one. */
  readonly seq?: number;
  readonly message?: string;
}

export type AppendOutcome =
  | { readonly ok: true; readonly seq: number }
  | {
      readonly ok: false;
      readonly reason: 'too_large' | 'no_space' | 'io_error';
      readonly message: string;
    };

export interface SpoolStats {
  readonly records: number;
  /** Bytes of the record files (headers included). */
  readonly bytes: number;
  readonly nextSeq: number;
  readonly dropped: Readonly<Record<SpoolDropReason, number>>;
}

export interface DrainOutcome {
  readonly sent: number;
  /** What the publisher threw, if it stopped the drain. */
  readonly error?: unknown;
}

/** Writes one record file durably; injectable so tests can simulate ENOSPC. */
export type RecordWriter = (path: string, bytes: Uint8Array) => Promise<void>;

export interface TelemetrySpoolOptions {
  /** Bound on the bytes of all record files, headers included. Default 16 MiB. */
  readonly maxBytes?: number;
  /** Bound on the number of records. Default 100,000. */
  readonly maxRecords?: number;
  /** fsync each record and the directory (default true); off only for tests and tmpfs. */
  readonly durable?: boolean;
  /** Called for every dropped record (for logs and metrics); must not throw. */
  readonly onDrop?: (drop: SpoolDrop) => void;
  /** Default: write `<path>.tmp`, fsync, rename to `path`, fsync the directory. */
  readonly writeRecord?: RecordWriter;
}

interface Entry {
  readonly seq: number;
  readonly size: number;
}

const RECORD_NAME = /^(\d{16})\.rec$/;
const NEXT_SEQ_FILE = 'next-seq.json';
const NextSeqSchema = z.strictObject({ nextSeq: z.int().min(1).max(Number.MAX_SAFE_INTEGER) });

/** The telemetry spool. Create with `TelemetrySpool.open`. */
export class TelemetrySpool {
  private readonly entries: Entry[] = [];
  private totalBytes = 0;
  private nextSeq = 1;
  private readonly dropped: Record<SpoolDropReason, number> = {
    oldest: 0,
    too_large: 0,
    no_space: 0,
    io_error: 0,
    corrupt: 0,
  };
  private tail: Promise<unknown> = Promise.resolve();
  private draining: Promise<DrainOutcome> | undefined;
  private readonly maxBytes: number;
  private readonly maxRecords: number;
  private readonly writeRecord: RecordWriter;

  private constructor(
    readonly dir: string,
    private readonly options: TelemetrySpoolOptions,
  ) {
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.maxRecords = options.maxRecords ?? 100_000;
    if (this.maxBytes < RECORD_HEADER_BYTES + 1 || this.maxRecords < 1) {
      throw new RangeError('TelemetrySpool: maxBytes and maxRecords must leave room for a record');
    }
    const durable = options.durable ?? true;
    this.writeRecord =
      options.writeRecord ?? ((path, bytes) => writeRecordFile(path, bytes, durable));
  }

  /**
   * Open the spool in `dir` (which must exist): lists the records in seq order, removes temp files of
   * interrupted writes and enforces the bound (a smaller bound than last time drops the oldest).
   */
  static async open(dir: string, options: TelemetrySpoolOptions = {}): Promise<TelemetrySpool> {
    const spool = new TelemetrySpool(dir, options);
    await spool.load();
    return spool;
  }

  /**
   * Append a record. `payload` may be a function of the record's seq, so the seq can travel inside
   * the message for the receiver to dedupe. Never rejects.
   */
  append(payload: Uint8Array | ((seq: number) => Uint8Array)): Promise<AppendOutcome> {
    return this.exclusive(async () => {
      const seq = this.nextSeq;
      let bytes: Uint8Array;
      try {
        bytes = typeof payload === 'function' ? payload(seq) : payload;
      } catch (error) {
        return this.dropNew('io_error', `encoding the record failed: ${errorMessage(error)}`);
      }
      const record = encodeRecord(seq, bytes);
      if (record.length > this.maxBytes) {
        return this.dropNew(
          'too_large',
          `a record of ${record.length} bytes cannot fit in a spool of ${this.maxBytes} bytes`,
        );
      }
      try {
        await this.writeRecord(this.pathOf(seq), record);
      } catch (error) {
        return this.dropNew(
          isErrno(error, 'ENOSPC') ? 'no_space' : 'io_error',
          errorMessage(error),
        );
      }
      this.nextSeq = seq + 1;
      this.entries.push({ seq, size: record.length });
      this.totalBytes += record.length;
      await this.enforceBound();
      return { ok: true, seq };
    });
  }

  /**
   * The oldest `limit` readable records, without removing them. Corrupt or vanished record files met
   * on the way are removed and counted as `corrupt`.
   */
  peek(limit = 1): Promise<SpoolRecord[]> {
    return this.exclusive(async () => {
      const out: SpoolRecord[] = [];
      let i = 0;
      while (out.length < limit && i < this.entries.length) {
        const entry = this.entries[i]!;
        const decoded = await this.readRecord(entry.seq);
        if (decoded.ok) {
          out.push({ seq: entry.seq, bytes: decoded.bytes });
          i++;
        } else {
          await this.remove(i, 'corrupt', decoded.message);
        }
      }
      return out;
    });
  }

  /** Remove every record with a seq up to and including `seq` (after they were published). */
  ack(seq: number): Promise<void> {
    return this.exclusive(async () => {
      while (this.entries.length > 0 && this.entries[0]!.seq <= seq) {
        await this.remove(0);
      }
    });
  }

  /**
   * Publish the spooled records in order, acknowledging each after `publish` resolves, until the
   * spool is empty, `publish` throws (the record stays for the next drain) or `signal` aborts. A drain
   * already running is joined rather than started twice.
   */
  drain(
    publish: (record: SpoolRecord) => Promise<void>,
    options: { readonly signal?: AbortSignal; readonly batch?: number } = {},
  ): Promise<DrainOutcome> {
    this.draining ??= this.runDrain(publish, options).finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  stats(): SpoolStats {
    return {
      records: this.entries.length,
      bytes: this.totalBytes,
      nextSeq: this.nextSeq,
      dropped: { ...this.dropped },
    };
  }

  /** Wait for operations in flight. The spool holds no open files between operations. */
  async close(): Promise<void> {
    await this.exclusive(() => Promise.resolve());
    await this.draining;
  }

  private async runDrain(
    publish: (record: SpoolRecord) => Promise<void>,
    options: { readonly signal?: AbortSignal; readonly batch?: number },
  ): Promise<DrainOutcome> {
    let sent = 0;
    const aborted = () => options.signal?.aborted === true;
    while (!aborted()) {
      const records = await this.peek(options.batch ?? 16);
      if (records.length === 0) break;
      for (const record of records) {
        if (aborted()) return { sent };
        try {
          await publish(record);
        } catch (error) {
          return { sent, error };
        }
        await this.ack(record.seq);
        sent++;
      }
    }
    return { sent };
  }

  /** Run `fn` after every earlier operation, so appends, peeks and acks never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private pathOf(seq: number): string {
    return join(this.dir, `${String(seq).padStart(16, '0')}.rec`);
  }

  private async load(): Promise<void> {
    const found: Entry[] = [];
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.tmp')) {
        await rm(join(this.dir, name), { force: true });
        continue;
      }
      const match = RECORD_NAME.exec(name);
      if (!match) continue;
      const seq = Number(match[1]);
      if (!Number.isSafeInteger(seq) || seq < 1) continue;
      found.push({ seq, size: (await stat(join(this.dir, name))).size });
    }
    found.sort((x, y) => x.seq - y.seq);
    this.entries.push(...found);
    this.totalBytes = found.reduce((sum, e) => sum + e.size, 0);
    const persisted = await readJsonFile(join(this.dir, NEXT_SEQ_FILE), NextSeqSchema);
    this.nextSeq = Math.max(
      persisted.ok ? persisted.value.nextSeq : 1,
      (found.at(-1)?.seq ?? 0) + 1,
    );
    await this.enforceBound();
  }

  private async enforceBound(): Promise<void> {
    while (
      this.entries.length > 0 &&
      (this.totalBytes > this.maxBytes || this.entries.length > this.maxRecords)
    ) {
      await this.remove(0, 'oldest');
    }
  }

  /** Remove entry `index` from the index and the disk; a drop when `reason` is given. */
  private async remove(index: number, reason?: SpoolDropReason, message?: string): Promise<void> {
    const entry = this.entries[index]!;
    if (this.entries.length === 1) {
      // The file names alone would no longer tell the next seq after a restart.
      await this.persistNextSeq();
    }
    this.entries.splice(index, 1);
    this.totalBytes -= entry.size;
    try {
      await rm(this.pathOf(entry.seq), { force: true });
    } catch {
      // Unremovable (EIO, EPERM): forgotten here; the next open lists it again and retries.
    }
    if (reason !== undefined) this.countDrop({ reason, seq: entry.seq, message });
  }

  private async persistNextSeq(): Promise<void> {
    try {
      await writeJsonFileAtomic(
        join(this.dir, NEXT_SEQ_FILE),
        { nextSeq: this.nextSeq },
        { durable: this.options.durable ?? true },
      );
    } catch {
      // Best effort: without it a restart of an empty spool may reuse seqs, which costs dedupe
      // precision only; the receiver also sees the device's restart.
    }
  }

  private dropNew(reason: 'too_large' | 'no_space' | 'io_error', message: string): AppendOutcome {
    this.countDrop({ reason, message });
    return { ok: false, reason, message };
  }

  private countDrop(drop: SpoolDrop): void {
    this.dropped[drop.reason]++;
    try {
      this.options.onDrop?.(drop);
    } catch {
      // A throwing observer must not break the spool.
    }
  }

  private async readRecord(
    seq: number,
  ): Promise<{ ok: true; bytes: Uint8Array } | { ok: false; message: string }> {
    let file: Buffer;
    try {
      file = await readFile(this.pathOf(seq));
    } catch (error) {
      return { ok: false, message: `record ${seq} cannot be read: ${errorMessage(error)}` };
    }
    return decodeRecord(seq, file);
  }
}

/** Encode one record file (header + payload). */
export function encodeRecord(seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(RECORD_MAGIC), 0);
  view.setBigUint64(4, BigInt(seq), true);
  view.setUint32(12, payload.length, true);
  view.setUint32(16, crc32(payload), true);
  out.set(payload, RECORD_HEADER_BYTES);
  return out;
}

/** Decode and check one record file; `seq` is the seq its file name claims. */
export function decodeRecord(
  seq: number,
  file: Uint8Array,
): { ok: true; bytes: Uint8Array } | { ok: false; message: string } {
  if (file.length < RECORD_HEADER_BYTES) {
    return { ok: false, message: `record ${seq} is truncated (${file.length} bytes)` };
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (new TextDecoder().decode(file.subarray(0, 4)) !== RECORD_MAGIC) {
    return { ok: false, message: `record ${seq} has no ${RECORD_MAGIC} header` };
  }
  if (view.getBigUint64(4, true) !== BigInt(seq)) {
    return { ok: false, message: `record ${seq} holds another seq` };
  }
  const length = view.getUint32(12, true);
  if (file.length !== RECORD_HEADER_BYTES + length) {
    return {
      ok: false,
      message: `record ${seq} should have ${length} payload bytes, has ${file.length - RECORD_HEADER_BYTES}`,
    };
  }
  const payload = file.subarray(RECORD_HEADER_BYTES);
  if (crc32(payload) !== view.getUint32(16, true)) {
    return { ok: false, message: `record ${seq} fails its CRC-32` };
  }
  return { ok: true, bytes: payload };
}

/** What a spool directory holds, read without opening the spool (nothing is changed). */
export interface SpoolInspection {
  readonly records: number;
  /** Bytes of the record files (headers included). */
  readonly bytes: number;
  readonly oldestSeq: number | null;
  readonly newestSeq: number | null;
}

/**
 * List the records of the spool in `dir` read-only (for `edgefleet-agent status` beside a running
 * agent): a missing directory is an empty spool.
 */
export async function inspectSpool(dir: string): Promise<SpoolInspection> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return { records: 0, bytes: 0, oldestSeq: null, newestSeq: null };
    throw error;
  }
  let bytes = 0;
  const seqs: number[] = [];
  for (const name of names) {
    const match = RECORD_NAME.exec(name);
    if (!match) continue;
    try {
      bytes += (await stat(join(dir, name))).size;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) continue; // drained meanwhile
      throw error;
    }
    seqs.push(Number(match[1]));
  }
  seqs.sort((x, y) => x - y);
  return {
    records: seqs.length,
    bytes,
    oldestSeq: seqs[0] ?? null,
    newestSeq: seqs.at(-1) ?? null,
  };
}

async function writeRecordFile(path: string, bytes: Uint8Array, durable: boolean): Promise<void> {
  const temp = `${path}.tmp`;
  try {
    const file = await open(temp, 'w');
    try {
      await file.writeFile(bytes);
      if (durable) await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  if (durable) await fsyncDirectory(dirname(path));
}
