/**
 * The control plane's Hono app: declared routes plus `/healthz`, `/metrics`, `/v1/openapi.json`, one
 * error shape, request logging. Built from injected parts so tests call `app.request()` in-process.
 */
import { EdgefleetError, PROMETHEUS_CONTENT_TYPE, type MetricsRegistry } from '@edgefleet/protocol';
import { Hono } from 'hono';
import { routePath } from 'hono/route';
import type { Logger } from 'pino';
import { errorResponse } from './errors.js';
import { registerDashboard, type DashboardOptions } from './dashboard.js';
import { buildOpenApi } from './openapi.js';
import { registerRoutes, type AnyRoute, type RouteDeps } from './route.js';

export interface AppOptions extends RouteDeps {
  readonly routes: readonly AnyRoute[];
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly version: string;
  /** Readiness: resolves when the database (and broker) answer. */
  readonly health?: () => Promise<Record<string, unknown>>;
  /** Serve the operator dashboard under `/ui/` (see dashboard.ts); off when absent. */
  readonly dashboard?: DashboardOptions;
}

export function createApp(options: AppOptions): Hono {
  const app = new Hono();
  const requests = options.metrics.counter(
    'ef_http_requests_total',
    'HTTP requests by route and status',
  );
  const duration = options.metrics.histogram(
    'ef_http_request_duration_seconds',
    'HTTP request duration',
    [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  );

  app.use(async function logRequest(c, next) {
    const start = performance.now();
    await next();
    const seconds = (performance.now() - start) / 1000;
    const matched = routePath(c) || 'unmatched';
    requests.inc({ method: c.req.method, route: matched, status: c.res.status });
    duration.observe(seconds, { method: c.req.method });
    options.logger.debug(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(seconds * 1000),
      },
      'http request',
    );
  });

  app.onError(function handleError(err, c) {
    if (err instanceof EdgefleetError) {
      if (err.code === 'EF_INTERNAL') {
        options.logger.error({ err: err.cause ?? err, path: c.req.path }, 'internal error');
      }
      return errorResponse(c, err);
    }
    options.logger.error({ err, path: c.req.path }, 'unhandled error');
    return errorResponse(
      c,
      new EdgefleetError('EF_INTERNAL', 'internal error: see the server log'),
    );
  });

  app.notFound((c) =>
    errorResponse(
      c,
      new EdgefleetError('EF_NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`),
    ),
  );

  app.get('/healthz', async (c) => {
    try {
      const checks = options.health ? await options.health() : {};
      return c.json({ status: 'ok', version: options.version, ...checks });
    } catch (e) {
      return c.json({ status: 'unavailable', error: (e as Error).message }, 503);
    }
  });

  app.get('/metrics', (c) =>
    c.body(options.metrics.render(), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE }),
  );

  const openapi = buildOpenApi(options.routes, {
    title: 'Edgefleet control plane',
    version: options.version,
  });
  app.get('/v1/openapi.json', (c) => c.json(openapi));

  registerRoutes(app, options.routes, options);
  if (options.dashboard !== undefined) registerDashboard(app, options.dashboard);
  return app;
}
