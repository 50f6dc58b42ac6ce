import { describe, expect, it } from 'vitest';
import { documentedRoutes, openApiDocument, renderApiMarkdown } from './api-reference.js';

describe('the API reference (docs/reference/api.md)', () => {
  it('is built from the route table without a running server', () => {
    const doc = openApiDocument();
    const routes = documentedRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(30);
    for (const r of routes)
      expect(Object.keys(doc.paths[r.path] ?? {}), r.path).toContain(r.method);
  });

  it('documents every operation with its access and request fields', () => {
    const markdown = renderApiMarkdown(openApiDocument());
    for (const r of documentedRoutes()) {
      expect(markdown, r.path).toContain(`### \`${r.method.toUpperCase()} ${r.path}\``);
    }
    expect(markdown).toContain('| `waves[].gates.minSuccessRatio` | number |  | `0.95` |');
    expect(markdown).toContain('Access: public (no token).');
  });
});
