/**
 * The drift evaluator, the I/O shell around `monitor.ts`. Each pass (`evaluate()`, on a timer):
 *
 * 1. finds the closed aggregation windows (ended at least `graceMs` ago, so late device windows
 *    are in) not evaluated yet, per release x cohort;
 * 2. compares each window's merged profile with the reference (the release's reference profile, or
 *    the merged aggregates of a configured baseline window) with the protocol's `driftReport`;
 * 3. splits the features into feature sets (`inputs` and `outputs` when the release's feature spec
 *    says which is which, else `all`) and feeds each set's monitor;
 * 4. in one transaction per release x cohort, with the monitor state row locked: stores the window
 *    results (the series of `GET /v1/drift`), opens / updates / resolves drift events, creates a
 *    retraining request for each opened event, queues the webhook events (`events.ts`), and saves
 *    the monitor state.
 *
 * Restart- and replica-safe: the monitor state and its last evaluated window are read under the
 * row lock inside that transaction, so a window is evaluated once however many evaluators run; a
 * partial unique index keeps one firing event per model release x cohort x feature set, and the
 * retraining request's idempotency key (sha256 of model, release, cohort and event id) is unique.
 *
 * Windows that arrive after their window was evaluated are merged into the aggregate but not
 * evaluated again.
 */
import {
  driftReport,
  FeatureSpecSchema,
  featureDescriptors,
  MetricsRegistry,
  Profile,
  type Counter,
  type DriftReportOptions,
  type FeatureDrift,
  type FeatureSpec,
  type RandomSource,
} from '@edgefleet/protocol';
import { and, asc, eq, gte, lte, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Database } from '../db/database.js';
import {
  driftMonitorStates,
  driftWindowResults,
  modelVersions,
  releases,
  telemetryAggregates,
  type DriftEvent,
  type JsonObject,
  type RetrainingRequest,
} from '../db/schema.js';
import { healthOf } from '../telemetry/rollups.js';
import { decodeStoredTotals } from '../telemetry/totals.js';
import { DEFAULT_MONITOR_CONFIG, type MonitorConfig } from './config.js';
import {
  INITIAL_MONITOR_STATE,
  MonitorStateSchema,
  stepMonitor,
  type MonitorState,
} from './monitor.js';
import { applyMonitorAction } from './events.js';
import { getMonitorConfig } from './store.js';
import { realTimers, type Timers } from '../timers.js';

/** Feature sets: model inputs, model outputs (prediction drift), or everything together. */
export type FeatureSetName = 'inputs' | 'outputs' | 'all';

/** What the evaluator needs to know about a release. */
export interface ReleaseInfo {
  readonly model: string;
  /** Tells input features from output features; without it all features form one set. */
  readonly featureSpec?: FeatureSpec;
}

type MaybePromise<T> = T | Promise<T>;

export interface DriftEvaluatorOptions {
  readonly db: Database;
  /** Clock (default `new Date()`). */
  readonly now?: () => Date;
  /** Aggregation window of ingest, ms (default 60,000). */
  readonly windowMs?: number;
  /** A window is evaluated this long after it ends (default: one window). */
  readonly graceMs?: number;
  /** Windows that started longer ago than this are never evaluated (default 1 h). */
  readonly lookbackMs?: number;
  /** The release's reference profile (from its signed files); undefined when it has none. */
  readonly referenceProfile: (releaseId: string) => MaybePromise<Profile | undefined>;
  /** Model and feature spec of a release (default: the releases and model_versions tables). */
  readonly describeRelease?: (releaseId: string) => MaybePromise<ReleaseInfo | undefined>;
  /** A model's monitor configuration (default: the drift_monitors table, else the defaults). */
  readonly monitorConfig?: (model: string) => MaybePromise<MonitorConfig>;
  /** Queue webhook events (`drift.opened`, `drift.resolved`, `retraining.requested`; default true). */
  readonly webhooks?: boolean;
  /** After a pass committed changes (e.g. wake the webhook dispatcher, push to SSE). */
  readonly onChanges?: (changes: EvaluationChanges) => void;
  readonly logger?: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  readonly metrics?: MetricsRegistry;
  readonly random?: RandomSource;
  /** Timers of the `start()` loop (injectable for tests). */
  readonly timers?: EvaluatorTimers;
}

