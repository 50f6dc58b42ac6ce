/** Every route of the operator API, in one list (it also feeds the OpenAPI document). */
import { artifactRoutes } from '../api/artifacts.js';
import { deviceRoutes } from '../api/devices.js';
import { driftRoutes } from '../api/drift.js';
import { modelRoutes } from '../api/models.js';
import { rolloutRoutes } from '../api/rollouts.js';
import { EventBus } from './events.js';
import type { Services } from '../api/services.js';
import { tokenRoutes } from '../api/tokens.js';
import { trustRoutes } from '../api/trust.js';
import type { AnyRoute } from '../http/route.js';

export interface RouteExtras {
  /** Nudge the webhook dispatcher (deliver a new webhook's backlog now). */
  readonly webhooks?: () => void;
  /** Nudge the rollout scheduler (an action takes effect without waiting for the next tick). */
  readonly kick?: () => void;
  readonly events?: EventBus;
}

export function allRoutes(s: Services, extras: RouteExtras = {}): AnyRoute[] {
  return [
    ...tokenRoutes(s),
    ...deviceRoutes(s),
    ...artifactRoutes(s),
    ...modelRoutes(s),
    ...trustRoutes(s),
    ...driftRoutes(s, extras),
    ...rolloutRoutes(s, {
      events: extras.events ?? new EventBus(),
      kick:
        extras.kick ??
        (() => {
          /* no scheduler */
        }),
    }),
  ];
}
