/**
 * The HTTP API reference (`docs/reference/api.md` and `openapi.json`), built from the same route
 * table the server registers, without starting a server: route declarations only read their
 * services inside handlers, so an inert stand-in is enough to list them.
 */
import type { Services } from '../api/services.js';
import { buildOpenApi } from '../http/openapi.js';
import type { AnyRoute } from '../http/route.js';
import { allRoutes } from '../server/routes.js';
import { VERSION } from '../server/server.js';

/**
 * A stand-in for the server's services: every property is another stand-in, and calling one throws.
 * Declaring the routes works; handling a request would not.
 */
function inertServices(): Services {
  const inert = (path: string): unknown =>
    new Proxy(() => undefined, {
      get: (_target, key) => (typeof key === 'symbol' ? undefined : inert(`${path}.${key}`)),
      apply: () => {
        throw new Error(`${path}() called while only documenting the routes`);
      },
    });
  return inert('services') as Services;
}

/** Every route of the operator API, as the server declares them. */
export function documentedRoutes(): AnyRoute[] {
  return allRoutes(inertServices());
}

/** The OpenAPI document the server serves at `GET /v1/openapi.json`. */
export function openApiDocument(): OpenApiDocument {
  return buildOpenApi(documentedRoutes(), {
    title: 'Edgefleet control plane',
    version: VERSION,
  }) as OpenApiDocument;
}

// --- The parts of OpenAPI / JSON Schema the renderer reads ----------------------------------------

interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly default?: unknown;
  readonly description?: string;
  readonly format?: string;
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
}

interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly required: boolean;
  readonly schema: JsonSchema;
}

interface Operation {
  readonly summary: string;
  readonly tags: readonly string[];
  readonly parameters: readonly Parameter[];
  readonly requestBody?: {
    readonly description?: string;
    readonly content: Readonly<Record<string, { readonly schema: JsonSchema }>>;
  };
  readonly responses: Readonly<
    Record<string, { readonly content?: Readonly<Record<string, { readonly schema: JsonSchema }>> }>
  >;
  readonly 'x-access': string;
}

export interface OpenApiDocument {
  readonly openapi: string;
  readonly info: { readonly title: string; readonly version: string };
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
}

// --- Rendering ------------------------------------------------------------------------------------

const MAX_DEPTH = 5;
/** Limits this large are the JavaScript safe-integer bound, not a documented limit. */
const HUGE = 2 ** 52;

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return json(s.const);
  if (s.enum !== undefined) return s.enum.map(json).join(' | ');
  const variants = s.anyOf ?? s.oneOf;
  if (variants !== undefined) return [...new Set(variants.map(typeOf))].join(' | ');
  if (s.type === 'array') {
    const item = s.items ? typeOf(s.items) : 'any';
    return item.includes(' | ') ? `(${item})[]` : `${item}[]`;
  }
  if (Array.isArray(s.type)) return s.type.join(' | ');
  if (typeof s.type === 'string') {
    if (
      s.type === 'object' &&
      s.properties === undefined &&
      typeof s.additionalProperties === 'object'
    )
      return `{string: ${typeOf(s.additionalProperties)}}`;
    return s.type;
  }
  return 'any';
}

function constraints(s: JsonSchema): string {
  const out: string[] = [];
  const bound = (name: string, v: number | undefined) => {
    if (v !== undefined && Math.abs(v) < HUGE) out.push(`${name} ${v}`);
  };
  bound('>=', s.minimum);
  bound('>', s.exclusiveMinimum);
  bound('<=', s.maximum);
  bound('<', s.exclusiveMaximum);
  if (s.minLength !== undefined && s.minLength > 0) out.push(`length >= ${s.minLength}`);
  if (s.maxLength !== undefined) out.push(`length <= ${s.maxLength}`);
  if (s.minItems !== undefined && s.minItems > 0) out.push(`items >= ${s.minItems}`);
  if (s.maxItems !== undefined) out.push(`items <= ${s.maxItems}`);
  if (s.format !== undefined) out.push(`format ${s.format}`);
  if (s.pattern !== undefined) out.push(`pattern \`${s.pattern}\``);
  if (s.description !== undefined) out.push(s.description);
  return out.join('; ');
}

interface FieldRow {
  readonly path: string;
  readonly type: string;
  readonly required: boolean;
  readonly default: string;
  readonly notes: string;
}

/** The fields of an object schema, nested objects and arrays of objects flattened to dotted paths. */
function fields(schema: JsonSchema, prefix = '', depth = 0): FieldRow[] {
  const rows: FieldRow[] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${name}`;
    rows.push({
      path,
      type: typeOf(field),
      required: required.has(name),
      default: field.default === undefined ? '' : json(field.default),
      notes: constraints(field),
    });
    if (depth < MAX_DEPTH) rows.push(...nested(field, path, depth + 1));
  }
  return rows;
}

function nested(field: JsonSchema, path: string, depth: number): FieldRow[] {
  if (field.properties !== undefined) return fields(field, `${path}.`, depth);
  if (field.items !== undefined) return nested(field.items, `${path}[]`, depth);
  const variants = field.anyOf ?? field.oneOf;
  if (variants !== undefined) {
    return variants
      .filter((v) => v.properties !== undefined)
      .flatMap((v) =>
        fields(v, `${path}.`, depth).map((r) => ({
          ...r,
          notes: ['one of the variants', r.notes].filter((x) => x !== '').join('; '),
        })),
      );
  }
  return [];
}

function fieldTable(schema: JsonSchema): string[] {
  const rows = fields(schema);
  if (rows.length === 0) return [`Schema: \`${typeOf(schema)}\`.`];
  return [
    '| field | type | required | default | notes |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| \`${cell(r.path)}\` | ${cell(r.type)} | ${r.required ? 'yes' : ''} | ${cell(r.default === '' ? '' : `\`${r.default}\``)} | ${cell(r.notes)} |`,
    ),
  ];
}