/** Kept as an alias of the shared type (it is part of this module's options). */
export type EvaluatorTimers = Timers;

export interface EvaluationChanges {
  readonly opened: readonly DriftEvent[];
  readonly updated: readonly DriftEvent[];
  readonly resolved: readonly DriftEvent[];
  readonly retrainingRequests: readonly RetrainingRequest[];
}

export interface EvaluationSummary extends EvaluationChanges {
  /** Release x cohort x window combinations evaluated. */
  readonly windows: number;
  /** Releases skipped, with why. */
  readonly skipped: readonly { readonly releaseId: string; readonly reason: string }[];
}

/** Persisted monitor state of a release x cohort: one machine per feature set. */
const StoredStateSchema = z.object({
  v: z.literal(1),
  sets: z.record(z.string(), MonitorStateSchema),
});
type StoredState = z.infer<typeof StoredStateSchema>;

/** The features of a report, by feature set. Empty sets are left out. */
export function splitFeatureSets(
  features: readonly FeatureDrift[],
  spec: FeatureSpec | undefined,
  mode: MonitorConfig['featureSets'],
): Map<FeatureSetName, FeatureDrift[]> {
  if (mode === 'single' || spec === undefined) return new Map([['all', [...features]]]);
  const outputs = new Set(
    featureDescriptors(spec)
      .filter((d) => d.source === 'output')
      .map((d) => d.name),
  );
  const sets = new Map<FeatureSetName, FeatureDrift[]>();
  for (const f of features) {
    const set = outputs.has(f.feature) ? 'outputs' : 'inputs';
    const list = sets.get(set);
    if (list === undefined) sets.set(set, [f]);
    else list.push(f);
  }
  return sets;
}

/** The stored form of a feature's reading in a window (NaN becomes null: JSON has no NaN). */
function storedFeature(f: FeatureDrift): JsonObject {
  return {
    feature: f.feature,
    kind: f.kind,
    metric: f.metric,
    value: Number.isFinite(f.value) ? f.value : null,
    threshold: f.threshold,
    status: f.status,
    n: f.n,
    referenceN: f.referenceN,
  };
}

interface WindowInput {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly inferences: number;
  readonly windowsMerged: number;
  readonly sets: Map<FeatureSetName, FeatureDrift[]>;
}

interface Group {
  readonly releaseId: string;
  readonly cohort: string;
  readonly model: string;
  readonly config: MonitorConfig;
  readonly windows: WindowInput[];
}

interface ReleaseContext {
  readonly info: ReleaseInfo;
  readonly config: MonitorConfig;
  readonly reference: Profile;
}

export class DriftEvaluator {
  private readonly db: Database;
  private readonly now: () => Date;
  private readonly windowMs: number;
  private readonly graceMs: number;
  private readonly lookbackMs: number;
  private readonly options: DriftEvaluatorOptions;
  private readonly references = new Map<string, Profile>();
  private readonly releaseInfo = new Map<string, ReleaseInfo>();
  private readonly counters: { windows: Counter; events: Counter };
  private timer: unknown = undefined;
  private running: Promise<void> | undefined;
  private started = false;

  constructor(options: DriftEvaluatorOptions) {
    this.options = options;
    this.db = options.db;
    this.now = options.now ?? (() => new Date());
    this.windowMs = options.windowMs ?? 60_000;
    this.graceMs = options.graceMs ?? this.windowMs;
    this.lookbackMs = options.lookbackMs ?? 3_600_000;
    const registry = options.metrics ?? new MetricsRegistry();
    this.counters = {
      windows: registry.counter(
        'edgefleet_drift_windows_total',
        'Windows evaluated by drift monitors, by feature set and verdict.',
      ),
      events: registry.counter(
        'edgefleet_drift_events_total',
        'Drift events opened and resolved, by feature set.',
      ),
    };
  }

