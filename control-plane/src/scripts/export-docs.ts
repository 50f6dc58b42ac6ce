/**
 * Writes the generated reference pages into a folder (docs/reference/): `codes.md` (error and reason
 * codes with what to do), `api.md` and `openapi.json` (the HTTP API, from the route table). With
 * `--check` it writes nothing and fails when the checked-in files differ from what the code produces.
 *
 *   node control-plane/dist/scripts/export-docs.js docs/reference [--check]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openApiDocument, renderApiMarkdown } from '../docs/api-reference.js';
import { renderCodesMarkdown } from '../docs/codes.js';

/** The generated files by name. */
function referenceFiles(): Map<string, string> {
  const doc = openApiDocument();
  return new Map([
    ['codes.md', renderCodesMarkdown()],
    ['api.md', renderApiMarkdown(doc)],
    ['openapi.json', JSON.stringify(doc, null, 2) + '\n'],
  ]);
}

function main(argv: readonly string[]): number {
  const positional = argv.filter((a) => !a.startsWith('--'));
  const outDir = resolve(positional[0] ?? 'docs/reference');
  const check = argv.includes('--check');
  const files = referenceFiles();
  let stale = 0;
  if (!check) mkdirSync(outDir, { recursive: true });
  for (const [name, text] of files) {
    const path = join(outDir, name);
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
      `${stale} reference file(s) are out of date: run \`npm run docs\` and commit the result.`,
    );
    return 1;
  }
  console.log(
    check
      ? `reference docs up to date (${files.size} files)`
      : `wrote ${files.size} reference files to ${outDir}`,
  );
  return 0;
}

process.exitCode = main(process.argv.slice(2));
