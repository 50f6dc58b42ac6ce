/**
 * The webhook dispatcher: sends queued deliveries (see `store.ts`), signed (see `signature.ts`),
 * retries failures with exponential backoff and jitter (see `backoff.ts`), and logs every attempt.
 *
 * Claiming is a lease: a pass moves the due deliveries' `next_attempt_at` past the request timeout
 * (`for update skip locked`), so two control planes never send the same attempt at once, and a
 * delivery whose sender died is picked up again when the lease runs out. Delivery is at least once:
 * receivers dedupe on `X-Edgefleet-Delivery` (or the envelope's event `id`).
 *
 * Drive it with `start()` (a timer loop that sleeps until the next delivery is due, woken early by
 * `notify()`), or call `runDue()` yourself (tests, a scheduler of your own).
 */
import { performance } from 'node:perf_hooks';
import { MetricsRegistry, type Counter, type Histogram } from '@edgefleet/protocol';
import { and, asc, eq, inArray, lte, min } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import {
  webhookDeliveries,
  webhookDeliveryAttempts,
  webhooks,
  type WebhookDelivery,
  type WebhookDeliveryStatus,
} from '../db/schema.js';
import { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from './backoff.js';
import { webhookHeaders } from './signature.js';
import { realTimers, type Timers } from '../timers.js';

/** Kept as an alias of the shared type (it is part of this module's options). */
export type DispatcherTimers = Timers;

export interface WebhookDispatcherOptions {
  readonly db: Database;
  /** Clock (default `new Date()`): timestamps, due times, backoff. */
  readonly now?: () => Date;
  /** HTTP client (default the global `fetch`). */
  readonly fetch?: typeof fetch;
  readonly retry?: Partial<RetryPolicy>;
  /** Random numbers in [0, 1) for the jitter (default `Math.random`). */
  readonly random?: () => number;
  /** Request timeout, ms (default 10 s). */
  readonly timeoutMs?: number;
  /** Deliveries claimed per pass (default 20); they are sent concurrently. */
  readonly batchSize?: number;
  /** Longest sleep of the `start()` loop when nothing is due (default 30 s). */
  readonly pollIntervalMs?: number;
  readonly timers?: DispatcherTimers;
  readonly logger?: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  readonly metrics?: MetricsRegistry;
  /** After a delivery succeeded (e.g. mark the retraining request delivered). Errors are logged. */
  readonly onDelivered?: (delivery: WebhookDelivery) => void | Promise<void>;
}

/** What one attempt did. */
export interface AttemptResult {
  readonly deliveryId: number;
  readonly attempt: number;
  readonly status: WebhookDeliveryStatus;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly nextAttemptAt: Date | null;
}

export class WebhookDispatcher {
  private readonly db: Database;
  private readonly now: () => Date;
  private readonly fetch: typeof fetch;
  private readonly policy: RetryPolicy;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly timers: DispatcherTimers;
  private readonly options: WebhookDispatcherOptions;
  private readonly attempts: Counter;
  private readonly seconds: Histogram;
  private started = false;
  private timer: unknown = undefined;
  private running: Promise<void> | undefined;
  private again = false;

  constructor(options: WebhookDispatcherOptions) {
    this.options = options;
    this.db = options.db;
    this.now = options.now ?? (() => new Date());
    this.fetch = options.fetch ?? globalThis.fetch;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.random = options.random ?? Math.random;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.batchSize = options.batchSize ?? 20;
    this.pollIntervalMs = options.pollIntervalMs ?? 30_000;
    this.timers = options.timers ?? realTimers;
    const registry = options.metrics ?? new MetricsRegistry();
    this.attempts = registry.counter(
      'edgefleet_webhook_attempts_total',
      'Webhook delivery attempts, by outcome.',
    );
    this.seconds = registry.histogram(
      'edgefleet_webhook_attempt_seconds',
      'Duration of webhook delivery attempts.',
    );
  }

  /** Send every delivery due now (one claim of up to `batchSize` at a time). */
  async runDue(): Promise<AttemptResult[]> {
    const results: AttemptResult[] = [];
    for (;;) {
      const claimed = await this.claim();
      if (claimed.length === 0) break;
      results.push(...(await Promise.all(claimed.map((d) => this.attempt(d)))));
      if (claimed.length < this.batchSize) break;
    }
    return results;
  }

  /** Run in the background until `stop()`. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule(0);
  }

  /** New deliveries were queued: look now rather than at the next poll. */
  notify(): void {
    if (!this.started) return;
    if (this.running !== undefined) this.again = true;
    else this.schedule(0);
  }

  /** Resolves when no pass of the `start()` loop is in progress. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stop the loop and wait for the pass in progress. */
  async stop(): Promise<void> {
    this.started = false;
    this.clearTimer();
    await this.running;
  }

  private schedule(ms: number): void {
    this.clearTimer();
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.running = this.tick().finally(() => {
        this.running = undefined;
      });
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One pass of the loop, then sleep until the next delivery is due. Never rejects. */
  private async tick(): Promise<void> {
    let delay = this.pollIntervalMs;
    try {
      do {
        this.again = false;
        await this.runDue();
      } while (this.passRequested());
      const [next] = await this.db
        .select({ at: min(webhookDeliveries.nextAttemptAt) })
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.status, 'pending'));
      if (next?.at != null) {
        delay = Math.min(delay, Math.max(0, next.at.getTime() - this.now().getTime()));
      }
    } catch (err) {
      this.options.logger?.error({ err }, 'webhook dispatch pass failed');
    }
    if (this.started) this.schedule(delay);
  }

  /** Read through a method: `notify()` sets the flag while `tick` awaits. */
  private passRequested(): boolean {
    return this.again && this.started;
  }

  /** Lease the due deliveries to this dispatcher for the length of an attempt. */
  private async claim(): Promise<WebhookDelivery[]> {
    const now = this.now();
    const leaseUntil = new Date(now.getTime() + this.timeoutMs + 5_000);
    const due = this.db
      .select({ id: webhookDeliveries.id })
      .from(webhookDeliveries)
      .where(
        and(eq(webhookDeliveries.status, 'pending'), lte(webhookDeliveries.nextAttemptAt, now)),
      )
      .orderBy(asc(webhookDeliveries.nextAttemptAt), asc(webhookDeliveries.id))
      .limit(this.batchSize)
      .for('update', { skipLocked: true });
    return this.db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: leaseUntil })
      .where(and(inArray(webhookDeliveries.id, due), eq(webhookDeliveries.status, 'pending')))
      .returning();
  }

  private async attempt(delivery: WebhookDelivery): Promise<AttemptResult> {
    const attempt = delivery.attempts + 1;
    const [hook] = await this.db.select().from(webhooks).where(eq(webhooks.id, delivery.webhookId));
    if (hook === undefined || !hook.active) {
      return this.record(delivery, attempt, 0, null, 'webhook disabled', 'failed', null);
    }
    const body = JSON.stringify(delivery.payload);
    const at = this.now();
    const headers = webhookHeaders({
      secret: hook.secret,
      event: delivery.event,
      deliveryId: String(delivery.id),
      body,
      timestampSec: Math.floor(at.getTime() / 1000),
    });
    const started = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const res = await this.fetch(hook.url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      statusCode = res.status;
      // The response body is not used; release the connection.
      await res.body?.cancel().catch(() => undefined);
      if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}`;
    } catch (err) {
      error = describeError(err);
    }
    const durationMs = Math.round(performance.now() - started);
    this.seconds.observe(durationMs / 1000);
    if (error === null) {
      return this.record(delivery, attempt, durationMs, statusCode, null, 'succeeded', null);
    }
    const delay = retryDelayMs(attempt, this.policy, this.random);
    return delay === undefined
      ? this.record(delivery, attempt, durationMs, statusCode, error, 'dead', null)
      : this.record(
          delivery,
          attempt,
          durationMs,
          statusCode,
          error,
          'pending',
          new Date(this.now().getTime() + delay),
        );
  }

  /** Log the attempt and move the delivery on, in one transaction. */
  private async record(
    delivery: WebhookDelivery,
    attempt: number,
    durationMs: number,
    statusCode: number | null,
    error: string | null,
    status: WebhookDeliveryStatus,
    nextAttemptAt: Date | null,
  ): Promise<AttemptResult> {
    const at = this.now();
    await this.db.transaction(async (tx) => {
      await tx.insert(webhookDeliveryAttempts).values({
        deliveryId: delivery.id,
        attempt,
        at,
        durationMs,
        statusCode,
        error,
        nextAttemptAt,
      });
      await tx
        .update(webhookDeliveries)
        .set({
          attempts: attempt,
          status,
          // A finished delivery keeps its last due time; the partial index skips it anyway.
          nextAttemptAt: nextAttemptAt ?? at,
          lastError: error,
          responseStatus: statusCode,
          deliveredAt: status === 'succeeded' ? at : null,
        })
        .where(eq(webhookDeliveries.id, delivery.id));
    });
    this.attempts.inc({ outcome: status });
    if (status === 'succeeded') {
      this.options.logger?.info(
        { deliveryId: delivery.id, event: delivery.event, attempt },
        'webhook delivered',
      );
      try {
        await this.options.onDelivered?.({ ...delivery, status, attempts: attempt });
      } catch (err) {
        this.options.logger?.error({ err, deliveryId: delivery.id }, 'onDelivered failed');
      }
    } else {
      this.options.logger?.warn(
        { deliveryId: delivery.id, event: delivery.event, attempt, statusCode, error, status },
        status === 'pending' ? 'webhook attempt failed; will retry' : 'webhook delivery given up',
      );
    }
    return { deliveryId: delivery.id, attempt, status, statusCode, error, nextAttemptAt };
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out';
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`.slice(0, 500);
  }
  return String(err).slice(0, 500);
}
