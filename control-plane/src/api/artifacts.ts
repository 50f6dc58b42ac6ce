/**
 * `GET`/`HEAD /v1/artifacts/{sha256}`: content-addressed downloads for devices (Basic device
 * credentials) and operators. Streamed, with `ETag` = sha256, `Range` for resuming, immutable caching.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import { parseRange } from '../registry/artifact-store.js';
import { httpErrors } from '../http/errors.js';
import { route, type AnyRoute } from '../http/route.js';
import type { Services } from './services.js';

export function artifactRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/v1/artifacts/{sha256}',
      summary: 'Download an artifact by sha256 (Range supported; HEAD for its length)',
      tag: 'artifacts',
      access: 'device_or_viewer',
      params: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/, 'lowercase hex sha256') }),
      handler: async ({ params, c }) => {
        const stat = await s.artifacts.stat(params.sha256);
        if (!stat) throw httpErrors.notFound(`artifact ${params.sha256}`);
        const etag = `"${params.sha256}"`;
        const headers: Record<string, string> = {
          etag,
          'accept-ranges': 'bytes',
          'cache-control': 'public, max-age=31536000, immutable',
          'content-type': 'application/octet-stream',
        };
        if (c.req.header('if-none-match') === etag)
          return new Response(null, { status: 304, headers });
        const ifRange = c.req.header('if-range');
        const range =
          ifRange === undefined || ifRange === etag
            ? parseRange(c.req.header('range'), stat.length)
            : undefined;
        if (range === 'unsatisfiable') {
          return new Response(null, {
            status: 416,
            headers: { ...headers, 'content-range': `bytes */${stat.length}` },
          });
        }
        const head = c.req.method === 'HEAD';
        if (range) {
          const length = range.end - range.start + 1;
          return new Response(
            head
              ? null
              : (Readable.toWeb(s.artifacts.read(params.sha256, range)) as ReadableStream),
            {
              status: 206,
              headers: {
                ...headers,
                'content-length': String(length),
                'content-range': `bytes ${range.start}-${range.end}/${stat.length}`,
              },
            },
          );
        }
        return new Response(
          head ? null : (Readable.toWeb(s.artifacts.read(params.sha256)) as ReadableStream),
          { status: 200, headers: { ...headers, 'content-length': String(stat.length) } },
        );
      },
    }),
  ];
}
