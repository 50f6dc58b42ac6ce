/** The model registry (`/v1/models`) and releases (`/v1/releases`). */
import { EdgefleetError, FeatureSpecSchema } from '@edgefleet/protocol';
import { z } from 'zod';
import { getModel, getModelVersion, listModels, listModelVersions } from '../db/models.js';
import { getRelease, listReleases } from '../db/releases.js';
import type { ModelVersion, Release } from '../db/schema.js';
import { httpErrors } from '../http/errors.js';
import { receiveMultipart } from '../http/multipart.js';
import { route, type AnyRoute } from '../http/route.js';
import { pushModelVersion } from '../registry/push-model.js';
import { buildRelease } from '../releases/build-release.js';
import { DurationSchema } from './schemas.js';
import type { Services } from './services.js';

const NAME = z
  .string()
  .min(1)
  .max(63)
  .regex(
    /^[a-z0-9][a-z0-9._-]*$/,
    'lowercase letters, digits, ".", "_" and "-", starting with a letter or digit',
  );
const VERSION = z
  .string()
  .min(1)
  .max(63)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._+-]*$/,
    'letters, digits, ".", "_", "+" and "-", starting with a letter or digit',
  );

const MetadataSchema = z.strictObject({
  framework: z.string().max(128).optional(),
  metrics: z.record(z.string().max(64), z.number()).optional(),
  trainingDataSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  sourceCommit: z.string().max(128).optional(),
  notes: z.string().max(4096).optional(),
});

export function versionView(v: ModelVersion) {
  return {
    model: v.modelName,
    version: v.version,
    artifact: v.artifactSha256,
    referenceProfile: v.referenceProfileSha256,
    inspection: v.inspection,
    featureSpec: v.featureSpec,
    metadata: v.metadata,
    createdBy: v.createdBy,
    createdAt: v.createdAt.toISOString(),
  };
}

export function releaseView(r: Release) {
  return {
    releaseId: r.releaseId,
    model: r.modelName,
    version: r.modelVersion,
    releaseCounter: r.releaseCounter,
    sha256: r.sha256,
    createdBy: r.createdBy,
    createdAt: r.createdAt.toISOString(),
    expiresAt: r.expiresAt.toISOString(),
    document: JSON.parse(r.envelope) as unknown,
  };
}

function parseJsonField<T extends z.ZodType>(
  schema: T,
  raw: string | undefined,
  field: string,
): z.infer<T> | undefined {
  if (raw === undefined || raw === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw httpErrors.badRequest(`form field ${field} must be JSON`, { field });
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw httpErrors.badRequest(
      `form field ${field}: ${i.path.map(String).join('.') || '(root)'}: ${i.message}`,
      {
        field,
      },
    );
  }
  return r.data;
}

