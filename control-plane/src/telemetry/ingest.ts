/**
 * Telemetry ingest (ARCHITECTURE §5.8): what devices publish on `status`, `state`, `telemetry` and
 * `presence` is decoded at once (malformed input counted and dropped, never thrown), buffered, and
 * written in batches: after a delay from the first buffered message, or as soon as `maxMessages` are
 * buffered, whichever comes first. One batch is one transaction (see `write-batch.ts`); batches are
 * written one at a time, in arrival order; messages that arrive while one is written make up the next.
 *
 * The delay adapts to what a batch costs: a few times the recent write time, between `minDelayMs`
 * and `maxDelayMs` (`maxDelayMs` until the first write). Cheap writes go out soon after the message
 * (low latency from publish to committed aggregate), expensive ones wait for more company (the
 * database is kept busy a bounded share of the time).
 *
 * Wiring: call `accept(kind, deviceId, payload)` from the MQTT message handler (it is synchronous
 * and never throws), `presence(deviceId, online)` from the embedded broker's session events, and
 * `close()` on shutdown (it writes what is buffered).
 */
import { performance } from 'node:perf_hooks';
import {
  MetricsRegistry,
  type Counter,
  type DevicePublishKind,
  type Gauge,
  type Histogram,
  type RandomSource,
  type StateMessage,
  type StatusMessage,
} from '@edgefleet/protocol';
import { lt } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { telemetryAggregates, telemetryDeviceWindows, telemetrySeqs } from '../db/schema.js';
import { AggregateCache } from './aggregate-cache.js';
import { defaultCohortOf, type CohortOf } from './cohort.js';
import { decodeDeviceMessage, type DropReason, type IngestItem } from './decode.js';
import { ReleaseOutputs } from './release-outputs.js';
import { writeBatch, type BatchOutcome } from './write-batch.js';
import { realTimers, type Timers } from '../timers.js';

/** The logger calls ingest makes (a pino logger fits). */
export type IngestLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

/** Kept as an alias of the shared type (it is part of this module's options). */
export type IngestTimers = Timers;

/** What one written batch did (for `onFlushed`: metrics, benchmarks, tests). */
export interface FlushReport {
  readonly messages: number;
  readonly windows: number;
  readonly dropped: number;
  readonly aggregateRows: number;
  readonly deviceWindowRows: number;
  /** Wall time of the transaction, ms. */
  readonly durationMs: number;
  /** Receive time (ingest clock, epoch ms) of the oldest message in the batch. */
  readonly oldestReceivedAt: number;
  /** Commit time (ingest clock, epoch ms). */
  readonly committedAt: number;
}

export interface TelemetryIngestOptions {
  readonly db: Database;
  /** Clock (default `new Date()`); decides receive times, the acceptance horizon, `updated_at`. */
  readonly now?: () => Date;
  readonly batch?: {
    /** Longest a message waits before its batch is written (default 100 ms). */
    readonly maxDelayMs?: number;
    /** Shortest wait, however cheap writes are (default 10 ms; at most `maxDelayMs`). */
    readonly minDelayMs?: number;
    /** Write as soon as this many messages are buffered; also the largest batch (default 500). */
    readonly maxMessages?: number;
    /** Beyond this many buffered messages new ones are dropped as `overloaded` (default 50,000). */
    readonly maxBuffered?: number;
    /** Attempts at writing a batch before its messages are dropped as `write_failed` (default 3). */
    readonly maxAttempts?: number;
  };
  /** Aggregation window, ms (default 60,000); a whole number of seconds dividing a day. */
  readonly windowMs?: number;
  /** The cohort of a device (default: `site` label and hardware class, see `cohort.ts`). */
  readonly cohortOf?: CohortOf;
  /** Windows starting earlier than this before now are refused as `too_old` (default 24 h). */
  readonly maxWindowAgeMs?: number;
  /** Windows starting later than this after now are refused as `clock_skew` (default 5 min). */
  readonly maxClockSkewMs?: number;
  readonly logger?: IngestLogger;
  /** Registry for the ingest metrics (`edgefleet_ingest_*`); a private one by default. */
  readonly metrics?: MetricsRegistry;
  /** Deployment status events of known devices, in arrival order, after their batch committed. */
  readonly onStatus?: (msg: StatusMessage) => void | Promise<void>;
  /** The latest reported state per device in a batch, after it committed. */
  readonly onState?: (msg: StateMessage) => void | Promise<void>;
  /** After each batch commits. */
  readonly onFlushed?: (report: FlushReport) => void;
  /** Coin flips of the merged KLL sketches (seed it for reproducible aggregates). */
  readonly random?: RandomSource;
  /**
   * Aggregate rows (release x cohort x window) whose decoded totals are kept between batches, so a
   * batch need not read back and decode the rows it wrote before (default 4096; 0: none). See
   * `aggregate-cache.ts`.
   */
  readonly aggregateCacheSize?: number;
  /** Which features each release's per-device windows keep (default: read from `db`). */
  readonly releaseOutputs?: ReleaseOutputs;
  readonly timers?: IngestTimers;
}

