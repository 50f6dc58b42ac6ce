/**
 * Every route that takes a body refuses a bad one with 400 and the error shape, before doing anything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../api/services.test-support.js';
import type { AnyRoute } from '../http/route.js';
import { allRoutes } from './routes.js';

let api: TestApi;
let routes: AnyRoute[];
beforeAll(async () => {
  api = await createTestApi((s) => (routes = allRoutes(s)));
});
afterAll(async () => {
  await api.close();
});

function concretePath(path: string): string {
  return path.replace(/\{[^}]+\}/g, 'x1');
}

describe('every route with a body', () => {
  it('answers 400 EF_BAD_REQUEST (or EF_MALFORMED) to a wrong body', async () => {
    const withBody = routes.filter((r) => r.body !== undefined);
    expect(withBody.length).toBeGreaterThanOrEqual(8);
    for (const r of withBody) {
      for (const body of ['{"unexpected": true, "x": [1,2,3]}', 'not json at all', '[]']) {
        const res = await api.call(r.method.toUpperCase(), concretePath(r.path), {
          token: api.adminToken,
          body,
        });
        expect(res.status, `${r.method} ${r.path} with ${body}`).toBe(400);
        const json = (await res.json()) as { error: { code: string; message: string } };
        expect(['EF_BAD_REQUEST', 'EF_MALFORMED', 'EF_NOT_CANONICAL']).toContain(json.error.code);
        expect(json.error.message.length).toBeGreaterThan(5);
      }
    }
  });

  it('lists every route in the OpenAPI document', async () => {
    const doc = (await (await api.call('GET', '/v1/openapi.json')).json()) as {
      paths: Record<string, object>;
    };
    for (const r of routes)
      expect(Object.keys(doc.paths[r.path] ?? {}), r.path).toContain(r.method);
  });
});
