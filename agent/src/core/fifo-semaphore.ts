/**
 * At most `limit` holders at once; the others wait in call order. The agent bounds its atomic
 * state writes with one (`store/atomic-file.ts`), the fleet simulator its downloads
 * (`fleet-sim/src/net/bounded-fetch.ts`).
 */
export class FifoSemaphore {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`a semaphore needs a positive integer limit, got ${limit}`);
    }
  }

  /** Resolves once this caller holds a slot; call `release` exactly once after. */
  acquire(): Promise<void> {
    if (this.held < this.limit) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiting.push(resolve);
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined)
      next(); // the slot passes on: `held` stays
    else this.held--;
  }
}
