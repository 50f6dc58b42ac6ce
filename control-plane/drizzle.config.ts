/**
 * drizzle-kit configuration: generates the SQL migrations in `drizzle/` from `src/db/schema.ts`.
 *
 * Regenerate after a schema change (from the repository root; paths resolve against this file, so the
 * working directory does not matter):
 *
 *   npx drizzle-kit generate --config control-plane/drizzle.config.ts --name <what_changed>
 *
 * Hand-written SQL (triggers, functions) goes in a custom migration:
 *
 *   npx drizzle-kit generate --config control-plane/drizzle.config.ts --custom --name <what>
 *
 * Never edit a migration once it is committed: add a new one. The control plane applies them at start-up
 * (src/db/open.ts).
 */
// Linted in ESLint's default project, which (TypeScript 6) loads no @types unless asked.
/// <reference types="node" />
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'drizzle-kit';

// drizzle-kit wants paths relative to the working directory (it prefixes './' to them), so make this
// file's own directory relative to wherever the command runs.
const packageDir = relative(process.cwd(), fileURLToPath(new URL('.', import.meta.url)));
const here = (path: string): string => join(packageDir, path);

export default defineConfig({
  dialect: 'postgresql',
  schema: here('./src/db/schema.ts'),
  out: here('./drizzle'),
  strict: true,
});
