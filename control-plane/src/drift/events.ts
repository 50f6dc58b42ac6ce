/**
 * Drift events and retraining requests: what the evaluator writes when a monitor opens, updates or
 * resolves an event. Runs inside the evaluator's transaction (pass the transaction handle), so the
 * event, its retraining request and their webhook deliveries commit together or not at all.
 */
import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import {
  driftEvents,
  retrainingRequests,
  type DriftEvent,
  type JsonObject,
  type RetrainingRequest,
} from '../db/schema.js';
import { enqueueWebhookEvent } from '../webhooks/store.js';
import type { DriftedFeature, MonitorAction } from './monitor.js';

/** The idempotency key of the retraining request of a drift event. */
export function retrainingIdempotencyKey(
  model: string,
  releaseId: string,
  cohort: string,
  eventId: number,
): string {
  return createHash('sha256')
    .update(JSON.stringify([model, releaseId, cohort, eventId]))
    .digest('hex');
}

/** The monitor an action comes from. */
export interface MonitorKey {
  readonly model: string;
  readonly releaseId: string;
  readonly cohort: string;
  readonly featureSet: string;
}

/** Sample counts of the window that produced the action. */
export interface WindowSamples {
  readonly inferences: number;
  readonly windowsMerged: number;
}

export type ActionOutcome =
  | { readonly kind: 'opened'; readonly event: DriftEvent; readonly request?: RetrainingRequest }
  | { readonly kind: 'updated' | 'resolved'; readonly event: DriftEvent }
  | { readonly kind: 'none' };

const featureJson = (fs: readonly DriftedFeature[]): JsonObject[] => fs.map((f) => ({ ...f }));

/**
 * Carry out a monitor action: open an event (with its retraining request), update the open event,
 * or resolve it; queue the webhook events when `webhooks`. The open event of the key is locked
 * first. An action that does not fit the stored events (an open while one is open, an update or
 * resolve with none open: a monitor state that was reset) changes nothing.
 */
export async function applyMonitorAction(
  tx: Database,
  key: MonitorKey,
  samples: WindowSamples,
  action: MonitorAction,
  options: { readonly at: Date; readonly webhooks: boolean },
): Promise<ActionOutcome> {
  const { model, releaseId, cohort, featureSet } = key;
  const { at, webhooks } = options;
  const [open] = await tx
    .select()
    .from(driftEvents)
    .where(
      and(
        eq(driftEvents.modelName, model),
        eq(driftEvents.releaseId, releaseId),
        eq(driftEvents.cohort, cohort),
        eq(driftEvents.featureSet, featureSet),
        eq(driftEvents.status, 'firing'),
      ),
    )
    .for('update');
  switch (action.type) {
    case 'open': {
      if (open !== undefined) return { kind: 'none' };
      const top = action.features[0]!;
      const counts = {
        inferences: samples.inferences,
        deviceWindows: samples.windowsMerged,
        features: Object.fromEntries(action.features.map((f) => [f.feature, f.n])),
        referenceFeatures: Object.fromEntries(
          action.features.map((f) => [f.feature, f.referenceN]),
        ),
      };
      const [inserted] = await tx
        .insert(driftEvents)
        .values({
          releaseId,
          modelName: model,
          cohort,
          featureSet,
          feature: top.feature,
          metric: top.metric,
          value: top.value,
          threshold: top.threshold,
          features: featureJson(action.features),
          status: 'firing',
          windowStart: new Date(action.windowStart),
          windowEnd: new Date(action.windowEnd),
          lastWindowStart: new Date(action.windowStart),
          details: {
            overWindows: action.overWindows,
            ofWindows: action.ofWindows,
            windowsOver: 1,
            samples: counts,
          },
          detectedAt: at,
          updatedAt: at,
        })
        .returning();
      const event = inserted!;
      const idempotencyKey = retrainingIdempotencyKey(model, releaseId, cohort, event.id);
      const [request] = await tx
        .insert(retrainingRequests)
        .values({
          id: `rr_${idempotencyKey.slice(0, 24)}`,
          idempotencyKey,
          modelName: model,
          releaseId,
          cohort,
          featureSet,
          driftEventId: event.id,
          reason: featureSet === 'outputs' ? 'prediction_drift' : 'input_drift',
          status: 'pending',
          windowStart: new Date(action.windowStart),
          windowEnd: new Date(action.windowEnd),
          samples: counts,
          features: action.features.map((f) => ({
            feature: f.feature,
            metric: f.metric,
            value: f.value,
            threshold: f.threshold,
          })),
          details: { overWindows: action.overWindows, ofWindows: action.ofWindows },
          createdAt: at,
        })
        .onConflictDoNothing()
        .returning();
      if (webhooks) {
        await enqueueWebhookEvent(tx, 'drift.opened', { event: eventJson(event) }, at);
        if (request !== undefined) {
          await enqueueWebhookEvent(tx, 'retraining.requested', requestJson(request), at);
        }
      }
      return request === undefined ? { kind: 'opened', event } : { kind: 'opened', event, request };
    }
    case 'update': {
      if (open === undefined) return { kind: 'none' };
      const [event] = await tx
        .update(driftEvents)
        .set({
          features: featureJson(action.eventFeatures),
          lastWindowStart: new Date(action.windowStart),
          details: { ...open.details, windowsOver: action.windowsOver },
          updatedAt: at,
        })
        .where(eq(driftEvents.id, open.id))
        .returning();
      return { kind: 'updated', event: event! };
    }
    case 'resolve': {
      if (open === undefined) return { kind: 'none' };
      const [event] = await tx
        .update(driftEvents)
        .set({
          status: 'resolved',
          resolvedAt: at,
          details: {
            ...open.details,
            resolvedWindowStart: new Date(action.windowStart).toISOString(),
          },
          updatedAt: at,
        })
        .where(eq(driftEvents.id, open.id))
        .returning();
      if (webhooks) {
        await enqueueWebhookEvent(tx, 'drift.resolved', { event: eventJson(event!) }, at);
      }
      return { kind: 'resolved', event: event! };
    }
  }
}

/** A drift event as webhooks and the API show it. */
export function eventJson(e: DriftEvent): JsonObject {
  return {
    id: e.id,
    model: e.modelName,
    releaseId: e.releaseId,
    cohort: e.cohort,
    featureSet: e.featureSet,
    status: e.status,
    feature: e.feature,
    metric: e.metric,
    value: e.value,
    threshold: e.threshold,
    features: e.features,
    windowStart: e.windowStart.toISOString(),
    windowEnd: e.windowEnd.toISOString(),
    lastWindowStart: e.lastWindowStart.toISOString(),
    detectedAt: e.detectedAt.toISOString(),
    resolvedAt: e.resolvedAt?.toISOString() ?? null,
    details: e.details,
  };
}

/** A retraining request as webhooks and the API show it. */
export function requestJson(r: RetrainingRequest): JsonObject {
  return {
    id: r.id,
    idempotencyKey: r.idempotencyKey,
    model: r.modelName,
    releaseId: r.releaseId,
    cohort: r.cohort,
    featureSet: r.featureSet,
    driftEventId: r.driftEventId,
    reason: r.reason,
    status: r.status,
    window: {
      start: r.windowStart?.toISOString() ?? null,
      end: r.windowEnd?.toISOString() ?? null,
    },
    samples: r.samples,
    features: r.features,
    createdAt: r.createdAt.toISOString(),
  };
}
