/**
 * Telemetry windows (ARCHITECTURE §5 step 7): every `intervalMs` the agent closes a window of what
 * the serving model did (requests, errors, a latency DDSketch, the profile of its inputs and outputs
 * per the release's feature spec) and sends it as a `telemetry` message with a per-device
 * monotonic `seq`.
 *
 * Delivery, at least once and in seq order:
 * - connected, nothing spooled: published directly; a publish that fails (the connection dropped
 *   before the PUBACK) is spooled instead;
 * - offline, or while older windows are still spooled: appended to the disk spool (bounded; the
 *   oldest are dropped and counted) with `late: true`;
 * - on (re)connect the spool drains oldest first, each record removed only after its PUBACK;
 *   `droppedWindows` of the next delivered window carries the drops since the last delivery.
 * A window also closes early when the serving model changes, so each window has one release.
 */
import {
  DDSketch,
  decodeMessage,
  encodeMessage,
  encodeProfile,
  type TelemetryMessage,
} from '@edgefleet/protocol';
import type { Logger } from 'pino';
import type { InferenceEvent } from '../api/local-api.js';
import type { AgentClock, TimerHandle } from '../core/clock.js';
import type { ServingModel } from '../core/model-host.js';
import { TelemetrySpool, type SpoolRecord } from '../spool/telemetry-spool.js';
import { SeqLease } from './seq-lease.js';

/** How a window left the reporter. */
export type WindowDelivery = 'published' | 'spooled' | 'dropped' | 'drained';

export interface TelemetryWindowEvent {
  readonly seq: number;
  readonly delivery: WindowDelivery;
}

export interface TelemetryReporterOptions {
  readonly deviceId: string;
  readonly intervalMs: number;
  readonly clock: AgentClock;
  readonly logger: Logger;
  readonly spoolDir: string;
  readonly spoolMaxBytes: number;
  /** fsync spool records (default true); off for the fleet simulator and tmpfs. */
  readonly durableSpool?: boolean;
  /** fsync the seq lease (default true); see `AgentTuning.durableState`. */
  readonly durableState?: boolean;
  readonly seqPath: string;
  /** Publish a telemetry payload; resolves on PUBACK. */
  readonly publish: (payload: Uint8Array) => Promise<void>;
  readonly isConnected: () => boolean;
  readonly activeModel: () => ServingModel | undefined;
  /** Called for every window delivered, spooled or dropped; must not throw. */
  readonly onWindow?: (event: TelemetryWindowEvent) => void;
}

interface Window {
  readonly start: number;
  readonly model: ServingModel | undefined;
  requests: number;
  errors: number;
  readonly latency: DDSketch;
}

export interface TelemetryStats {
  readonly nextSeq: number;
  readonly spooled: number;
  readonly spoolBytes: number;
  /** Windows dropped from the spool and not yet reported in `droppedWindows`. */
  readonly unreportedDrops: number;
  readonly published: number;
}

export class TelemetryReporter {
  private window: Window;
  private timer: TimerHandle | undefined;
  private chain: Promise<void> = Promise.resolve();
  private draining: Promise<void> | undefined;
  private pendingDrops = 0;
  /**
   * Spool records dropped while a drain had already read them (they are still delivered) or after
   * it published them (they were delivered): such a drop is no loss and must not be reported.
   */
  private readonly droppedRecords = new Set<number>();
  private readonly sentRecords = new Set<number>();
  private publishedCount = 0;
  private started = false;
  private stopped = false;
  private readonly stopSignal = new AbortController();

  private constructor(
    private readonly o: TelemetryReporterOptions,
    private readonly spool: TelemetrySpool,
    private readonly seq: SeqLease,
  ) {
    this.window = this.openWindow(o.clock.now());
  }

  static async open(o: TelemetryReporterOptions): Promise<TelemetryReporter> {
    const created: { reporter?: TelemetryReporter } = {};
    const spool = await TelemetrySpool.open(o.spoolDir, {
      maxBytes: o.spoolMaxBytes,
      durable: o.durableSpool ?? true,
      onDrop: (drop) => {
        created.reporter?.countDrop(drop.seq);
        o.logger.warn({ reason: drop.reason, spoolSeq: drop.seq }, 'telemetry window dropped');
      },
    });
    const seq = await SeqLease.open(o.seqPath, undefined, { durable: o.durableState ?? true });
    created.reporter = new TelemetryReporter(o, spool, seq);
    return created.reporter;
  }

  /** Start closing windows every interval. */
  start(): void {
    this.started = true;
    this.arm();
  }

  /** Count one served inference (and profile it when it belongs to the window's release). */
  observe(event: InferenceEvent): void {
    const w = this.window;
    w.requests++;
    if (event.error !== undefined) w.errors++;
    else w.latency.update(event.latencyMs);
    const model = w.model;
    if (model?.profiler == null || model.releaseId !== event.releaseId) return;
    const observed = model.profiler.observe(event.inputs, event.outputs);
    if (!observed.ok) {
      this.o.logger.debug({ err: observed.message }, 'inference not profiled');
    }
  }

  /** Close the current window now (cmd `flush_telemetry`, a model change); resolves once it is delivered or spooled. */
  flush(): Promise<void> {
    const delivered = this.closeWindow();
    this.arm();
    return delivered;
  }

  /** Bind the (empty) current window to the model now serving. */
  rebind(): void {
    if (this.window.requests === 0) this.window = this.openWindow(this.window.start);
  }

  /** The connection is up: send what was spooled. */
  onConnected(): void {
    this.startDrain();
  }

  stats(): TelemetryStats {
    const spool = this.spool.stats();
    return {
      nextSeq: this.seq.peek,
      spooled: spool.records,
      spoolBytes: spool.bytes,
      unreportedDrops: this.pendingDrops,
      published: this.publishedCount,
    };
  }