export function modelRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'post',
      path: '/v1/models/{name}/versions',
      summary:
        'Push a model version (multipart: file `model`, optional file `reference` (CSV or JSON rows), fields `version`, `metadata`, `featureSpec`)',
      tag: 'models',
      access: 'deployer',
      audit: 'models.push',
      status: 201,
      params: z.object({ name: NAME }),
      body: {
        raw: 'multipart',
        description: 'model (file), reference (file), version, metadata (JSON), featureSpec (JSON)',
      },
      handler: async ({ params, c, principal, audit }) => {
        const form = await receiveMultipart(c.req.raw, s.artifacts, {
          maxFileBytes: s.settings.maxUploadBytes,
          fileFields: ['model', 'reference'],
        });
        const model = form.files.model;
        if (!model)
          throw httpErrors.badRequest('the form needs a file field named "model" (the ONNX file)');
        const existing = (await getModel(s.db, params.name))
          ? await listModelVersions(s.db, params.name)
          : [];
        const version = form.fields.version ?? String(existing.length + 1);
        const v = VERSION.safeParse(version);
        if (!v.success)
          throw httpErrors.badRequest(`version: ${v.error.issues[0]!.message}`, {
            field: 'version',
          });
        audit.target = `models/${params.name}/versions/${version}`;
        const metadata = parseJsonField(MetadataSchema, form.fields.metadata, 'metadata') ?? {};
        const featureSpec = parseJsonField(
          FeatureSpecSchema,
          form.fields.featureSpec,
          'featureSpec',
        );
        const pushed = await pushModelVersion(s.db, s.artifacts, {
          name: params.name,
          version,
          model,
          ...(form.files.reference ? { reference: form.files.reference } : {}),
          ...(featureSpec ? { featureSpec } : {}),
          metadata,
          createdBy: principal?.kind === 'operator' ? principal.name : null,
        });
        s.logger.info(
          {
            model: params.name,
            version,
            sha256: model.sha256,
            bytes: model.length,
            referenceRows: pushed.referenceRows,
          },
          'model version pushed',
        );
        return { ...versionView(pushed.version), referenceRows: pushed.referenceRows };
      },
    }),
    route({
      method: 'get',
      path: '/v1/models',
      summary: 'List models',
      tag: 'models',
      access: 'viewer',
      handler: async () => ({
        models: (await listModels(s.db)).map((m) => ({
          name: m.name,
          description: m.description,
          lastReleaseCounter: m.lastReleaseCounter,
          createdAt: m.createdAt.toISOString(),
        })),
      }),
    }),
    route({
      method: 'get',
      path: '/v1/models/{name}/versions',
      summary: "List a model's versions",
      tag: 'models',
      access: 'viewer',
      params: z.object({ name: NAME }),
      handler: async ({ params }) => ({
        versions: (await listModelVersions(s.db, params.name)).map(versionView),
      }),
    }),
    route({
      method: 'get',
      path: '/v1/models/{name}/versions/{version}',
      summary: 'One model version with its inspection and feature spec',
      tag: 'models',
      access: 'viewer',
      params: z.object({ name: NAME, version: VERSION }),
      handler: async ({ params }) => {
        const v = await getModelVersion(s.db, params.name, params.version);
        if (!v) throw httpErrors.notFound(`model ${params.name} version ${params.version}`);
        return versionView(v);
      },
    }),
    route({
      method: 'post',
      path: '/v1/releases',
      summary: 'Build and sign a release of a model version',
      tag: 'releases',
      access: 'deployer',
      audit: 'releases.create',
      status: 201,
      body: z.strictObject({
        model: NAME,
        version: VERSION,
        hardwareClasses: z.array(z.string().min(1).max(63)).max(256).default([]),
        requiredEps: z.array(z.string().min(1).max(63)).max(32).default([]),
        ort: z
          .strictObject({
            min: z
              .string()
              .regex(/^\d+\.\d+\.\d+$/)
              .optional(),
            maxExclusive: z
              .string()
              .regex(/^\d+\.\d+\.\d+$/)
              .optional(),
          })
          .optional(),
        expiresIn: DurationSchema.optional(),
        healthCheck: z
          .strictObject({ atol: z.number().min(0).max(1e6), rtol: z.number().min(0).max(1e6) })
          .nullable()
          .optional(),
      }),
      handler: async ({ body, principal, audit }) => {
        audit.target = `models/${body.model}/versions/${body.version}`;
        const release = await buildRelease(s, {
          model: body.model,
          version: body.version,
          hardwareClasses: body.hardwareClasses,
          requiredEps: body.requiredEps,
          ...(body.ort ? { ort: body.ort } : {}),
          ...(body.expiresIn !== undefined ? { lifetimeMs: body.expiresIn } : {}),
          ...(body.healthCheck !== undefined ? { healthCheck: body.healthCheck } : {}),
          createdBy: principal?.kind === 'operator' ? principal.name : null,
        });
        audit.target = `releases/${release.releaseId}`;
        s.logger.info(
          { releaseId: release.releaseId, counter: release.releaseCounter },
          'release signed',
        );
        return releaseView(release);
      },
    }),
    route({
      method: 'get',
      path: '/v1/releases',
      summary: 'List releases, newest first',
      tag: 'releases',
      access: 'viewer',
      query: z.object({
        model: NAME.optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      handler: async ({ query }) => ({
        releases: (
          await listReleases(s.db, {
            ...(query.model ? { modelName: query.model } : {}),
            limit: query.limit,
          })
        ).map(releaseView),
      }),
    }),
    route({
      method: 'get',
      path: '/v1/releases/{id}',
      summary: 'One release with its signed document',
      tag: 'releases',
      access: 'device_or_viewer',
      params: z.object({ id: z.string().min(1).max(128) }),
      handler: async ({ params }) => {
        const r = await getRelease(s.db, params.id);
        if (!r) throw new EdgefleetError('EF_NOT_FOUND', `release ${params.id} not found`);
        return releaseView(r);
      },
    }),
  ];
}
