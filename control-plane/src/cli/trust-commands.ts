/**
 * Offline key ceremonies and the trust root:
 *   edgefleet keys init --threshold 2 --keys 3 --out DIR        n root keys (0600) + their public keys
 *   edgefleet keys sign-root --current root.json --root-keys DIR/root-keys.pub.json --threshold 2 \
 *        --key old-root.json --key DIR/root-key-1.json --key DIR/root-key-2.json --out root-2.json
 *   edgefleet keys sign-root --draft root-2.json --key ... --out root-2.json   (add signatures)
 *   edgefleet trust root | push FILE | rotate --role deploy
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  addSignature,
  canonicalize,
  createRoot,
  decodeSigningKeyFile,
  encodeSigningKeyFile,
  generateSigningKey,
  PublicKeyObjectSchema,
  RootSchema,
  type Envelope,
  type Root,
  type SigningKey,
} from '@edgefleet/protocol';
import { z } from 'zod';
import { ROOT_LIFETIME_MS } from '../keys/keyring.js';
import { parseDuration } from '../api/schemas.js';
import { CliError } from './api-client.js';
import { list, positional, required, str, type CliContext } from './context.js';

async function readKey(path: string): Promise<SigningKey> {
  const k = decodeSigningKeyFile(await readFile(path, 'utf8'));
  if (!k.ok) throw new CliError(`${path} is not a signing key file: ${k.message}`, k.code);
  return k.value;
}

async function readEnvelope(path: string): Promise<Envelope<Root>> {
  const parsed = z
    .object({
      signed: RootSchema,
      signatures: z.array(z.object({ keyid: z.string(), sig: z.string() })),
    })
    .safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!parsed.success)
    throw new CliError(
      `${path} is not a root envelope: ${parsed.error.issues[0]?.message}`,
      'EF_MALFORMED',
    );
  return parsed.data;
}

export async function keysCommand(ctx: CliContext, sub: string | undefined): Promise<void> {
  switch (sub) {
    case 'init': {
      const n = Number(required(ctx, 'keys'));
      const m = Number(required(ctx, 'threshold'));
      if (!Number.isInteger(n) || !Number.isInteger(m) || m < 1 || m > n || n > 32) {
        throw new CliError('need 1 <= --threshold <= --keys <= 32', 'EF_USAGE');
      }
      const out = resolve(required(ctx, 'out'));
      await mkdir(out, { recursive: true, mode: 0o700 });
      const pubs = [];
      for (let i = 1; i <= n; i++) {
        const key = generateSigningKey();
        await writeFile(join(out, `root-key-${i}.json`), encodeSigningKeyFile(key) + '\n', {
          mode: 0o600,
          flag: 'wx',
        });
        pubs.push(key.publicKey);
      }
      await writeFile(
        join(out, 'root-keys.pub.json'),
        JSON.stringify({ threshold: m, keys: pubs }, null, 2) + '\n',
      );
      ctx.out.result({ dir: out, threshold: m, keys: n }, () => {
        ctx.out.line(`wrote ${n} root keys (threshold ${m}) to ${out}`);
        ctx.out.line(
          'keep each root-key-N.json on its own offline medium; share only root-keys.pub.json',
        );
        ctx.out.line(
          `next: edgefleet keys sign-root --current <root.json from GET /v1/trust/root> --root-keys ${join(out, 'root-keys.pub.json')} --threshold ${m} --key <current root key> --key ${join(out, 'root-key-1.json')} ...`,
        );
      });
      return;
    }
    case 'sign-root': {
      const keys = await Promise.all(list(ctx.flags.key).map(readKey));
      let envelope: Envelope<Root>;
      // `--draft` is also a boolean flag (rollouts create --draft): then the file is the next argument.
      const draft = str(ctx.flags.draft) ?? (ctx.flags.draft === true ? ctx.args[0] : undefined);
      if (draft) {
        envelope = await readEnvelope(draft);
      } else {
        const current = (await readEnvelope(required(ctx, 'current'))).signed;
        const pubFile = z
          .object({ keys: z.array(PublicKeyObjectSchema), threshold: z.number().int().optional() })
          .parse(JSON.parse(await readFile(required(ctx, 'root-keys'), 'utf8')));
        const threshold = Number(str(ctx.flags.threshold) ?? pubFile.threshold ?? 1);
        const keep = (r: 'release' | 'deploy') => ({
          keys: current.roles[r].keyids.map((id) => current.keys[id]!),
          threshold: current.roles[r].threshold,
        });
        const lifetime = str(ctx.flags.expires);
        const root = createRoot({
          version: current.version + 1,
          expires: new Date(Date.now() + (lifetime ? parseDuration(lifetime) : ROOT_LIFETIME_MS))
            .toISOString()
            .replace(/\.\d{3}Z$/, 'Z'),
          roles: {
            root: { keys: pubFile.keys, threshold },
            release: keep('release'),
            deploy: keep('deploy'),
          },
        });
        envelope = { signed: root, signatures: [] };
      }
      for (const k of keys) envelope = addSignature(envelope, k);
      const text = canonicalize(envelope);
      const out = str(ctx.flags.out);
      if (out) await writeFile(out, text + '\n');
      else ctx.out.line(text);
      const r = envelope.signed.roles.root;
      ctx.out.result(
        { version: envelope.signed.version, signatures: envelope.signatures.length, out },
        () => {
          if (out) {
            ctx.out.line(
              `root version ${envelope.signed.version}: ${envelope.signatures.length} signature(s); it needs ${r.threshold} of its own root keys and a threshold of the previous root's. Upload with: edgefleet trust push ${out}`,
            );
          }
        },
      );
      return;
    }
    default:
      throw new CliError(
        `unknown command: keys ${sub ?? ''}`.trim(),
        'EF_USAGE',
        'try: keys init | sign-root',
      );
  }
}

export async function trustCommand(ctx: CliContext, sub: string | undefined): Promise<void> {
  const api = ctx.api();
  switch (sub) {
    case 'root': {
      const r = await api.request<{ signed: Root }>('GET', '/v1/trust/root');
      if (ctx.flags.sha256 === true) {
        // What devices pin at enrollment (`edgefleet-agent enroll --root-sha256`): the canonical bytes.
        const sha256 = createHash('sha256').update(canonicalize(r)).digest('hex');
        ctx.out.result({ version: r.signed.version, sha256 }, () => {
          ctx.out.line(sha256);
        });
        return;
      }
      ctx.out.result(r, () => {
        ctx.out.line(JSON.stringify(r));
      });
      return;
    }
    case 'push': {
      const file = positional(ctx, 0, 'root file');
      const text = (await readFile(file, 'utf8')).trim();
      const r = await api.request<{ version: number }>(
        'POST',
        '/v1/trust/root',
        JSON.parse(text) as unknown,
      );
      ctx.out.result(r, () => {
        ctx.out.line(`trust root version ${r.version} accepted and published to the fleet`);
      });
      return;
    }
    case 'rotate': {
      const role = required(ctx, 'role');
      const r = await api.request<{
        version: number;
        keyid: string;
        published: boolean;
        draft?: Envelope<Root>;
      }>('POST', '/v1/trust/rotate', { role });
      if (r.published || r.draft === undefined) {
        ctx.out.result(r, () => {
          ctx.out.line(`rotated the ${role} key: trust root version ${r.version} published`);
        });
        return;
      }
      // The root is offline: write the draft for the key ceremony.
      const out = resolve(str(ctx.flags.out) ?? `root-${r.version}.draft.json`);
      await writeFile(out, canonicalize(r.draft) + '\n');
      ctx.out.result({ ...r, draft: out }, () => {
        ctx.out.line(
          `created a new ${role} key (${r.keyid}); the root keys are offline, so root version ${r.version} ` +
            `that lists it was written unsigned to ${out}`,
        );
        ctx.out.line(
          `next: edgefleet keys sign-root --draft ${out} --key <root key file> ... --out root-${r.version}.json ` +
            `(a threshold of the current root keys), then: edgefleet trust push root-${r.version}.json`,
        );
      });
      return;
    }
    default:
      throw new CliError(
        `unknown command: trust ${sub ?? ''}`.trim(),
        'EF_USAGE',
        'try: trust root | push | rotate',
      );
  }
}
