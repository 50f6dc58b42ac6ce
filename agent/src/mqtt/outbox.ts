/**
 * Ordered delivery of the device's `status` and `state` reports over a connection that comes and
 * goes: messages wait in memory (bounded; the oldest are dropped and counted) until the session is
 * connected, and leave one at a time, each removed only after its PUBACK, so they arrive in the
 * order they were made and at least once. Telemetry has its own disk spool (telemetry/).
 */

export interface OutboxMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
}

export interface OutboxOptions {
  readonly publish: (topic: string, payload: Uint8Array) => Promise<void>;
  readonly isConnected: () => boolean;
  /** Most messages kept while offline; default 1000. */
  readonly maxMessages?: number;
  /** Called for every message dropped to make room; must not throw. */
  readonly onDrop?: (message: OutboxMessage) => void;
}

export class Outbox {
  private readonly queue: OutboxMessage[] = [];
  private flushing: Promise<void> | undefined;
  private droppedCount = 0;
  private again = false;
  private inFlight: OutboxMessage | undefined;

  constructor(private readonly o: OutboxOptions) {}

  get size(): number {
    return this.queue.length;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  /**
   * Queue a message and send it as soon as the ones before it are acknowledged. With `replace`,
   * queued messages on the same topic are dropped first (snapshots such as `state`, where only the
   * newest matters). The message being published at the moment is never withdrawn.
   */
  send(topic: string, payload: Uint8Array, options: { replace?: boolean } = {}): void {
    if (options.replace === true) {
      for (let i = this.queue.length - 1; i >= 0; i--) {
        const queued = this.queue[i]!;
        if (queued.topic === topic && queued !== this.inFlight) this.queue.splice(i, 1);
      }
    }
    this.queue.push({ topic, payload });
    while (this.queue.length > (this.o.maxMessages ?? 1000)) {
      const dropped = this.queue.shift()!;
      this.droppedCount++;
      this.o.onDrop?.(dropped);
    }
    void this.flush();
  }

  /** Send what is queued while connected. Never rejects; resolves when the queue is empty or the connection is gone. */
  flush(): Promise<void> {
    if (this.flushing !== undefined) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = this.drainAll().finally(() => {
      this.flushing = undefined;
      if (this.moreToSend()) void this.flush();
    });
    return this.flushing;
  }

  private async drainAll(): Promise<void> {
    let more = true;
    while (more) {
      this.again = false;
      await this.drain();
      more = this.moreToSend();
    }
  }

  /** Messages queued during a drain that stopped short of them, while still connected. */
  private moreToSend(): boolean {
    return this.again && this.queue.length > 0 && this.o.isConnected();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && this.o.isConnected()) {
      const next = this.queue[0]!;
      this.inFlight = next;
      try {
        await this.o.publish(next.topic, next.payload);
      } catch {
        return; // kept: sent again after the next connect
      } finally {
        this.inFlight = undefined;
      }
      const at = this.queue.indexOf(next);
      if (at >= 0) this.queue.splice(at, 1);
    }
  }
}