  /**
   * Evaluate every `intervalMs` (default: a tenth of a window, so a window is evaluated soon after
   * its grace period) until `stop()`. Passes never overlap; a failing pass is logged and retried.
   */
  start(intervalMs: number = Math.max(1000, Math.floor(this.windowMs / 10))): void {
    if (this.started) return;
    this.started = true;
    const timers = this.options.timers ?? realTimers;
    const loop = (delay: number): void => {
      this.timer = timers.setTimeout(() => {
        this.timer = undefined;
        this.running = this.evaluate()
          .then(
            () => undefined,
            (err: unknown) => {
              this.options.logger?.error({ err }, 'drift evaluation pass failed');
            },
          )
          .finally(() => {
            this.running = undefined;
            if (this.started) loop(intervalMs);
          });
      }, delay);
    };
    loop(0);
  }

  /** Stop the `start()` loop and wait for the pass in progress. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer !== undefined) (this.options.timers ?? realTimers).clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass over the closed, not yet evaluated windows (see the module comment). */
  async evaluate(): Promise<EvaluationSummary> {
    const now = this.now().getTime();
    const closedUpTo = now - this.windowMs - this.graceMs;
    const from = now - this.lookbackMs;
    const keys = await this.db
      .selectDistinct({
        releaseId: telemetryAggregates.releaseId,
        cohort: telemetryAggregates.cohort,
      })
      .from(telemetryAggregates)
      .where(
        and(
          gte(telemetryAggregates.windowStart, new Date(from)),
          lte(telemetryAggregates.windowStart, new Date(closedUpTo)),
        ),
      );
    const summary = {
      windows: 0,
      skipped: [] as { releaseId: string; reason: string }[],
      opened: [] as DriftEvent[],
      updated: [] as DriftEvent[],
      resolved: [] as DriftEvent[],
      retrainingRequests: [] as RetrainingRequest[],
    };
    const releaseIds = [...new Set(keys.map((k) => k.releaseId))].sort();
    const configs = new Map<string, MonitorConfig>();
    for (const releaseId of releaseIds) {
      let ctx: ReleaseContext | string;
      try {
        ctx = await this.releaseContext(releaseId, configs);
      } catch (err) {
        this.options.logger?.error({ err, releaseId }, 'drift: cannot load the release context');
        ctx = 'error loading the release or its reference';
      }
      if (typeof ctx === 'string') {
        summary.skipped.push({ releaseId, reason: ctx });
        continue;
      }
      const cohorts = keys.filter((k) => k.releaseId === releaseId).map((k) => k.cohort);
      for (const cohort of cohorts.sort()) {
        try {
          const changes = await this.evaluateGroup(releaseId, cohort, ctx, from, closedUpTo);
          summary.windows += changes.windows;
          summary.opened.push(...changes.opened);
          summary.updated.push(...changes.updated);
          summary.resolved.push(...changes.resolved);
          summary.retrainingRequests.push(...changes.retrainingRequests);
        } catch (err) {
          this.options.logger?.error({ err, releaseId, cohort }, 'drift evaluation failed');
        }
      }
    }
    const changed =
      summary.opened.length + summary.updated.length + summary.resolved.length > 0 ||
      summary.retrainingRequests.length > 0;
    if (changed) {
      try {
        this.options.onChanges?.(summary);
      } catch (err) {
        this.options.logger?.error({ err }, 'drift onChanges threw');
      }
    }
    return summary;
  }

  /** Model, configuration and reference of a release, or why it is not monitored. */
  private async releaseContext(
    releaseId: string,
    configs: Map<string, MonitorConfig>,
  ): Promise<ReleaseContext | string> {
    let info = this.releaseInfo.get(releaseId);
    if (info === undefined) {
      info = await (this.options.describeRelease ?? ((id) => describeReleaseFromDb(this.db, id)))(
        releaseId,
      );
      if (info === undefined) return 'unknown release';
      this.releaseInfo.set(releaseId, info);
    }
    let config = configs.get(info.model);
    if (config === undefined) {
      config = this.options.monitorConfig
        ? await this.options.monitorConfig(info.model)
        : ((await getMonitorConfig(this.db, info.model)) ?? DEFAULT_MONITOR_CONFIG);
      configs.set(info.model, config);
    }
    if (!config.enabled) return 'monitor disabled';
    const reference = await this.reference(releaseId, config);
    if (reference === undefined) return 'no reference profile';
    return { info, config, reference };
  }

