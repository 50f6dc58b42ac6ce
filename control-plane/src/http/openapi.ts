/**
 * The OpenAPI 3.1 document, generated from the same route declarations and zod schemas that validate
 * requests (`GET /v1/openapi.json`).
 */
import { z } from 'zod';
import type { AnyRoute, RawBody } from './route.js';

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const s = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'Stable machine-readable code, e.g. EF_BAD_REQUEST' },
        message: { type: 'string' },
        details: { type: 'object' },
      },
    },
  },
};

function parametersOf(route: AnyRoute): unknown[] {
  const out: unknown[] = [];
  const add = (schema: z.ZodObject | undefined, where: 'path' | 'query') => {
    if (!schema) return;
    const shape: Record<string, z.ZodType> = schema.shape;
    for (const [name, field] of Object.entries(shape)) {
      out.push({
        name,
        in: where,
        required: where === 'path' || !field.safeParse(undefined).success,
        schema: jsonSchema(field, 'input'),
      });
    }
  };
  add(route.params as z.ZodObject | undefined, 'path');
  add(route.query as z.ZodObject | undefined, 'query');
  return out;
}

function requestBodyOf(body: z.ZodType | RawBody | undefined): unknown {
  if (body === undefined) return undefined;
  if ('raw' in body) {
    const type =
      body.raw === 'multipart'
        ? 'multipart/form-data'
        : body.raw === 'octet-stream'
          ? 'application/octet-stream'
          : 'application/json';
    return { required: true, description: body.description, content: { [type]: { schema: {} } } };
  }
  return { required: true, content: { 'application/json': { schema: jsonSchema(body, 'input') } } };
}

/** Build the OpenAPI document for a list of routes. */
export function buildOpenApi(
  routes: readonly AnyRoute[],
  info: { title: string; version: string },
): object {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}${r.path
        .replace(/[{}]/g, '')
        .replace(/\/(\w)/g, (_m, ch: string) => ch.toUpperCase())
        .replace(/[^A-Za-z0-9]/g, '')}`,
      parameters: parametersOf(r),
      responses: {
        [String(r.status ?? 200)]: {
          description: 'Success',
          ...(r.response
            ? { content: { 'application/json': { schema: jsonSchema(r.response, 'output') } } }
            : {}),
        },
        default: {
          description: 'Error',
          content: { 'application/json': { schema: ERROR_SCHEMA } },
        },
      },
      'x-access': r.access,
    };
    const body = requestBodyOf(r.body as z.ZodType | RawBody | undefined);
    if (body) op.requestBody = body;
    if (r.access !== 'public') op.security = [{ bearer: [] }];
    (paths[r.path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
