/**
 * Writes the JSON Schema of every signed document and MQTT message into a folder (docs/schemas/), or with
 * `--check` fails when the checked-in files differ from what the current zod schemas produce.
 *
 *   node protocol/dist/scripts/export-schemas.js docs/schemas [--check]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { MESSAGE_SCHEMAS } from '../messages/codec.js';
import { envelopeSchema } from '../crypto/envelope.js';
import { DirectiveSchema } from '../trust/directive.js';
import { ReleaseDocumentSchema } from '../trust/release.js';
import { RootSchema } from '../trust/root.js';
import { TrustStateSchema } from '../trust/state.js';
import { FeatureSpecSchema } from '../profiles/feature-spec.js';
import { ProfileWireSchema } from '../profiles/wire.js';

/** Signed documents (as envelopes) and the other structures that cross a boundary. */
const DOCUMENT_SCHEMAS: Record<string, z.ZodType> = {
  root: envelopeSchema(RootSchema),
  release: envelopeSchema(ReleaseDocumentSchema),
  directive: envelopeSchema(DirectiveSchema),
  'trust-state': TrustStateSchema,
  'feature-spec': FeatureSpecSchema,
  profile: ProfileWireSchema,
};

function render(schema: z.ZodType, id: string): string {
  const json = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  });
  return (
    JSON.stringify({ $id: `https://edgefleet.dev/schemas/${id}.json`, ...json }, null, 2) + '\n'
  );
}

function main(argv: readonly string[]): number {
  const outDir = resolve(argv[0] ?? 'docs/schemas');
  const check = argv.includes('--check');
  const files = new Map<string, string>();
  for (const [type, schema] of Object.entries(MESSAGE_SCHEMAS) as [string, z.ZodType][]) {
    files.set(`message-${type.replace('_', '-')}`, render(schema, `message-${type}`));
  }
  for (const [type, schema] of Object.entries(DOCUMENT_SCHEMAS)) {
    files.set(`document-${type}`, render(schema, `document-${type}`));
  }
  let stale = 0;
  if (!check) mkdirSync(outDir, { recursive: true });
  for (const [name, text] of files) {
    const path = join(outDir, `${name}.json`);
    if (check) {
      const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
      if (current !== text) {
        stale++;
        console.error(`out of date: ${path}`);
      }
    } else {
      writeFileSync(path, text);
    }
  }
  if (check && stale > 0) {
    console.error(
      `${stale} JSON Schema file(s) are out of date: run \`npm run schemas\` and commit the result.`,
    );
    return 1;
  }
  console.log(
    check
      ? `JSON Schemas up to date (${files.size} files)`
      : `wrote ${files.size} JSON Schemas to ${outDir}`,
  );
  return 0;
}

process.exitCode = main(process.argv.slice(2));
