/**
 * File names inside a release. The agent joins them to its staging directory, so they must be plain
 * names that cannot climb out of it or name another directory (ARCHITECTURE §3; TUF's target paths are
 * likewise never trusted as file system paths).
 */
import { fail, ok, type Result } from '../errors.js';

export const MAX_FILE_PATH_LENGTH = 128;

// C0 controls and DEL: no separator, but they break logs, shells and some file systems.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Check that `path` is a plain file name: not empty, at most 128 characters, no `/`, `\`, NUL or
 * other control characters, and not `.` or `..`. Returns EF_PATH_INVALID otherwise.
 */
export function checkFilePath(path: string): Result<string> {
  const bad = (why: string) =>
    fail('EF_PATH_INVALID', `file path ${JSON.stringify(path.slice(0, 200))} ${why}`, {
      path: path.slice(0, 200),
    });
  if (path.length === 0) return bad('is empty');
  if (path.length > MAX_FILE_PATH_LENGTH) {
    return bad(`is longer than ${MAX_FILE_PATH_LENGTH} characters`);
  }
  if (path === '.' || path === '..') return bad('names a directory');
  if (path.includes('/') || path.includes('\\')) return bad('contains a path separator');
  if (CONTROL.test(path)) return bad('contains a control character');
  return ok(path);
}

/**
 * Check the names of the files offered for installation against a release: each must be a plain
 * name (EF_PATH_INVALID) that the release lists (EF_EXTRANEOUS_FILE). Only listed files are installed.
 */
export function checkOfferedFiles(
  release: { readonly files: Readonly<Record<string, unknown>> },
  paths: readonly string[],
): Result<void> {
  for (const path of paths) {
    const checked = checkFilePath(path);
    if (!checked.ok) return checked;
    if (!Object.hasOwn(release.files, path)) {
      return fail(
        'EF_EXTRANEOUS_FILE',
        `file ${JSON.stringify(path)} is not listed in the release`,
        {
          path,
        },
      );
    }
  }
  return ok(undefined);
}
