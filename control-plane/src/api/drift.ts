/**
 * Drift and what follows from it: `GET /v1/drift` (per-feature metric series and monitor status),
 * the per-model monitor configuration, retraining requests, and webhooks with their delivery log.
 */
import { z } from 'zod';
import { MonitorConfigSchema } from '../drift/config.js';
import { distributionOf } from '../drift/distribution.js';
import { eventJson, requestJson } from '../drift/events.js';
import {
  driftOverview,
  getMonitorConfig,
  getRetrainingRequest,
  listDriftEvents,
  listRetrainingRequests,
  setMonitorConfig,
} from '../drift/store.js';
import { RETRAINING_REQUEST_STATUSES } from '../db/schema.js';
import { httpErrors } from '../http/errors.js';
import { route, type AnyRoute } from '../http/route.js';
import { getRelease } from '../db/releases.js';
import { createReferenceProfiles } from '../server/reference-profiles.js';
import { healthOf } from '../telemetry/rollups.js';
import {
  createWebhook,
  CreateWebhookSchema,
  deleteWebhook,
  listDeliveries,
  listDeliveryAttempts,
  listWebhooks,
} from '../webhooks/store.js';
import type { Services } from './services.js';

const MODEL = z.string().min(1).max(63);
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export function driftRoutes(s: Services, wake: { webhooks?: () => void } = {}): AnyRoute[] {
  const referenceProfile = createReferenceProfiles(s.db, s.artifacts);
  return [
    route({
      method: 'get',
      path: '/v1/drift',
      summary: 'Per-feature drift metric series and current monitor status of a model',
      tag: 'drift',
      access: 'viewer',
      query: z.object({
        model: MODEL,
        release: z.string().max(128).optional(),
        cohort: z.string().max(256).optional(),
        from: z.iso.datetime({ offset: true }).optional(),
        to: z.iso.datetime({ offset: true }).optional(),
      }),
      handler: async ({ query }) => {
        const to = query.to ? new Date(query.to) : s.now();
        const from = query.from ? new Date(query.from) : new Date(to.getTime() - DAY_MS);
        if (!(from < to)) throw httpErrors.badRequest('`from` must be before `to`');
        const overview = await driftOverview(s.db, {
          model: query.model,
          from,
          to,
          ...(query.release ? { releaseId: query.release } : {}),
          ...(query.cohort ? { cohort: query.cohort } : {}),
        });
        const events = await listDriftEvents(s.db, { model: query.model });
        return { ...overview, events: events.map(eventJson) };
      },
    }),
    route({
      method: 'get',
      path: '/v1/drift/distribution',
      summary:
        "One feature's reference and live distribution, plot-ready: shared histogram bins and CDF quantiles (numeric) or category shares (categorical), from the sketches",
      tag: 'drift',
      access: 'viewer',
      query: z.object({
        release: z.string().min(1).max(128),
        feature: z.string().min(1).max(256),
        cohort: z.string().max(256).optional(),
        from: z.iso.datetime({ offset: true }).optional(),
        to: z.iso.datetime({ offset: true }).optional(),
        bins: z.coerce.number().int().min(1).max(200).default(30),
      }),
      handler: async ({ query }) => {
        const to = query.to ? new Date(query.to) : s.now();
        const from = query.from ? new Date(query.from) : new Date(to.getTime() - HOUR_MS);
        if (!(from < to)) throw httpErrors.badRequest('`from` must be before `to`');
        if (!(await getRelease(s.db, query.release))) {
          throw httpErrors.notFound(`release ${query.release}`);
        }
        const reference = await referenceProfile(query.release);
        const live = await healthOf(s.db, {
          releaseId: query.release,
          from,
          to,
          features: [query.feature],
          ...(query.cohort === undefined ? {} : { cohort: query.cohort }),
        });
        const plot = distributionOf(
          reference?.get(query.feature),
          live.profile?.get(query.feature),
          {
            bins: query.bins,
          },
        );
        if (plot === undefined) {
          throw httpErrors.notFound(
            `feature ${query.feature} in the reference or live profile of release ${query.release}`,
          );
        }
        return {
          releaseId: query.release,
          feature: query.feature,
          cohort: query.cohort ?? null,
          from: from.toISOString(),
          to: to.toISOString(),
          liveWindows: live.windows,
          hasReference: reference !== undefined,
          ...plot,
        };
      },
    }),
    route({
      method: 'get',
      path: '/v1/models/{name}/monitor',
      summary: "A model's drift monitor configuration (defaults when none was set)",
      tag: 'drift',
      access: 'viewer',
      params: z.object({ name: MODEL }),
      handler: async ({ params }) => getMonitorConfig(s.db, params.name),
    }),
    route({
      method: 'put',
      path: '/v1/models/{name}/monitor',
      summary: "Set a model's drift monitor configuration",
      tag: 'drift',
      access: 'deployer',
      audit: 'drift.monitor.set',
      params: z.object({ name: MODEL }),
      body: MonitorConfigSchema,
      handler: async ({ params, body, principal, audit }) => {
        audit.target = `models/${params.name}/monitor`;
        return setMonitorConfig(s.db, params.name, body, {
          ...(principal?.kind === 'operator' ? { updatedBy: principal.name } : {}),
          now: s.now(),
        });
      },
    }),
    route({
      method: 'get',
      path: '/v1/retraining-requests',
      summary: 'Retraining requests created by drift events, newest first',
      tag: 'drift',
      access: 'viewer',
      query: z.object({
        model: MODEL.optional(),
        release: z.string().max(128).optional(),
        status: z.enum(RETRAINING_REQUEST_STATUSES).optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      handler: async ({ query }) => ({
        requests: (
          await listRetrainingRequests(s.db, {
            limit: query.limit,
            ...(query.model ? { model: query.model } : {}),
            ...(query.release ? { releaseId: query.release } : {}),
            ...(query.status ? { status: query.status } : {}),
          })
        ).map(requestJson),
      }),
    }),
    route({
      method: 'get',
      path: '/v1/retraining-requests/{id}',
      summary: 'One retraining request',
      tag: 'drift',
      access: 'viewer',
      params: z.object({ id: z.string().min(1).max(128) }),
      handler: async ({ params }) => {
        const r = await getRetrainingRequest(s.db, params.id);
        if (!r) throw httpErrors.notFound(`retraining request ${params.id}`);
        return requestJson(r);
      },
    }),
    route({
      method: 'post',
      path: '/v1/webhooks',
      summary: 'Register a webhook (HMAC-SHA256 signed deliveries; the secret is shown once)',
      tag: 'webhooks',
      access: 'admin',
      audit: 'webhooks.create',
      status: 201,
      body: CreateWebhookSchema,
      handler: async ({ body, principal, audit }) => {
        const { webhook: w, secret } = await createWebhook(s.db, body, {
          ...(principal?.kind === 'operator' ? { createdBy: principal.name } : {}),
          now: s.now(),
        });
        audit.target = `webhooks/${w.id}`;
        audit.details = { url: w.url, events: w.events };
        wake.webhooks?.();
        return { ...w, secret };
      },
    }),
    route({
      method: 'get',
      path: '/v1/webhooks',
      summary: 'List webhooks (never their secrets)',
      tag: 'webhooks',
      access: 'admin',
      handler: async () => ({ webhooks: await listWebhooks(s.db) }),
    }),
    route({
      method: 'delete',
      path: '/v1/webhooks/{id}',
      summary: 'Delete a webhook',
      tag: 'webhooks',
      access: 'admin',
      audit: 'webhooks.delete',
      params: z.object({ id: z.string().min(1).max(128) }),
      handler: async ({ params, audit }) => {
        audit.target = `webhooks/${params.id}`;
        if (!(await deleteWebhook(s.db, params.id)))
          throw httpErrors.notFound(`webhook ${params.id}`);
        return { deleted: params.id };
      },
    }),
    route({
      method: 'get',
      path: '/v1/webhooks/{id}/deliveries',
      summary: "A webhook's delivery log with every attempt",
      tag: 'webhooks',
      access: 'admin',
      params: z.object({ id: z.string().min(1).max(128) }),
      query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50) }),
      handler: async ({ params, query }) => {
        const deliveries = await listDeliveries(s.db, { webhookId: params.id, limit: query.limit });
        return {
          deliveries: await Promise.all(
            deliveries.map(async (d) => ({
              ...d,
              attempts: await listDeliveryAttempts(s.db, d.id),
            })),
          ),
        };
      },
    }),
  ];
}