  private async reference(releaseId: string, config: MonitorConfig): Promise<Profile | undefined> {
    const b = config.baseline;
    const key =
      b === undefined
        ? `release\u0000${releaseId}`
        : `baseline\u0000${b.releaseId ?? releaseId}\u0000${b.cohort ?? ''}\u0000${b.from}\u0000${b.to}`;
    const cached = this.references.get(key);
    if (cached !== undefined) return cached;
    let profile: Profile | undefined;
    if (b === undefined) {
      profile = await this.options.referenceProfile(releaseId);
    } else {
      const rollup = await healthOf(
        this.db,
        {
          releaseId: b.releaseId ?? releaseId,
          ...(b.cohort === undefined ? {} : { cohort: b.cohort }),
          from: new Date(b.from),
          to: new Date(b.to),
        },
        { random: this.options.random },
      );
      profile = rollup.profile ?? undefined;
    }
    // Only found references are cached: one may appear later (a baseline window filling up).
    if (profile !== undefined) this.references.set(key, profile);
    return profile;
  }

  /** Evaluate the new windows of one release x cohort and commit the outcome. */
  private async evaluateGroup(
    releaseId: string,
    cohort: string,
    ctx: ReleaseContext,
    from: number,
    closedUpTo: number,
  ): Promise<EvaluationChanges & { windows: number }> {
    const [state] = await this.db
      .select({ last: driftMonitorStates.lastWindowStart })
      .from(driftMonitorStates)
      .where(
        and(eq(driftMonitorStates.releaseId, releaseId), eq(driftMonitorStates.cohort, cohort)),
      );
    const after = Math.max(from - 1, state?.last?.getTime() ?? -Infinity);
    const t = telemetryAggregates;
    const rows = await this.db
      .select()
      .from(t)
      .where(
        and(
          eq(t.releaseId, releaseId),
          eq(t.cohort, cohort),
          sql`${t.windowStart} > ${new Date(after).toISOString()}::timestamptz`,
          lte(t.windowStart, new Date(closedUpTo)),
        ),
      )
      .orderBy(asc(t.windowStart));
    const none = { windows: 0, opened: [], updated: [], resolved: [], retrainingRequests: [] };
    if (rows.length === 0) return none;
    const options: DriftReportOptions = {
      ...ctx.config.metricOverrides,
      minSamples: ctx.config.minSamples,
    };
    // The CPU work happens outside the transaction: on PGlite every other query waits for it.
    const windows = rows.map((row): WindowInput => {
      const live = decodeStoredTotals(row, this.options.random).totals.profile ?? new Profile([]);
      const report = driftReport(ctx.reference, live, options);
      return {
        windowStart: row.windowStart.getTime(),
        windowEnd: row.windowStart.getTime() + row.windowSeconds * 1000,
        inferences: row.inferences,
        windowsMerged: row.windowsMerged,
        sets: splitFeatureSets(report.features, ctx.info.featureSpec, ctx.config.featureSets),
      };
    });
    return this.commit({ releaseId, cohort, model: ctx.info.model, config: ctx.config, windows });
  }

