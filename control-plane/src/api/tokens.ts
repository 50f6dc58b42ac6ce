/** Operator tokens (`/v1/tokens`), who the caller is (`/v1/whoami`) and the audit log (`/v1/audit`). */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { newToken } from '../auth/authenticate.js';
import { listAudit } from '../db/audit.js';
import { OPERATOR_ROLES } from '../db/schema.js';
import {
  createOperatorToken,
  hashToken,
  listOperatorTokens,
  revokeOperatorToken,
} from '../db/tokens.js';
import { route, type AnyRoute } from '../http/route.js';
import { DurationSchema, IdParamSchema } from './schemas.js';
import type { Services } from './services.js';

const TokenView = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(OPERATOR_ROLES),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
});

function view(t: {
  id: string;
  name: string;
  role: (typeof OPERATOR_ROLES)[number];
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}): z.infer<typeof TokenView> {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
  };
}

export function tokenRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'post',
      path: '/v1/tokens',
      summary: 'Create an operator token (shown once)',
      tag: 'tokens',
      access: 'admin',
      audit: 'tokens.create',
      status: 201,
      body: z.strictObject({
        name: z.string().min(1).max(128),
        role: z.enum(OPERATOR_ROLES),
        /** Lifetime, e.g. `90d`; tokens without one never expire. */
        expiresIn: DurationSchema.optional(),
      }),
      response: TokenView.extend({ token: z.string() }),
      handler: async ({ body, audit }) => {
        const token = newToken('efo');
        const row = await createOperatorToken(s.db, {
          id: randomUUID(),
          tokenHash: hashToken(token),
          name: body.name,
          role: body.role,
          expiresAt:
            body.expiresIn === undefined ? null : new Date(s.now().getTime() + body.expiresIn),
        });
        audit.target = `tokens/${row.id}`;
        audit.details = { name: row.name, role: row.role };
        return { ...view(row), token };
      },
    }),
    route({
      method: 'get',
      path: '/v1/tokens',
      summary: 'List operator tokens (never their secrets)',
      tag: 'tokens',
      access: 'admin',
      response: z.object({ tokens: z.array(TokenView) }),
      handler: async () => ({ tokens: (await listOperatorTokens(s.db)).map(view) }),
    }),
    route({
      method: 'delete',
      path: '/v1/tokens/{id}',
      summary: 'Revoke an operator token',
      tag: 'tokens',
      access: 'admin',
      audit: 'tokens.revoke',
      params: IdParamSchema,
      response: TokenView,
      handler: async ({ params, audit }) => {
        audit.target = `tokens/${params.id}`;
        return view(await revokeOperatorToken(s.db, params.id, s.now()));
      },
    }),
    route({
      method: 'get',
      path: '/v1/whoami',
      summary: "The calling operator token's name and role (what the dashboard may offer)",
      tag: 'tokens',
      access: 'viewer',
      response: z.object({
        tokenId: z.string(),
        name: z.string(),
        role: z.enum(OPERATOR_ROLES),
        /** deployer or admin: rollout actions, models, releases. */
        canDeploy: z.boolean(),
        /** admin: tokens, webhooks, the audit log, keys. */
        canAdminister: z.boolean(),
      }),
      handler: ({ principal }) => {
        // `viewer` access already refused device tokens and anonymous callers.
        if (principal?.kind !== 'operator') throw new Error('unreachable: not an operator');
        return {
          tokenId: principal.tokenId,
          name: principal.name,
          role: principal.role,
          canDeploy: principal.role !== 'viewer',
          canAdminister: principal.role === 'admin',
        };
      },
    }),
    route({
      method: 'get',
      path: '/v1/audit',
      summary: 'The audit log, newest first (keyset paging with `before`)',
      tag: 'audit',
      access: 'admin',
      query: z.object({
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        before: z.coerce.number().int().min(1).optional(),
        actor: z.string().max(200).optional(),
        action: z.string().max(200).optional(),
        target: z.string().max(400).optional(),
      }),
      handler: async ({ query }) => {
        const page = await listAudit(s.db, query);
        return {
          entries: page.entries.map((e) => ({ ...e, at: e.at.toISOString() })),
          nextBefore: page.nextBefore,
        };
      },
    }),
  ];
}
