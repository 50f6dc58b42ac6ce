/**
 * The read endpoints the dashboard needs (`/v1/whoami`, `/v1/fleet/summary`), the static dashboard
 * (content types, CSP, fallback to index.html, no path escape), and the distribution plot maths.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FrequentItems,
  KllSketch,
  MetricsRegistry,
  NumericSummary,
  createRandom,
  type FeatureSketch,
} from '@edgefleet/protocol';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { distributionOf } from '../drift/distribution.js';
import { createApp } from '../http/app.js';
import { DASHBOARD_CSP } from '../http/dashboard.js';
import { deviceRoutes } from './devices.js';
import { createTestApi, type TestApi } from './services.test-support.js';
import { tokenRoutes } from './tokens.js';

let api: TestApi;

async function token(role: string): Promise<string> {
  const r = await api.call('POST', '/v1/tokens', {
    token: api.adminToken,
    body: { name: `${role}-1`, role },
  });
  return ((await r.json()) as { token: string }).token;
}

describe('read endpoints for the dashboard', () => {
  beforeEach(async () => {
    api = await createTestApi((s) => [...tokenRoutes(s), ...deviceRoutes(s)]);
  });
  afterEach(async () => {
    await api.close();
  });

  describe('GET /v1/whoami', () => {
    it("answers the token's name and role, and refuses anonymous callers and unknown tokens", async () => {
      const viewer = await token('viewer');
      const r = await api.call('GET', '/v1/whoami', { token: viewer });
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({
        name: 'viewer-1',
        role: 'viewer',
        canDeploy: false,
        canAdminister: false,
      });
      const a = await api.call('GET', '/v1/whoami', { token: api.adminToken });
      expect(await a.json()).toMatchObject({ role: 'admin', canDeploy: true, canAdminister: true });
      expect((await api.call('GET', '/v1/whoami')).status).toBe(401);
      expect((await api.call('GET', '/v1/whoami', { token: 'efo_nope' })).status).toBe(401);
    });
  });

  describe('GET /v1/fleet/summary', () => {
    it('counts devices by connection, release, hardware, label and deployment state, filtered by selector', async () => {
      const r = await api.call('POST', '/v1/enrollment-tokens', {
        token: api.adminToken,
        body: { maxUses: 10 },
      });
      const enroll = ((await r.json()) as { token: string }).token;
      const facts = { os: 'linux', arch: 'arm64', ortVersion: '1.30.0' };
      for (const [id, hw, site] of [
        ['d1', 'rpi5', 'berlin'],
        ['d2', 'rpi5', 'paris'],
        ['d3', 'jetson', 'berlin'],
      ] as const) {
        const e = await api.call('POST', '/v1/devices/enroll', {
          body: { token: enroll, deviceId: id, hardwareClass: hw, labels: { site }, ...facts },
        });
        expect(e.status).toBe(201);
      }
      const all = await api.call('GET', '/v1/fleet/summary', { token: await token('viewer') });
      expect(all.status).toBe(200);
      expect(await all.json()).toEqual({
        total: 3,
        online: 0,
        offline: 3,
        byRelease: { none: 3 },
        byHardwareClass: { rpi5: 2, jetson: 1 },
        byLabel: { site: { berlin: 2, paris: 1 } },
        byDeploymentState: { none: 3 },
      });
      const berlin = await api.call('GET', '/v1/fleet/summary?selector=site%3Dberlin', {
        token: api.adminToken,
      });
      expect(await berlin.json()).toMatchObject({
        total: 2,
        byHardwareClass: { rpi5: 1, jetson: 1 },
        byLabel: { site: { berlin: 2 } },
      });
      const bad = await api.call('GET', '/v1/fleet/summary?selector=site%20in', {
        token: api.adminToken,
      });
      expect(bad.status).toBe(400);
    });
  });
});

describe('the dashboard files', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ef-ui-'));
    await mkdir(join(root, 'dashboard', 'public'), { recursive: true });
    await mkdir(join(root, 'dist', 'dashboard'), { recursive: true });
    await writeFile(join(root, 'dashboard', 'public', 'index.html'), '<!doctype html><p>ui</p>');
    await writeFile(join(root, 'dashboard', 'public', 'app.css'), 'p{}');
    await writeFile(join(root, 'dist', 'dashboard', 'main.js'), 'export {};');
    await writeFile(join(root, 'dist', 'dashboard', 'main.d.ts'), 'export {};');
    await writeFile(join(root, 'secret.txt'), 'no');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const app = () =>
    createApp({
      routes: [],
      logger: pino({ level: 'silent' }),
      metrics: new MetricsRegistry(),
      version: 'test',
      authenticate: () => Promise.resolve(undefined),
      audit: () => Promise.resolve(),
      dashboard: { root },
    });

  it('serves the page, styles and modules with their types, a CSP and revalidation', async () => {
    const a = app();
    expect((await a.request('/')).headers.get('location')).toBe('/ui/');
    const page = await a.request('/ui/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const etag = page.headers.get('etag')!;
    expect((await a.request('/ui/', { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await a.request('/ui/app.css')).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    );
    const js = await a.request('/ui/js/main.js');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toBe('export {};');
  });

  it('answers index.html for client routes, 404 for missing assets, and never leaves its folders', async () => {
    const a = app();
    expect(await (await a.request('/ui/rollouts/abc')).text()).toContain('<p>ui</p>');
    expect((await a.request('/ui/js/missing.js')).status).toBe(404);
    expect((await a.request('/ui/js/main.d.ts')).status).toBe(404);
    for (const path of [
      '/ui/js/..%2f..%2fsecret.txt',
      '/ui/..%2fsecret.txt',
      '/ui/%2e%2e/secret.txt',
    ]) {
      const r = await a.request(path);
      expect(await r.text()).not.toBe('no');
    }
    // The API keeps its JSON 404s.
    expect((await a.request('/v1/nothing')).status).toBe(404);
  });
});

describe('distributionOf', () => {
  function numeric(values: number[]): FeatureSketch {
    const summary = new NumericSummary();
    const kll = new KllSketch({ random: createRandom(1) });
    for (const v of values) {
      summary.update(v);
      kll.update(v);
    }
    return { kind: 'numeric', summary, kll };
  }

  it('bins both numeric sketches on shared edges; masses and tails sum to one', () => {
    const ref = numeric(Array.from({ length: 1000 }, (_, i) => i / 100));
    const live = numeric(Array.from({ length: 1000 }, (_, i) => 5 + i / 100));
    const d = distributionOf(ref, live, { bins: 10, quantiles: 5 });
    if (d?.kind !== 'numeric') throw new Error('expected numeric');
    expect(d.edges).toHaveLength(11);
    expect(d.q).toEqual([0, 0.25, 0.5, 0.75, 1]);
    for (const side of [d.reference!, d.live!]) {
      const total = side.mass.reduce((a, b) => a + b, 0) + side.below + side.above;
      expect(total).toBeCloseTo(1, 5);
      expect(side.quantiles).toHaveLength(5);
    }
    // The live distribution sits to the right: its median is above the reference's.
    expect(d.live!.quantiles[2]!).toBeGreaterThan(d.reference!.quantiles[2]!);
    expect(d.reference!.mean).toBeCloseTo(4.995, 3);
  });

  it('gives category shares over the union of the frequent categories; absent sides are null', () => {
    const a = new FrequentItems();
    const b = new FrequentItems();
    a.update('cat', 3);
    a.update('dog', 1);
    b.update('dog', 2);
    b.update('eel', 2);
    const d = distributionOf({ kind: 'categorical', items: a }, { kind: 'categorical', items: b });
    if (d?.kind !== 'categorical') throw new Error('expected categorical');
    expect(d.categories).toEqual(['cat', 'dog', 'eel']);
    expect(d.reference!.fractions).toEqual([0.75, 0.25, 0]);
    expect(d.live!.fractions).toEqual([0, 0.5, 0.5]);
    expect(distributionOf(undefined, undefined)).toBeUndefined();
    const onlyRef = distributionOf(numeric([1, 2, 3]), undefined);
    expect(onlyRef?.kind === 'numeric' && onlyRef.live).toBeNull();
  });
});