/** The ingest metrics, for tests and dashboards. */
export interface IngestMetrics {
  readonly received: Counter;
  readonly dropped: Counter;
  readonly windows: Counter;
  readonly batches: Counter;
  readonly conflicts: Counter;
  readonly flushSeconds: Histogram;
  readonly buffered: Gauge;
}

function createMetrics(registry: MetricsRegistry): IngestMetrics {
  return {
    received: registry.counter(
      'edgefleet_ingest_messages_total',
      'Device messages received by ingest, by kind.',
    ),
    dropped: registry.counter(
      'edgefleet_ingest_dropped_total',
      'Device messages dropped by ingest, by kind and reason.',
    ),
    windows: registry.counter(
      'edgefleet_ingest_windows_total',
      'Telemetry windows merged into the aggregates (duplicates excluded).',
    ),
    batches: registry.counter('edgefleet_ingest_batches_total', 'Ingest batches written.'),
    conflicts: registry.counter(
      'edgefleet_ingest_sketch_conflicts_total',
      'Sketches left out of a merge because they conflict with the stored ones.',
    ),
    flushSeconds: registry.histogram(
      'edgefleet_ingest_flush_seconds',
      'Time to write one ingest batch.',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
    buffered: registry.gauge('edgefleet_ingest_buffered', 'Messages waiting to be written.'),
  };
}

/** Result of `accept`: queued, or the reason it was dropped. */
export type AcceptOutcome = 'queued' | DropReason;

export interface PruneResult {
  readonly seqs: number;
  readonly deviceWindows: number;
  readonly aggregates: number;
}

interface Pending {
  readonly item: IngestItem;
  attempts: number;
}

/** The batch delay is this many times the recent write time (so writes take <= 1/(1+x) of the time). */
const DELAY_PER_WRITE_TIME = 3;

/** Weight of the latest write in the running write time. */
const WRITE_TIME_SMOOTHING = 0.3;

/** Warnings about dropped messages per minute; the rest are only counted. */
const DROP_LOGS_PER_MINUTE = 20;

export class TelemetryIngest {
  readonly metrics: IngestMetrics;
  readonly windowMs: number;
  private readonly db: Database;
  private readonly now: () => Date;
  private readonly maxDelayMs: number;
  private readonly minDelayMs: number;
  /** Running (smoothed) write time of a batch, ms; undefined before the first write. */
  private writeMs: number | undefined;
  private readonly maxMessages: number;
  private readonly maxBuffered: number;
  private readonly maxAttempts: number;
  private readonly maxWindowAgeMs: number;
  private readonly maxClockSkewMs: number;
  private readonly cohortOf: CohortOf;
  private readonly options: TelemetryIngestOptions;
  private readonly timers: IngestTimers;
  private readonly aggregateCache: AggregateCache;
  private readonly releaseOutputs: ReleaseOutputs;
  private buffer: Pending[] = [];
  private timer: unknown = undefined;
  private running: Promise<void> | undefined;
  private rerun = false;
  private closed = false;
  private dropLogWindow = { start: 0, count: 0 };
  private readonly flushListeners = new Set<(report: FlushReport) => void>();

  /** @throws RangeError on an invalid window length or batch setting (a configuration mistake). */
  constructor(options: TelemetryIngestOptions) {
    this.options = options;
    this.db = options.db;
    this.now = options.now ?? (() => new Date());
    this.windowMs = options.windowMs ?? 60_000;
    if (
      !Number.isInteger(this.windowMs / 1000) ||
      this.windowMs <= 0 ||
      86_400_000 % this.windowMs !== 0
    ) {
      throw new RangeError(
        `windowMs must be a whole number of seconds dividing a day, got ${this.windowMs}`,
      );
    }
    this.maxDelayMs = options.batch?.maxDelayMs ?? 100;
    this.maxMessages = options.batch?.maxMessages ?? 500;
    this.maxBuffered = options.batch?.maxBuffered ?? 50_000;
    this.maxAttempts = options.batch?.maxAttempts ?? 3;
    const minDelayMs = options.batch?.minDelayMs ?? 10;
    if (
      !(this.maxDelayMs >= 0) ||
      !(minDelayMs >= 0) ||
      !(this.maxMessages >= 1) ||
      !(this.maxAttempts >= 1)
    ) {
      throw new RangeError(
        'batch.maxDelayMs and minDelayMs must be >= 0, maxMessages and maxAttempts >= 1',
      );
    }
    this.minDelayMs = Math.min(minDelayMs, this.maxDelayMs);
    this.maxWindowAgeMs = options.maxWindowAgeMs ?? 86_400_000;
    this.maxClockSkewMs = options.maxClockSkewMs ?? 300_000;
    this.cohortOf = options.cohortOf ?? defaultCohortOf;
    this.timers = options.timers ?? realTimers;
    this.metrics = createMetrics(options.metrics ?? new MetricsRegistry());
    this.aggregateCache = new AggregateCache(options.aggregateCacheSize ?? 4096);
    this.releaseOutputs = options.releaseOutputs ?? new ReleaseOutputs(this.db);
  }

  /**
   * Also report each committed batch to `listener` (like the `onFlushed` option, for code that gets
   * an ingest already built, e.g. a benchmark on `RunningServer.ingest`). Returns the remover.
   */
  addFlushListener(listener: (report: FlushReport) => void): () => void {
    this.flushListeners.add(listener);
    return () => {
      this.flushListeners.delete(listener);
    };
  }

  /** Messages buffered and not yet written. */
  get pending(): number {
    return this.buffer.length;
  }

  /**
   * Take a message published on `edgefleet/v1/d/{deviceId}/{kind}`. Synchronous, never throws:
   * decodes and checks it now, writes it with the next batch.
   */
  accept(kind: DevicePublishKind, deviceId: string, payload: Uint8Array): AcceptOutcome {
    this.metrics.received.inc({ kind });
    if (this.closed) return this.dropped(kind, deviceId, 'closed', 'ingest is closed');
    const receivedAt = this.now().getTime();
    const decoded = decodeDeviceMessage(kind, deviceId, payload, receivedAt, this.options.random);
    if (!decoded.ok) return this.dropped(kind, deviceId, decoded.reason, decoded.message);
    const item = decoded.item;
    if (item.kind === 'telemetry') {
      const start = Date.parse(item.msg.window.start);
      if (start < receivedAt - this.maxWindowAgeMs) {
        return this.dropped(kind, deviceId, 'too_old', `window starts at ${item.msg.window.start}`);
      }
      if (start > receivedAt + this.maxClockSkewMs) {
        return this.dropped(
          kind,
          deviceId,
          'clock_skew',
          `window starts at ${item.msg.window.start}`,
        );
      }
    }
    return this.enqueue(item);
  }

  /** A device's session started or ended (the embedded broker's `onPresence`). Never throws. */
  presence(deviceId: string, online: boolean): AcceptOutcome {
    this.metrics.received.inc({ kind: 'presence' });
    if (this.closed) return this.dropped('presence', deviceId, 'closed', 'ingest is closed');
    return this.enqueue({
      kind: 'presence',
      deviceId,
      online,
      msg: null,
      receivedAt: this.now().getTime(),
    });
  }

  /** Write everything buffered now; resolves when it is written (or dropped after failing). */
  async flush(): Promise<void> {
    this.clearTimer();
    this.kick();
    // A batch that failed waits for its retry timer; flush() retries it now instead.
    while (this.running !== undefined) {
      await this.running;
      if (this.buffer.length > 0) this.kick();
    }
  }

  /** Stop accepting (later messages are dropped as `closed`) and write what is buffered. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    this.clearTimer();
  }

  /**
   * Retention: delete per-device windows that started before `before`, aggregates that started
   * before `aggregatesBefore` (default: keep them), and dedupe records before `before` but never
   * within the acceptance horizon (`maxWindowAgeMs`). Device windows are what wave rollups read;
   * aggregates are what drift monitors and release rollups read.
   */
  async pruneOlderThan(before: Date, aggregatesBefore?: Date): Promise<PruneResult> {
    // Dedupe records are kept for as long as their windows can still be accepted.
    const horizon = this.now().getTime() - this.maxWindowAgeMs;
    const seqsBefore = new Date(Math.min(before.getTime(), horizon));
    const seqs = await this.db
      .delete(telemetrySeqs)
      .where(lt(telemetrySeqs.windowStart, seqsBefore))
      .returning({ seq: telemetrySeqs.seq });
    const deviceWindows = await this.db
      .delete(telemetryDeviceWindows)
      .where(lt(telemetryDeviceWindows.windowStart, before))
      .returning({ deviceId: telemetryDeviceWindows.deviceId });
    const aggregates =
      aggregatesBefore === undefined
        ? []
        : await this.db
            .delete(telemetryAggregates)
            .where(lt(telemetryAggregates.windowStart, aggregatesBefore))
            .returning({ releaseId: telemetryAggregates.releaseId });
    // The cache would notice the rows are gone; it need not hold them meanwhile.
    if (aggregates.length > 0) this.aggregateCache.clear();
    return {
      seqs: seqs.length,
      deviceWindows: deviceWindows.length,
      aggregates: aggregates.length,
    };
  }

  private enqueue(item: IngestItem): AcceptOutcome {
    if (this.buffer.length >= this.maxBuffered) {
      return this.dropped(item.kind, item.deviceId, 'overloaded', 'the ingest buffer is full');
    }
    this.buffer.push({ item, attempts: 0 });
    this.metrics.buffered.set(this.buffer.length);
    if (this.buffer.length >= this.maxMessages) {
      this.clearTimer();
      this.kick();
    } else {
      this.armTimer(this.batchDelay());
    }
    return 'queued';
  }

  private dropped(
    kind: DevicePublishKind,
    deviceId: string,
    reason: DropReason,
    message: string,
  ): DropReason {
    this.metrics.dropped.inc({ kind, reason });
    // Duplicates are normal after a reconnect; the rest deserve a (rate-limited) line.
    if (reason !== 'duplicate') {
      const now = this.now().getTime();
      if (now - this.dropLogWindow.start >= 60_000) this.dropLogWindow = { start: now, count: 0 };
      if (++this.dropLogWindow.count <= DROP_LOGS_PER_MINUTE) {
        this.options.logger?.warn({ deviceId, kind, reason, detail: message }, 'message dropped');
      }
    }
    return reason;
  }

  /** How long the first message of a new batch waits (see the module comment). */
  private batchDelay(): number {
    if (this.writeMs === undefined) return this.maxDelayMs;
    const ms = Math.round(DELAY_PER_WRITE_TIME * this.writeMs);
    return Math.min(this.maxDelayMs, Math.max(this.minDelayMs, ms));
  }

  private armTimer(ms: number): void {
    if (this.timer !== undefined) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Start writing (or note that the running writer should go round again). */
  private kick(): void {
    if (this.running !== undefined) {
      this.rerun = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /** Write batches until the buffer is empty. Never rejects. */
  private async drain(): Promise<void> {
    do {
      this.rerun = false;
      while (this.buffer.length > 0) {
        const batch = this.buffer.splice(0, this.maxMessages);
        this.metrics.buffered.set(this.buffer.length);
        const ok = await this.write(batch);
        if (!ok) {
          // Back off: the retry runs after a delay (or at once on flush()/close()).
          this.armTimer(Math.max(this.maxDelayMs, 1000));
          return;
        }
      }
    } while (this.rerunRequested());
  }

  /** Read through a method: the flag changes while `drain` awaits, which narrowing cannot see. */
  private rerunRequested(): boolean {
    return this.rerun;
  }

  /** Write one batch; false when it failed (its messages are back at the head of the buffer). */
  private async write(batch: Pending[]): Promise<boolean> {
    const started = performance.now();
    const startedAt = this.now().getTime();
    let outcome: BatchOutcome;
    try {
      const releases = new Set<string>();
      for (const p of batch) {
        if (p.item.kind === 'telemetry' && p.item.msg.releaseId !== null) {
          releases.add(p.item.msg.releaseId);
        }
      }
      const deviceWindowFeatures = await this.releaseOutputs.sets(releases);
      outcome = await writeBatch(
        this.db,
        batch.map((p) => p.item),
        {
          windowMs: this.windowMs,
          cohortOf: this.cohortOf,
          random: this.options.random,
          now: this.now(),
          aggregateCache: this.aggregateCache,
          deviceWindowFeatures,
        },
      );
    } catch (err) {
      const retry = batch.filter((p) => ++p.attempts < this.maxAttempts);
      for (const p of batch) {
        if (p.attempts >= this.maxAttempts)
          this.metrics.dropped.inc({ kind: p.item.kind, reason: 'write_failed' });
      }
      this.options.logger?.error(
        { err, messages: batch.length, retrying: retry.length },
        'writing an ingest batch failed',
      );
      this.buffer.unshift(...retry);
      this.metrics.buffered.set(this.buffer.length);
      return false;
    }
    const durationMs = performance.now() - started;
    // On the ingest clock (not `durationMs`), so that a test's clock decides the delay.
    const writeMs = Math.max(0, this.now().getTime() - startedAt);
    this.writeMs =
      this.writeMs === undefined
        ? writeMs
        : this.writeMs + WRITE_TIME_SMOOTHING * (writeMs - this.writeMs);
    for (const d of outcome.dropped) {
      this.dropped(d.item.kind, d.item.deviceId, d.reason, 'at write');
    }
    this.metrics.batches.inc();
    this.metrics.windows.inc(undefined, outcome.windows);
    if (outcome.conflicts > 0) this.metrics.conflicts.inc(undefined, outcome.conflicts);
    this.metrics.flushSeconds.observe(durationMs / 1000);
    this.report({
      messages: batch.length,
      windows: outcome.windows,
      dropped: outcome.dropped.length,
      aggregateRows: outcome.aggregateRows,
      deviceWindowRows: outcome.deviceWindowRows,
      durationMs,
      oldestReceivedAt: Math.min(...batch.map((p) => p.item.receivedAt)),
      committedAt: this.now().getTime(),
    });
    await this.callbacks(outcome);
    return true;
  }

  private report(r: FlushReport): void {
    for (const listener of [this.options.onFlushed, ...this.flushListeners]) {
      try {
        listener?.(r);
      } catch (err) {
        this.options.logger?.error({ err }, 'onFlushed threw');
      }
    }
  }

  /** Run the status and state callbacks in order; a failing callback is logged, never rethrown. */
  private async callbacks(outcome: BatchOutcome): Promise<void> {
    const { onStatus, onState } = this.options;
    if (onStatus !== undefined) {
      for (const s of outcome.statuses) {
        try {
          await onStatus(s.msg);
        } catch (err) {
          this.options.logger?.error({ err, deviceId: s.deviceId }, 'onStatus failed');
        }
      }
    }
    if (onState !== undefined) {
      for (const s of outcome.states) {
        try {
          await onState(s.msg);
        } catch (err) {
          this.options.logger?.error({ err, deviceId: s.deviceId }, 'onState failed');
        }
      }
    }
  }
}
