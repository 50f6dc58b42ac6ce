/**
 * Routes are declared once, as data: method, path, role, zod schemas for params/query/body/response.
 * The same declaration registers the Hono handler (with validation and auth) and produces the OpenAPI
 * document, so the two cannot drift apart.
 */
import { EdgefleetError } from '@edgefleet/protocol';
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { httpErrors, statusOf } from './errors.js';

export const ROLES = ['viewer', 'deployer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: an operator token (with a role) or a device token. */
export type Principal =
  | {
      readonly kind: 'operator';
      readonly tokenId: string;
      readonly name: string;
      readonly role: Role;
    }
  | { readonly kind: 'device'; readonly deviceId: string };

/**
 * Who may call a route: `public` (no token), an operator role or higher, `device` (a device token), or
 * `device_or_viewer` (artifacts: devices download them, operators inspect them).
 */
export type Access = 'public' | Role | 'device' | 'device_or_viewer';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

type AnyObject = z.ZodObject;

/** Body kinds that are not JSON: read by the handler itself from `c.req.raw`. */
export type RawBody = {
  readonly raw: 'multipart' | 'octet-stream' | 'json-any';
  readonly description: string;
};

export interface RouteSpec<
  P extends AnyObject | undefined = undefined,
  Q extends AnyObject | undefined = undefined,
  B extends z.ZodType | RawBody | undefined = undefined,
> {
  readonly method: HttpMethod;
  /** OpenAPI-style path: `/v1/models/{name}/versions`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly access: Access;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  /** Response schema for the success status (documentation; handlers are typed against it). */
  readonly response?: z.ZodType;
  /** Success status (default 200). */
  readonly status?: number;
  /** Audit action name for mutating routes (e.g. `models.push`); every call is audited with its outcome. */
  readonly audit?: string;
  readonly handler: (input: {
    params: P extends AnyObject ? z.infer<P> : Record<string, never>;
    query: Q extends AnyObject ? z.infer<Q> : Record<string, never>;
    body: B extends z.ZodType ? z.infer<B> : undefined;
    principal: Principal | undefined;
    c: Context;
    /** Set by the handler to name the audited target (e.g. `models/resnet/versions/3`). */
    audit: { target?: string; details?: Record<string, unknown> };
  }) => Promise<Response | object> | Response | object;
}

/** Declare a route (an identity function that keeps the generics). */
export function route<
  P extends AnyObject | undefined = undefined,
  Q extends AnyObject | undefined = undefined,
  B extends z.ZodType | RawBody | undefined = undefined,
>(spec: RouteSpec<P, Q, B>): RouteSpec<P, Q, B> {
  return spec;
}

// Route lists are heterogeneous; the generic parameters only matter inside each declaration.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = RouteSpec<any, any, any>;

export interface AuditRecord {
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  readonly outcome: 'success' | 'failure' | 'denied';
  readonly status: number;
  readonly details: Record<string, unknown> | null;
}

export interface RouteDeps {
  /**
   * Resolve the Authorization header into a principal (undefined when absent, unknown, revoked or
   * expired).
   */
  authenticate(authorization: string | undefined): Promise<Principal | undefined>;
  /** Append to the audit log. */
  audit(record: AuditRecord): Promise<void>;
}

const RANK: Record<Role, number> = { viewer: 1, deployer: 2, admin: 3 };

function authorize(access: Access, principal: Principal | undefined): void {
  if (access === 'public') return;
  if (!principal) throw httpErrors.unauthorized();
  if (access === 'device') {
    if (principal.kind !== 'device')
      throw httpErrors.forbidden('this endpoint is for device tokens');
    return;
  }
  if (principal.kind === 'device') {
    if (access === 'device_or_viewer') return;
    throw httpErrors.forbidden('device tokens cannot call operator endpoints');
  }
  const need: Role = access === 'device_or_viewer' ? 'viewer' : access;
  if (RANK[principal.role] < RANK[need]) {
    throw httpErrors.forbidden(
      `this action needs the ${need} role; the token has ${principal.role}`,
    );
  }
}

function issuesOf(error: z.ZodError): Array<{ path: string; message: string }> {
  return error.issues
    .slice(0, 20)
    .map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

function validate<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = issuesOf(r.error);
    const first = issues[0];
    throw httpErrors.badRequest(
      `invalid ${where}${first ? `: ${first.path || '(root)'}: ${first.message}` : ''}`,
      { issues },
    );
  }
  return r.data;
}

/** Convert `/v1/models/{name}` to Hono's `/v1/models/:name`. */
export function honoPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ':$1');
}

function isRawBody(b: unknown): b is RawBody {
  return typeof b === 'object' && b !== null && 'raw' in b;
}

/** Register routes on a Hono app. */
export function registerRoutes(app: Hono, routes: readonly AnyRoute[], deps: RouteDeps): void {
  for (const spec of routes) {
    app.on(spec.method.toUpperCase(), honoPath(spec.path), async function handleRoute(c) {
      const authorization = c.req.header('authorization');
      const principal = await deps.authenticate(authorization);
      const audit: { target?: string; details?: Record<string, unknown> } = {};
      const record = async (
        outcome: AuditRecord['outcome'],
        status: number,
        extra?: Record<string, unknown>,
      ) => {
        if (!spec.audit) return;
        const details = { ...audit.details, ...extra };
        await deps.audit({
          actor:
            principal === undefined
              ? 'anonymous'
              : principal.kind === 'operator'
                ? `operator:${principal.name}`
                : `device:${principal.deviceId}`,
          action: spec.audit,
          target: audit.target ?? null,
          outcome,
          status,
          details: Object.keys(details).length ? details : null,
        });
      };
      try {
        if (authorization !== undefined && principal === undefined && spec.access !== 'public') {
          throw httpErrors.unauthorized('the credentials are unknown, revoked or expired');
        }
        authorize(spec.access, principal);
        const paramsSchema = spec.params as z.ZodObject | undefined;
        const querySchema = spec.query as z.ZodObject | undefined;
        const params: unknown = paramsSchema
          ? validate(paramsSchema, c.req.param(), 'path parameters')
          : {};
        const query: unknown = querySchema ? validate(querySchema, c.req.query(), 'query') : {};
        let body: unknown = undefined;
        if (spec.body !== undefined && !isRawBody(spec.body)) {
          let json: unknown;
          try {
            json = await c.req.json();
          } catch {
            throw httpErrors.badRequest(
              'the request body must be JSON (Content-Type: application/json)',
            );
          }
          body = validate<z.ZodType>(spec.body as z.ZodType, json, 'request body');
        }
        const handler = spec.handler as (
          input: object,
        ) => Promise<Response | object> | Response | object;
        const out = await handler({ params, query, body, principal, c, audit });
        const res = out instanceof Response ? out : c.json(out, (spec.status ?? 200) as 200);
        await record('success', res.status);
        return res;
      } catch (e) {
        const err =
          e instanceof EdgefleetError
            ? e
            : new EdgefleetError('EF_INTERNAL', 'internal error', { cause: e });
        const status = statusOf(err.code);
        await record(status === 401 || status === 403 ? 'denied' : 'failure', status, {
          code: err.code,
          message: err.message,
        });
        throw err;
      }
    });
  }
}
