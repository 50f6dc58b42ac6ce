import { MetricsRegistry } from '@edgefleet/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from './app.js';
import { route, type AuditRecord, type Principal } from './route.js';

function setup() {
  const audits: AuditRecord[] = [];
  const tokens: Record<string, Principal> = {
    viewer: { kind: 'operator', tokenId: 't1', name: 'vera', role: 'viewer' },
    deployer: { kind: 'operator', tokenId: 't2', name: 'dana', role: 'deployer' },
    device: { kind: 'device', deviceId: 'dev-1' },
  };
  const routes = [
    route({
      method: 'post',
      path: '/v1/things/{name}',
      summary: 'Create a thing',
      tag: 'things',
      access: 'deployer',
      audit: 'things.create',
      params: z.object({ name: z.string().regex(/^[a-z]+$/) }),
      body: z.strictObject({ size: z.int().min(1) }),
      status: 201,
      handler: ({ params, body, audit }) => {
        audit.target = `things/${params.name}`;
        return { name: params.name, size: body.size };
      },
    }),
    route({
      method: 'get',
      path: '/v1/things',
      summary: 'List things',
      tag: 'things',
      access: 'viewer',
      query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(10) }),
      handler: ({ query }) => ({ limit: query.limit }),
    }),
    route({
      method: 'get',
      path: '/v1/boom',
      summary: 'Fails',
      tag: 'things',
      access: 'public',
      handler: () => {
        throw new Error('secret detail');
      },
    }),
  ];
  const app = createApp({
    routes,
    logger: pino({ level: 'silent' }),
    metrics: new MetricsRegistry(),
    version: 'test',
    authenticate: (h) => Promise.resolve(h ? tokens[h.replace(/^Bearer /, '')] : undefined),
    audit: (r) => {
      audits.push(r);
      return Promise.resolve();
    },
  });
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    app.request(path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined
        ? { body: typeof body === 'string' ? body : JSON.stringify(body) }
        : {}),
    });
  return { app, audits, call };
}

describe('HTTP route framework', () => {
  it('answers 401 without a token and with an unknown token', async () => {
    const { call } = setup();
    const r1 = await call('GET', '/v1/things');
    expect(r1.status).toBe(401);
    expect(await r1.json()).toMatchObject({ error: { code: 'EF_UNAUTHORIZED' } });
    expect((await call('GET', '/v1/things', 'nope')).status).toBe(401);
  });

  it('answers 403 for a role too low and for a device token on an operator route', async () => {
    const { call } = setup();
    const r = await call('POST', '/v1/things/abc', 'viewer', { size: 1 });
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: { code: 'EF_FORBIDDEN' } });
    expect((await call('GET', '/v1/things', 'device')).status).toBe(403);
  });

  it('rejects bad bodies, params and queries with 400 and the failing field', async () => {
    const { call } = setup();
    const bad = await call('POST', '/v1/things/abc', 'deployer', { size: 0 });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as {
      error: { code: string; details: { issues: { path: string }[] } };
    };
    expect(body.error.code).toBe('EF_BAD_REQUEST');
    expect(body.error.details.issues[0]!.path).toBe('size');
    expect((await call('POST', '/v1/things/abc', 'deployer', '{not json')).status).toBe(400);
    expect(
      (await call('POST', '/v1/things/abc', 'deployer', { size: 1, extra: true })).status,
    ).toBe(400);
    expect((await call('POST', '/v1/things/ABC', 'deployer', { size: 1 })).status).toBe(400);
    expect((await call('GET', '/v1/things?limit=1000', 'viewer')).status).toBe(400);
  });

  it('audits every mutating call with actor, target and outcome', async () => {
    const { call, audits } = setup();
    expect((await call('POST', '/v1/things/abc', 'deployer', { size: 2 })).status).toBe(201);
    await call('POST', '/v1/things/abc', 'deployer', { size: -1 });
    await call('POST', '/v1/things/abc', 'viewer', { size: 1 });
    expect(audits).toHaveLength(3);
    expect(audits[0]).toMatchObject({
      actor: 'operator:dana',
      action: 'things.create',
      target: 'things/abc',
      outcome: 'success',
      status: 201,
    });
    expect(audits[1]).toMatchObject({ outcome: 'failure', status: 400 });
    expect(audits[2]).toMatchObject({ actor: 'operator:vera', outcome: 'denied', status: 403 });
  });

  it('hides internal error details from the caller', async () => {
    const { call } = setup();
    const r = await call('GET', '/v1/boom');
    expect(r.status).toBe(500);
    const text = await r.text();
    expect(text).toContain('EF_INTERNAL');
    expect(text).not.toContain('secret detail');
  });

  it('answers unknown routes with the error shape', async () => {
    const { call } = setup();
    const r = await call('GET', '/v1/nothing');
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ error: { code: 'EF_NOT_FOUND' } });
  });

  it('serves an OpenAPI document generated from the route schemas', async () => {
    const { call } = setup();
    const doc = (await (await call('GET', '/v1/openapi.json')).json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          { requestBody?: { content: Record<string, { schema: { required?: string[] } }> } }
        >
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    const post = doc.paths['/v1/things/{name}']!.post!;
    expect(post.requestBody!.content['application/json']!.schema.required).toEqual(['size']);
  });

  it('exposes Prometheus metrics counting requests', async () => {
    const { call } = setup();
    await call('GET', '/v1/things', 'viewer');
    const text = await (await call('GET', '/metrics')).text();
    expect(text).toMatch(
      /ef_http_requests_total\{method="GET",route="\/v1\/things",status="200"\} 1/,
    );
  });
});