  /** Stop the windows; a last window that served requests is delivered (or spooled). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    if (this.window.requests > 0) await this.closeWindow();
    this.stopSignal.abort();
    await this.chain;
    await this.draining;
    await this.spool.close();
  }

  /** (Re)start the interval from now; only between `start` and `stop`. */
  private arm(): void {
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.started || this.stopped) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = undefined;
      void this.closeWindow();
      this.arm();
    }, this.o.intervalMs);
  }

  private openWindow(start: number): Window {
    return { start, model: this.o.activeModel(), requests: 0, errors: 0, latency: new DDSketch() };
  }

  /** Snapshot the window (synchronously), then number and deliver it in order. */
  private closeWindow(): Promise<void> {
    const w = this.window;
    const end = Math.max(w.start, this.o.clock.now());
    this.window = this.openWindow(end);
    const bounds = { start: new Date(w.start).toISOString(), end: new Date(end).toISOString() };
    const profiler = w.model?.profiler ?? null;
    const profile = profiler === null ? null : profiler.rollover(bounds);
    const body: Omit<TelemetryMessage, 'seq'> = {
      v: 1,
      type: 'telemetry',
      deviceId: this.o.deviceId,
      window: bounds,
      releaseId: w.model?.releaseId ?? null,
      executionProvider: w.model?.loaded.executionProvider ?? null,
      requests: w.requests,
      errors: w.errors,
      latencyMs: w.latency.isEmpty ? null : w.latency.toJSON(),
      profile: profile === null || w.requests === 0 ? null : encodeProfile(profile),
      droppedWindows: 0,
      late: false,
    };
    const run = this.chain.then(async () => {
      const seq = await this.seq.next();
      await this.deliver({ ...body, seq });
    });
    this.chain = run.catch((error: unknown) => {
      this.o.logger.error({ err: error }, 'telemetry window lost');
    });
    return this.chain;
  }

  private async deliver(message: TelemetryMessage): Promise<void> {
    if (this.o.isConnected() && this.draining === undefined && this.spool.stats().records === 0) {
      const drops = this.pendingDrops;
      const payload = this.encode({ ...message, droppedWindows: drops });
      if (payload === undefined) {
        this.notify(message.seq, 'dropped');
        return;
      }
      try {
        await this.o.publish(payload);
        this.pendingDrops -= drops;
        this.publishedCount++;
        this.notify(message.seq, 'published');
        return;
      } catch (error) {
        // The connection went away before the PUBACK: spool it (at least once; seq dedupes).
        this.o.logger.debug({ err: error, seq: message.seq }, 'telemetry publish failed; spooled');
      }
    }
    const payload = this.encode({ ...message, late: true });
    if (payload === undefined) {
      this.notify(message.seq, 'dropped');
      return;
    }
    const appended = await this.spool.append(payload);
    this.notify(message.seq, appended.ok ? 'spooled' : 'dropped');
    if (this.o.isConnected()) this.startDrain();
  }

  private startDrain(): void {
    if (this.draining !== undefined || this.stopped) return;
    this.draining = this.drainSpool().finally(() => {
      this.draining = undefined;
      if (this.spool.stats().records === 0) {
        this.sentRecords.clear();
        this.droppedRecords.clear();
      }
      // A window spooled while the last drain was finishing.
      if (this.o.isConnected() && this.spool.stats().records > 0) this.startDrain();
    });
  }

  private async drainSpool(): Promise<void> {
    try {
      while (
        this.o.isConnected() &&
        !this.stopSignal.signal.aborted &&
        this.spool.stats().records > 0
      ) {
        const outcome = await this.spool.drain((record) => this.publishSpooled(record), {
          signal: this.stopSignal.signal,
        });
        if (outcome.error !== undefined) break;
      }
    } catch (error) {
      this.o.logger.error({ err: error }, 'draining the telemetry spool failed');
    }
  }

  private countDrop(spoolSeq: number | undefined): void {
    if (spoolSeq !== undefined && this.sentRecords.has(spoolSeq)) return;
    if (spoolSeq !== undefined) this.droppedRecords.add(spoolSeq);
    this.pendingDrops++;
  }

  private async publishSpooled(record: SpoolRecord): Promise<void> {
    if (this.droppedRecords.delete(record.seq)) this.pendingDrops--;
    this.sentRecords.add(record.seq);
    const decoded = decodeMessage('telemetry', record.bytes);
    const drops = this.pendingDrops;
    const payload =
      decoded.ok && drops > 0
        ? (this.encode({
            ...decoded.value,
            droppedWindows: decoded.value.droppedWindows + drops,
          }) ?? record.bytes)
        : record.bytes;
    await this.o.publish(payload);
    if (payload !== record.bytes) this.pendingDrops -= drops;
    this.publishedCount++;
    this.notify(decoded.ok ? decoded.value.seq : -1, 'drained');
  }

  /** Encode; a window too large for the message cap goes without its profile. */
  private encode(message: TelemetryMessage): Uint8Array | undefined {
    try {
      return encodeMessage('telemetry', message);
    } catch (error) {
      if (message.profile === null) {
        this.o.logger.error({ err: error }, 'telemetry window cannot be encoded');
        return undefined;
      }
      this.o.logger.warn({ err: error }, 'telemetry profile too large; sent without it');
      return this.encode({ ...message, profile: null });
    }
  }

  private notify(seq: number, delivery: WindowDelivery): void {
    try {
      this.o.onWindow?.({ seq, delivery });
    } catch (error) {
      this.o.logger.error({ err: error }, 'onWindow threw');
    }
  }
}
