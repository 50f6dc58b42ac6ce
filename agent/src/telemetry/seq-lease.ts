/**
 * The per-device telemetry sequence number, monotonic across restarts without a disk write per
 * window: the file records a bound below which numbers may already have been used; the agent
 * takes numbers up to it and moves it forward by a block (default 1000) when it gets there. A crash
 * skips at most one block of numbers; it never reuses one, so the control plane's (deviceId, seq)
 * de-duplication stays correct.
 */
import { z } from 'zod';
import { PRIVATE_FILE_MODE } from '../config/agent-config.js';
import { readJsonFile, writeJsonFileAtomic } from '../store/atomic-file.js';

const LeaseSchema = z.strictObject({
  /** Every seq below this may have been used. */
  reservedBelow: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
});

export class SeqLease {
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly block: number,
    private nextSeq: number,
    private reservedBelow: number,
    private readonly durable: boolean,
  ) {}

  /** Open (or create) the lease file; the first seq of a new device is 1. */
  static async open(
    path: string,
    block = 1000,
    options: { readonly durable?: boolean } = {},
  ): Promise<SeqLease> {
    const read = await readJsonFile(path, LeaseSchema);
    const next = read.ok ? read.value.reservedBelow : 1;
    const lease = new SeqLease(path, block, next, next, options.durable ?? true);
    await lease.extend();
    return lease;
  }

  /** The seq the next call to `next` returns. */
  get peek(): number {
    return this.nextSeq;
  }

  /** Take the next seq (persisting a new block first when the current one is used up). */
  next(): Promise<number> {
    const run = this.tail.then(async () => {
      if (this.nextSeq >= this.reservedBelow) await this.extend();
      return this.nextSeq++;
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async extend(): Promise<void> {
    const reservedBelow = this.nextSeq + this.block;
    await writeJsonFileAtomic(
      this.path,
      { reservedBelow },
      { mode: PRIVATE_FILE_MODE, durable: this.durable },
    );
    this.reservedBelow = reservedBelow;
  }
}
