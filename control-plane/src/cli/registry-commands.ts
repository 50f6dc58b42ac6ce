/** `edgefleet models ...` and `edgefleet releases ...`. */
import { readFile } from 'node:fs/promises';
import { CliError } from './api-client.js';
import { list, positional, required, str, type CliContext } from './context.js';

interface Value {
  name: string;
  type: string;
  shape: (number | string | null)[] | null;
  supported: boolean;
}
interface VersionView {
  model: string;
  version: string;
  artifact: string;
  inspection: { opset: number | null; irVersion: number; inputs: Value[]; outputs: Value[] };
  featureSpec: unknown;
  referenceRows?: number;
  createdAt: string;
}

const shape = (s: Value['shape']) =>
  s === null ? '?' : `[${s.map((d) => (d === null ? '?' : d)).join(', ')}]`;

export async function modelsCommand(ctx: CliContext, sub: string | undefined): Promise<void> {
  const api = ctx.api();
  switch (sub) {
    case 'push': {
      const name = positional(ctx, 0, 'model name (edgefleet models push NAME FILE)');
      const file = positional(ctx, 1, 'model file (edgefleet models push NAME FILE)');
      const fields: Record<string, string> = {};
      const version = str(ctx.flags.version);
      if (version) fields.version = version;
      const metadata = str(ctx.flags.metadata);
      if (metadata) fields.metadata = metadata;
      const specFile = str(ctx.flags['feature-spec']);
      if (specFile) fields.featureSpec = await readFile(specFile, 'utf8');
      const reference = str(ctx.flags.reference);
      const files = [
        { field: 'model', path: file },
        ...(reference ? [{ field: 'reference', path: reference }] : []),
      ];
      const v = await api.upload<VersionView>(
        `/v1/models/${encodeURIComponent(name)}/versions`,
        fields,
        files,
        ctx.out.progress(`uploading ${file}`),
      );
      ctx.out.result(v, () => {
        ctx.out.line(
          `pushed ${v.model} version ${v.version} (sha256 ${v.artifact.slice(0, 12)}…, IR ${v.inspection.irVersion}, opset ${v.inspection.opset ?? '-'})`,
        );
        ctx.out.line('inputs:');
        ctx.out.table(
          v.inspection.inputs.map((i) => ({ ...i, shape: shape(i.shape) })),
          ['name', 'type', 'shape'],
        );
        ctx.out.line('outputs:');
        ctx.out.table(
          v.inspection.outputs.map((i) => ({ ...i, shape: shape(i.shape) })),
          ['name', 'type', 'shape', 'supported'],
        );
        if (v.referenceRows) ctx.out.line(`reference profile built from ${v.referenceRows} rows`);
      });
      return;
    }
    case 'list': {
      const r = await api.request<{ models: Record<string, unknown>[] }>('GET', '/v1/models');
      ctx.out.result(r, () => {
        ctx.out.table(r.models, ['name', 'lastReleaseCounter', 'createdAt']);
      });
      return;
    }
    case 'versions': {
      const name = positional(ctx, 0, 'model name');
      const r = await api.request<{ versions: VersionView[] }>(
        'GET',
        `/v1/models/${encodeURIComponent(name)}/versions`,
      );
      ctx.out.result(r, () => {
        ctx.out.table(
          r.versions.map((v) => ({
            ...v,
            inputs: v.inspection.inputs.map((i) => `${i.name}${shape(i.shape)}`).join(' '),
          })),
          ['version', 'artifact', 'inputs', 'createdAt'],
        );
      });
      return;
    }
    default:
      throw new CliError(
        `unknown command: models ${sub ?? ''}`.trim(),
        'EF_USAGE',
        'try: models push | list | versions',
      );
  }
}

export async function releasesCommand(ctx: CliContext, sub: string | undefined): Promise<void> {
  const api = ctx.api();
  switch (sub) {
    case 'create': {
      const body: Record<string, unknown> = {
        model: required(ctx, 'model'),
        version: required(ctx, 'version'),
        hardwareClasses: list(ctx.flags.hw),
        requiredEps: list(ctx.flags.eps),
      };
      const expires = str(ctx.flags.expires);
      if (expires) body.expiresIn = expires;
      if (ctx.flags['no-health-check'] === true) body.healthCheck = null;
      const r = await api.request<{
        releaseId: string;
        releaseCounter: number;
        sha256: string;
        expiresAt: string;
      }>('POST', '/v1/releases', body);
      ctx.out.result(r, () => {
        ctx.out.line(
          `signed release ${r.releaseId} (counter ${r.releaseCounter}, sha256 ${r.sha256.slice(0, 12)}…, expires ${r.expiresAt})`,
        );
      });
      return;
    }
    case 'list': {
      const model = str(ctx.flags.model);
      const r = await api.request<{ releases: Record<string, unknown>[] }>(
        'GET',
        `/v1/releases${model ? `?model=${encodeURIComponent(model)}` : ''}`,
      );
      ctx.out.result(r, () => {
        ctx.out.table(r.releases, [
          'releaseId',
          'model',
          'version',
          'releaseCounter',
          'createdAt',
          'expiresAt',
        ]);
      });
      return;
    }
    default:
      throw new CliError(
        `unknown command: releases ${sub ?? ''}`.trim(),
        'EF_USAGE',
        'try: releases create | list',
      );
  }
}
