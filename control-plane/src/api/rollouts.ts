/**
 * Staged rollouts (`/v1/rollouts`): create from a spec, read progress per wave and gate evaluations,
 * and the operator actions (start, approve, pause, resume, cancel, abort, promote, retry), each audited.
 * `GET /v1/events` streams what happens as server-sent events.
 */
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { ROLLOUT_STATES, type Rollout } from '../db/schema.js';
import { httpErrors } from '../http/errors.js';
import { route, type AnyRoute } from '../http/route.js';
import {
  abortRollout,
  approveRollout,
  cancelRollout,
  pauseRollout,
  promoteWave,
  resumeRollout,
  retryFailed,
  startRollout,
} from '../rollouts/operator-actions.js';
import { RolloutSpecSchema } from '../rollouts/spec.js';
import { createRollout, listRollouts, rolloutProgress } from '../rollouts/store.js';
import type { EventBus } from '../server/events.js';
import type { Services } from './services.js';

const ACTIONS = [
  'start',
  'approve',
  'pause',
  'resume',
  'cancel',
  'abort',
  'promote',
  'retry',
] as const;

function rolloutView(r: Rollout) {
  return {
    id: r.id,
    state: r.state,
    kind: r.kind,
    model: r.modelName,
    releaseId: r.releaseId,
    baselineReleaseId: r.baselineReleaseId,
    fleetSize: r.fleetSize,
    supersededBy: r.supersededBy,
    rollbackOf: r.rollbackOf,
    rollbackStatus: r.rollbackStatus,
    createdBy: r.createdBy,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export interface RolloutRouteDeps {
  readonly events: EventBus;
  /** Nudge the scheduler so an action takes effect without waiting for the next tick. */
  readonly kick: () => void;
}

export function rolloutRoutes(s: Services, deps: RolloutRouteDeps): AnyRoute[] {
  const actor = (p: { kind: string; name?: string } | undefined) =>
    p?.kind === 'operator' && p.name ? p.name : 'operator';
  return [
    route({
      method: 'post',
      path: '/v1/rollouts',
      summary: 'Create a staged rollout of a release (starts at once unless `draft: true`)',
      tag: 'rollouts',
      access: 'deployer',
      audit: 'rollouts.create',
      status: 201,
      body: RolloutSpecSchema.and(z.object({ draft: z.boolean().optional() })),
      handler: async ({ body, principal, audit }) => {
        const { draft, ...spec } = body;
        const created = await createRollout(s.db, {
          spec: RolloutSpecSchema.parse(spec),
          createdBy: actor(principal),
          now: s.now(),
          draft: draft ?? false,
        });
        audit.target = `rollouts/${created.rollout.id}`;
        audit.details = { releaseId: created.rollout.releaseId, superseded: created.superseded };
        deps.events.emit({ type: 'rollout.created', data: rolloutView(created.rollout) });
        deps.kick();
        return {
          ...rolloutView(created.rollout),
          waves: created.waves.length,
          superseded: created.superseded,
        };
      },
    }),
    route({
      method: 'get',
      path: '/v1/rollouts',
      summary: 'List rollouts, newest first',
      tag: 'rollouts',
      access: 'viewer',
      query: z.object({
        state: z.enum(ROLLOUT_STATES).optional(),
        model: z.string().max(63).optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      handler: async ({ query }) => ({
        rollouts: (
          await listRollouts(s.db, {
            limit: query.limit,
            ...(query.state ? { state: query.state } : {}),
            ...(query.model ? { modelName: query.model } : {}),
          })
        ).map(rolloutView),
      }),
    }),
    route({
      method: 'get',
      path: '/v1/rollouts/{id}',
      summary: 'A rollout with per-wave device counts by state and its gate evaluations',
      tag: 'rollouts',
      access: 'viewer',
      params: z.object({ id: z.string().min(1).max(128) }),
      handler: async ({ params }) => {
        const p = await rolloutProgress(s.db, params.id);
        if (!p) throw httpErrors.notFound(`rollout ${params.id}`);
        return {
          ...rolloutView(p.rollout),
          spec: p.rollout.spec,
          counts: p.counts,
          waves: p.waves.map((w) => ({
            index: w.waveIndex,
            name: w.name,
            state: w.state,
            target: w.cumulativeTarget,
            members: w.members,
            counts: w.counts,
          })),
          evaluations: p.evaluations,
        };
      },
    }),
    route({
      method: 'post',
      path: '/v1/rollouts/{id}/{action}',
      summary:
        'Operator action: start | approve | pause | resume | cancel | abort | promote | retry',
      tag: 'rollouts',
      access: 'deployer',
      audit: 'rollouts.action',
      params: z.object({ id: z.string().min(1).max(128), action: z.enum(ACTIONS) }),
      handler: async ({ params, principal, audit }) => {
        audit.target = `rollouts/${params.id}`;
        audit.details = { action: params.action };
        const opts = { actor: actor(principal), now: s.now() };
        let result: unknown;
        switch (params.action) {
          case 'start':
            result = await startRollout(s.db, params.id, opts);
            break;
          case 'approve':
            result = await approveRollout(s.db, params.id, opts);
            break;
          case 'pause':
            result = await pauseRollout(s.db, params.id, opts);
            break;
          case 'resume':
            result = await resumeRollout(s.db, params.id, opts);
            break;
          case 'cancel':
            result = await cancelRollout(s.db, params.id, opts);
            break;
          case 'abort':
            result = await abortRollout(s.db, params.id, opts);
            break;
          case 'promote':
            result = await promoteWave(s.db, params.id, opts);
            break;
          case 'retry':
            result = await retryFailed(s.db, params.id, opts);
            break;
        }
        deps.events.emit({
          type: 'rollout.action',
          data: { rolloutId: params.id, action: params.action },
        });
        deps.kick();
        const p = await rolloutProgress(s.db, params.id);
        return { action: params.action, result, rollout: p ? rolloutView(p.rollout) : null };
      },
    }),
    route({
      method: 'get',
      path: '/v1/events',
      summary: 'Server-sent events: rollout changes, deployment reports, drift changes',
      tag: 'events',
      access: 'viewer',
      handler: ({ c }) =>
        streamSSE(c, async (stream) => {
          let id = 0;
          const queue: string[] = [];
          let wake: (() => void) | undefined;
          const unsubscribe = deps.events.subscribe((e) => {
            if (queue.length > 1000) throw new Error('slow subscriber');
            queue.push(JSON.stringify(e));
            wake?.();
          });
          stream.onAbort(() => {
            unsubscribe();
            wake?.();
          });
          await stream.writeSSE({
            event: 'hello',
            data: JSON.stringify({ at: s.now().toISOString() }),
          });
          while (!stream.aborted) {
            const next = queue.shift();
            if (next === undefined) {
              await new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, 15_000);
                wake = () => {
                  clearTimeout(timer);
                  resolve();
                };
              });
              wake = undefined;
              // A keep-alive comment when nothing happened for a while (the loop re-checks `aborted`).
              if (queue.length === 0) await stream.writeSSE({ event: 'ping', data: '{}' });
              continue;
            }
            const e = JSON.parse(next) as { type: string };
            await stream.writeSSE({ id: String(++id), event: e.type, data: next });
          }
          unsubscribe();
        }),
    }),
  ];
}
