/** `edgefleet devices ...`, `tokens ...`, `enrollment-tokens ...`, `audit`, `login`. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CliError } from './api-client.js';
import { configPath, labels, list, positional, required, str, type CliContext } from './context.js';

export async function devicesCommand(ctx: CliContext, sub: string | undefined): Promise<void> {
  const api = ctx.api();
  switch (sub) {
    case 'list': {
      const q = new URLSearchParams();
      const selector = str(ctx.flags.selector);
      if (selector) q.set('selector', selector);
      const status = str(ctx.flags.status);
      if (status) q.set('status', status);
      const r = await api.request<{ devices: Record<string, unknown>[]; total: number }>(
        'GET',
        `/v1/devices?${q.toString()}`,
      );
      ctx.out.result(r, () => {
        ctx.out.table(
          r.devices.map((d) => ({
            ...d,
            labels: Object.entries(d.labels as Record<string, string>)
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
          })),
          ['id', 'hardwareClass', 'online', 'currentReleaseId', 'labels', 'lastSeenAt'],
        );
        ctx.out.line(`${r.devices.length} of ${r.total} devices`);
      });
      return;
    }
    case 'label': {
      const id = positional(ctx, 0, 'device id');
      const r = await api.request('PUT', `/v1/devices/${encodeURIComponent(id)}/labels`, {
        labels: labels(ctx.args.slice(1)),
      });
      ctx.out.result(r, () => {
        ctx.out.line(`relabelled ${id}`);
      });
      return;
    }
    case 'decommission': {
      const id = positional(ctx, 0, 'device id');
      const r = await api.request('POST', `/v1/devices/${encodeURIComponent(id)}/decommission`);
      ctx.out.result(r, () => {
        ctx.out.line(`decommissioned ${id}: its credentials are revoked`);
      });
      return;
    }
    default:
      throw new CliError(
        `unknown command: devices ${sub ?? ''}`.trim(),
        'EF_USAGE',
        'try: devices list | label | decommission',
      );
  }
}

export async function tokensCommand(ctx: CliContext, sub: string | undefined): Promise<void> {
  const api = ctx.api();
  switch (sub) {
    case 'create': {
      const body: Record<string, unknown> = {
        name: required(ctx, 'name'),
        role: required(ctx, 'role'),
      };
      const expires = str(ctx.flags.expires);
      if (expires) body.expiresIn = expires;
      const r = await api.request<{ id: string; token: string; role: string }>(
        'POST',
        '/v1/tokens',
        body,
      );
      ctx.out.result(r, () => {
        ctx.out.line(`created ${r.role} token ${r.id}; the token is shown once:`);
        ctx.out.line(r.token);
      });
      return;
    }
    case 'list': {
      const r = await api.request<{ tokens: Record<string, unknown>[] }>('GET', '/v1/tokens');
      ctx.out.result(r, () => {
        ctx.out.table(r.tokens, ['id', 'name', 'role', 'expiresAt', 'revokedAt', 'lastUsedAt']);
      });
      return;
    }
    case 'revoke': {
      const id = positional(ctx, 0, 'token id');
      const r = await api.request('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
      ctx.out.result(r, () => {
        ctx.out.line(`revoked ${id}`);
      });
      return;
    }
    default:
      throw new CliError(
        `unknown command: tokens ${sub ?? ''}`.trim(),
        'EF_USAGE',
        'try: tokens create | list | revoke',
      );
  }
}

export async function enrollmentTokensCommand(
  ctx: CliContext,
  sub: string | undefined,
): Promise<void> {
  const api = ctx.api();
  if (sub !== 'create' && sub !== 'list') {
    throw new CliError(
      `unknown command: enrollment-tokens ${sub ?? ''}`.trim(),
      'EF_USAGE',
      'try: enrollment-tokens create | list',
    );
  }
  if (sub === 'list') {
    const r = await api.request<{ tokens: Record<string, unknown>[] }>(
      'GET',
      '/v1/enrollment-tokens',
    );
    ctx.out.result(r, () => {
      ctx.out.table(r.tokens, ['id', 'labels', 'uses', 'maxUses', 'expiresAt', 'revokedAt']);
    });
    return;
  }
  const body: Record<string, unknown> = { labels: labels(list(ctx.flags.label)) };
  const maxUses = str(ctx.flags['max-uses']);
  if (maxUses) body.maxUses = Number(maxUses);
  const expires = str(ctx.flags.expires);
  if (expires) body.expiresIn = expires;
  const r = await api.request<{ id: string; token: string; maxUses: number; expiresAt: string }>(
    'POST',
    '/v1/enrollment-tokens',
    body,
  );
  ctx.out.result(r, () => {
    ctx.out.line(
      `enrollment token ${r.id} (max ${r.maxUses} uses, expires ${r.expiresAt}); shown once:`,
    );
    ctx.out.line(r.token);
  });
}

export async function auditCommand(ctx: CliContext): Promise<void> {
  const r = await ctx
    .api()
    .request<{ entries: Record<string, unknown>[] }>('GET', '/v1/audit?limit=50');
  ctx.out.result(r, () => {
    ctx.out.table(r.entries, ['at', 'actor', 'action', 'target', 'outcome']);
  });
}

export async function loginCommand(ctx: CliContext): Promise<void> {
  const server = required(ctx, 'server');
  const token = required(ctx, 'token');
  const path = configPath(ctx.env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, JSON.stringify({ server, token }, null, 2) + '\n', { mode: 0o600 });
  ctx.out.result({ config: path }, () => {
    ctx.out.line(`saved the server and token to ${path} (mode 0600)`);
  });
}
