/**
 * The operator dashboard's static files, served by the control plane under `/ui/` (`/` redirects
 * there). Two folders, both found relative to this module (never the working directory), so the
 * same code serves from the sources in tests and from `dist/` in the published package:
 *
 * - `<package>/dashboard/public/`: `index.html`, `app.css`, `favicon.svg` (hand-written);
 * - `<package>/dist/dashboard/`: the browser ES modules `tsc -b` compiles from `dashboard/src/`.
 *
 * Hash routing (`/ui/#/rollouts/...`), so every other path under `/ui/` answers `index.html`. Every
 * answer carries a strict Content-Security-Policy (scripts, styles and fetches from this origin
 * only, no inline script or style), `nosniff`, no framing and no referrer. Files are not
 * content-hashed, so they are revalidated on each load (`no-cache` + a strong ETag: a 304 costs one
 * round trip and no bytes).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Hono } from 'hono';

export const DASHBOARD_PREFIX = '/ui';

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export interface DashboardOptions {
  /** The package root holding `dashboard/public/` and `dist/dashboard/` (default: this package). */
  readonly root?: string;
}

/** The control-plane package root: two levels above this module, in `src/http/` or `dist/http/`. */
export function packageRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

interface Asset {
  readonly body: Uint8Array;
  readonly type: string;
  readonly etag: string;
}

/** Resolve `rel` inside `dir`, or undefined when it would leave it. */
function inside(dir: string, rel: string): string | undefined {
  const path = normalize(join(dir, rel));
  return path.startsWith(dir.endsWith(sep) ? dir : dir + sep) ? path : undefined;
}

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** Register the dashboard routes on an app. */
export function registerDashboard(app: Hono, options: DashboardOptions = {}): void {
  const root = options.root ?? packageRoot();
  const publicDir = join(root, 'dashboard', 'public');
  const scriptDir = join(root, 'dist', 'dashboard');
  const cache = new Map<string, Asset>();

  async function load(path: string): Promise<Asset | null> {
    const cached = cache.get(path);
    if (cached !== undefined) return cached;
    const type = CONTENT_TYPES[extname(path)];
    let asset: Asset | null = null;
    if (type !== undefined) {
      try {
        const body = await readFile(path);
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
        asset = { body, type, etag };
      } catch {
        asset = null;
      }
    }
    // Only hits are kept: a file missing now (a build in progress) may be there on the next request.
    if (asset !== null) cache.set(path, asset);
    return asset;
  }

  function send(c: Context, asset: Asset): Response {
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      'cache-control': 'no-cache',
      etag: asset.etag,
    };
    if (c.req.header('if-none-match') === asset.etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(c.req.method === 'HEAD' ? null : asset.body, { status: 200, headers });
  }

  async function index(c: Context): Promise<Response> {
    const asset = await load(join(publicDir, 'index.html'));
    if (asset === null) {
      return c.text(
        'The dashboard is not built: run `npm run build` (tsc -b) in the repository.',
        503,
        SECURITY_HEADERS,
      );
    }
    return send(c, asset);
  }

  app.get('/', (c) => c.redirect(`${DASHBOARD_PREFIX}/`, 302));
  app.get(DASHBOARD_PREFIX, (c) => c.redirect(`${DASHBOARD_PREFIX}/`, 301));
  app.get(`${DASHBOARD_PREFIX}/*`, async (c) => {
    let rel: string;
    try {
      rel = decodeURIComponent(c.req.path.slice(DASHBOARD_PREFIX.length + 1));
    } catch {
      return index(c);
    }
    if (rel.includes('\0')) return index(c);
    let path: string | undefined;
    if (rel.startsWith('js/')) {
      // Compiled modules only: not the declaration files tsc writes next to them.
      if (rel.endsWith('.js')) path = inside(scriptDir, rel.slice(3));
    } else if (rel !== '' && !rel.includes('/')) {
      path = inside(publicDir, rel);
    }
    const asset = path === undefined ? null : await load(path);
    if (asset !== null) return send(c, asset);
    // An asset that should exist but does not: a real 404 (a fallback page would hide the fault).
    if (/\.(?:js|css|svg|png|ico|map|ts)$/.test(rel)) {
      return c.text('not found', 404, SECURITY_HEADERS);
    }
    return index(c);
  });
}