  private async commit(group: Group): Promise<EvaluationChanges & { windows: number }> {
    const { releaseId, cohort, model } = group;
    const at = this.now();
    const webhooks = this.options.webhooks ?? true;
    const outcome = await this.db.transaction(async (tx) => {
      const opened: DriftEvent[] = [];
      const updated: DriftEvent[] = [];
      const resolved: DriftEvent[] = [];
      const requests: RetrainingRequest[] = [];
      await tx
        .insert(driftMonitorStates)
        .values({ releaseId, cohort, modelName: model, state: { v: 1, sets: {} }, updatedAt: at })
        .onConflictDoNothing();
      const [locked] = await tx
        .select()
        .from(driftMonitorStates)
        .where(
          and(eq(driftMonitorStates.releaseId, releaseId), eq(driftMonitorStates.cohort, cohort)),
        )
        .for('update');
      const parsed = StoredStateSchema.safeParse(locked?.state);
      if (!parsed.success && locked !== undefined && Object.keys(locked.state).length > 0) {
        this.options.logger?.warn({ releaseId, cohort }, 'drift: unreadable monitor state reset');
      }
      const stored: StoredState = parsed.success ? parsed.data : { v: 1, sets: {} };
      // Another evaluator may have got here first: only windows after its last one count.
      const last = locked?.lastWindowStart?.getTime() ?? -Infinity;
      const todo = group.windows.filter((w) => w.windowStart > last);
      if (todo.length === 0)
        return { windows: 0, opened, updated, resolved, retrainingRequests: requests };

      const results: (typeof driftWindowResults.$inferInsert)[] = [];
      for (const w of todo) {
        for (const [set, features] of w.sets) {
          const current: MonitorState =
            (stored.sets[set] as MonitorState | undefined) ?? INITIAL_MONITOR_STATE;
          const step = stepMonitor(current, { ...w, features }, group.config);
          stored.sets[set] = step.state as StoredState['sets'][string];
          results.push({
            releaseId,
            cohort,
            featureSet: set,
            windowStart: new Date(w.windowStart),
            windowSeconds: Math.round((w.windowEnd - w.windowStart) / 1000),
            modelName: model,
            verdict: step.verdict,
            features: features.map(storedFeature),
            evaluatedAt: at,
          });
          this.counters.windows.inc({ feature_set: set, verdict: step.verdict });
          if (step.action === null) continue;
          const change = await applyMonitorAction(
            tx,
            { model, releaseId, cohort, featureSet: set },
            { inferences: w.inferences, windowsMerged: w.windowsMerged },
            step.action,
            { at, webhooks },
          );
          if (change.kind === 'opened') {
            opened.push(change.event);
            if (change.request !== undefined) requests.push(change.request);
          } else if (change.kind === 'updated') updated.push(change.event);
          else if (change.kind === 'resolved') resolved.push(change.event);
        }
      }
      for (let i = 0; i < results.length; i += 200) {
        await tx
          .insert(driftWindowResults)
          .values(results.slice(i, i + 200))
          .onConflictDoNothing();
      }
      await tx
        .update(driftMonitorStates)
        .set({
          state: stored,
          lastWindowStart: new Date(todo.at(-1)!.windowStart),
          modelName: model,
          updatedAt: at,
        })
        .where(
          and(eq(driftMonitorStates.releaseId, releaseId), eq(driftMonitorStates.cohort, cohort)),
        );
      return { windows: todo.length, opened, updated, resolved, retrainingRequests: requests };
    });
    for (const e of outcome.opened) {
      this.counters.events.inc({ feature_set: e.featureSet, action: 'opened' });
      this.options.logger?.info(
        { eventId: e.id, model, releaseId, cohort, featureSet: e.featureSet, feature: e.feature },
        'drift event opened',
      );
    }
    for (const e of outcome.resolved) {
      this.counters.events.inc({ feature_set: e.featureSet, action: 'resolved' });
      this.options.logger?.info(
        { eventId: e.id, model, releaseId, cohort },
        'drift event resolved',
      );
    }
    return outcome;
  }
}

/** Model and feature spec of a release from the registry tables. */
export async function describeReleaseFromDb(
  db: Database,
  releaseId: string,
): Promise<ReleaseInfo | undefined> {
  const [row] = await db
    .select({ model: releases.modelName, featureSpec: modelVersions.featureSpec })
    .from(releases)
    .innerJoin(
      modelVersions,
      and(
        eq(modelVersions.modelName, releases.modelName),
        eq(modelVersions.version, releases.modelVersion),
      ),
    )
    .where(eq(releases.releaseId, releaseId));
  if (row === undefined) return undefined;
  const spec = FeatureSpecSchema.safeParse(row.featureSpec);
  return spec.success ? { model: row.model, featureSpec: spec.data } : { model: row.model };
}
