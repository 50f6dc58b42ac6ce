/**
 * The trust root: read it, upload root N+1 signed offline, rotate an online role. Every accepted root is
 * published retained on `edgefleet/v1/trust/root` with the chain a device walks (ARCHITECTURE §3).
 */
import { encodeMessage, TRUST_ROOT_TOPIC } from '@edgefleet/protocol';
import { z } from 'zod';
import { listTrustRoots } from '../db/trust.js';
import { httpErrors } from '../http/errors.js';
import { route, type AnyRoute } from '../http/route.js';
import type { Services } from './services.js';

/** How many roots the retained message carries (devices walk at most 32 per update). */
const CHAIN_IN_MESSAGE = 32;

/** Publish the newest root chain, retained, so devices that connect later still get it. */
export async function publishTrustRoot(s: Services): Promise<void> {
  const roots = await listTrustRoots(s.db, 1);
  if (roots.length === 0) return;
  const message = encodeMessage('trust_root', {
    v: 1,
    type: 'trust_root',
    roots: roots.slice(-CHAIN_IN_MESSAGE).map((r) => r.envelope),
  });
  await s.broker.publish(TRUST_ROOT_TOPIC, message, { retain: true });
}

export function trustRoutes(s: Services): AnyRoute[] {
  const keyring = s.keyring;
  return [
    route({
      method: 'get',
      path: '/v1/trust/root',
      summary: 'The current root metadata (signed envelope)',
      tag: 'trust',
      access: 'public',
      handler: ({ c }) =>
        c.body(keyring.currentRoot().text, 200, { 'content-type': 'application/json' }),
    }),
    route({
      method: 'get',
      path: '/v1/trust/roots',
      summary: 'Roots newer than `after`, oldest first: the chain a device walks',
      tag: 'trust',
      access: 'public',
      query: z.object({ after: z.coerce.number().int().min(0).default(0) }),
      handler: async ({ query }) => ({
        roots: (await listTrustRoots(s.db, query.after)).map((r) => ({
          version: r.version,
          envelope: r.envelope,
        })),
      }),
    }),
    route({
      method: 'post',
      path: '/v1/trust/root',
      summary:
        'Upload root N+1 (canonical JSON, signed by a threshold of the old and the new root keys)',
      tag: 'trust',
      access: 'admin',
      audit: 'trust.root.upload',
      body: { raw: 'json-any', description: 'The signed root envelope as canonical JSON bytes' },
      handler: async ({ c, audit }) => {
        const bytes = new Uint8Array(await c.req.arrayBuffer());
        if (bytes.length === 0)
          throw httpErrors.badRequest('the body must be the signed root envelope');
        const accepted = await keyring.acceptRoot(bytes);
        audit.target = `trust/root/${accepted.version}`;
        await publishTrustRoot(s);
        return { version: accepted.version };
      },
    }),
    route({
      method: 'post',
      path: '/v1/trust/rotate',
      summary:
        'Rotate the online release or deploy key: a new key and root N+1 listing it, published at once ' +
        'when this control plane holds the root keys, else returned unsigned (published: false, ' +
        'draft) for the offline root key holders to sign and push with POST /v1/trust/root',
      tag: 'trust',
      access: 'admin',
      audit: 'trust.rotate',
      body: z.strictObject({ role: z.enum(['release', 'deploy']) }),
      handler: async ({ body, audit }) => {
        const rotated = await keyring.rotate(body.role);
        audit.target = `trust/root/${rotated.version}`;
        audit.details = { role: body.role, keyid: rotated.keyid, published: rotated.published };
        if (!rotated.published) {
          return {
            version: rotated.version,
            keyid: rotated.keyid,
            published: false,
            draft: { signed: rotated.draft, signatures: [] },
          };
        }
        await publishTrustRoot(s);
        return { version: rotated.version, keyid: rotated.keyid, published: true };
      },
    }),
  ];
}