const ACCESS: Readonly<Record<string, string>> = {
  public: 'public (no token)',
  viewer: 'viewer token or higher',
  deployer: 'deployer token or higher',
  admin: 'admin token',
  device: 'device credentials',
  device_or_viewer: 'device credentials (HTTP Basic: device id and device token) or a viewer token',
};

/** GitHub's heading anchor for a heading text. */
function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replaceAll(' ', '-');
}

function operationHeading(method: string, path: string): string {
  return `${method.toUpperCase()} ${path}`;
}

function renderOperation(method: string, path: string, op: Operation): string[] {
  const lines = [
    `### \`${operationHeading(method, path)}\``,
    '',
    `${op.summary}.`.replace(/\.\.$/, '.'),
    '',
    `Access: ${ACCESS[op['x-access']] ?? op['x-access']}.`,
    '',
  ];
  if (op.parameters.length > 0) {
    lines.push(
      '| parameter | in | type | required | default | notes |',
      '| --- | --- | --- | --- | --- | --- |',
      ...op.parameters.map(
        (p) =>
          `| \`${p.name}\` | ${p.in} | ${cell(typeOf(p.schema))} | ${p.required ? 'yes' : ''} | ${p.schema.default === undefined ? '' : cell(`\`${json(p.schema.default)}\``)} | ${cell(constraints(p.schema))} |`,
      ),
      '',
    );
  }
  if (op.requestBody !== undefined) {
    for (const [type, media] of Object.entries(op.requestBody.content)) {
      lines.push(
        `Request body (\`${type}\`)${op.requestBody.description ? `: ${op.requestBody.description}` : ''}.`.replace(
          /\.\.$/,
          '.',
        ),
        '',
      );
      if (type === 'application/json' && Object.keys(media.schema).length > 0) {
        lines.push(...fieldTable(media.schema), '');
      }
    }
  }
  for (const [status, response] of Object.entries(op.responses)) {
    if (status === 'default') continue;
    const schema = response.content?.['application/json']?.schema;
    lines.push(schema ? `Response ${status}:` : `Response ${status}.`, '');
    if (schema) lines.push(...fieldTable(schema), '');
  }
  return lines;
}

/** `docs/reference/api.md`: every operation of the OpenAPI document, grouped by tag. */
export function renderApiMarkdown(doc: OpenApiDocument): string {
  const byTag = new Map<string, [string, string, Operation][]>();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags[0] ?? 'other';
      const list = byTag.get(tag) ?? [];
      list.push([method, path, op]);
      byTag.set(tag, list);
    }
  }
  const lines = [
    '<!-- Generated by `npm run docs` from the route table (control-plane/src/server/routes.ts) through the OpenAPI builder: edit the routes, not this file. -->',
    '',
    `# ${doc.info.title} HTTP API (version ${doc.info.version})`,
    '',
    'The operator API of `edgefleet server`, under `/v1` on the HTTP port (default 8080). The same',
    'document in OpenAPI 3.1 form is [`openapi.json`](openapi.json) and is served live at',
    '`GET /v1/openapi.json`. Back to the [operator guide](../guide/README.md).',
    '',
    '- **Authentication:** `Authorization: Bearer <operator token>`; roles rank viewer < deployer <',
    '  admin, and a route that needs a role accepts every higher one. Devices use HTTP Basic with',
    '  their device id and device token (artifact downloads). A missing, unknown, revoked or expired',
    '  token is `401 EF_UNAUTHORIZED`, a role too low `403 EF_FORBIDDEN`.',
    '- **Errors:** every error is `{"error": {"code", "message", "details"}}` with a stable code',
    '  ([codes](codes.md)); a body that fails validation is `400 EF_BAD_REQUEST` with',
    '  `details.issues` (`path`, `message`).',
    '- **Audit:** every call that changes something is written to the audit log (`GET /v1/audit`)',
    '  with its actor, target and outcome, refused calls included.',
    '- **Durations** in request bodies are text such as `90s`, `10m`, `12h`, `30d` (one unit);',
    '  rollout specs also take whole seconds or combined units such as `1h30m`.',
    '- **Outside `/v1`** (not in the OpenAPI document): `GET /healthz` (readiness: the database',
    '  answers; 503 when not), `GET /metrics` (Prometheus text, no token).',
    '',
    '## Contents',
    '',
  ];
  const tags = [...byTag.keys()];
  for (const tag of tags) {
    lines.push(`- **${tag}**`);
    for (const [method, path] of byTag.get(tag)!) {
      const heading = operationHeading(method, path);
      lines.push(`  - [\`${heading}\`](#${anchor(heading)})`);
    }
  }
  lines.push('');
  for (const tag of tags) {
    lines.push(`## ${tag}`, '');
    for (const [method, path, op] of byTag.get(tag)!)
      lines.push(...renderOperation(method, path, op));
  }
  return lines.join('\n').replace(/\n+$/, '\n');
}
