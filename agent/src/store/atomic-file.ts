/**
 * Crash-safe file primitives for the agent's state directory.
 *
 * `writeFileAtomic` follows the classic POSIX recipe: write a temp file in the same directory, fsync
 * it, rename it over the target (rename(2) is atomic within one file system), then fsync the
 * directory so the new directory entry itself survives a power cut. A reader therefore sees either
 * the old content or the new content, never a mix, and never an empty file after a crash.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fail, ok, type Result } from '@edgefleet/protocol';
import type { z } from 'zod';

export interface WriteFileAtomicOptions {
  /** File mode of the new file; default 0o644 (use 0o600 for secrets). */
  readonly mode?: number;
}

/** Write `data` to `path` atomically and durably (see the module comment). */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const dir = dirname(path);
  // Same directory as the target, so the rename never crosses a file system; the dot prefix and
  // `.tmp` suffix let recovery code recognise and delete leftovers of a crash.
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const file = await open(temp, 'wx', options.mode ?? 0o644);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
    renamed = true;
    await fsyncDirectory(dir);
  } finally {
    if (!renamed) await rm(temp, { force: true });
  }
}

/** Write `value` as pretty JSON (with a trailing newline) atomically. */
export async function writeJsonFileAtomic(
  path: string,
  value: unknown,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', options);
}

/**
 * fsync a directory so that entries created, renamed or removed in it are durable. File systems
 * that cannot fsync a directory (some network and FUSE file systems) report EINVAL or EISDIR; there
 * is nothing more to do on those, so the error is ignored.
 */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    if (!isErrno(error, 'EINVAL') && !isErrno(error, 'EISDIR')) throw error;
  } finally {
    await handle.close();
  }
}

export interface ReadJsonFileOptions {
  /** Files larger than this fail with EF_TOO_LARGE before parsing; default 1 MiB. */
  readonly maxBytes?: number;
}

/**
 * Read and validate a JSON file. Never throws for bad content: a missing file is `EF_NOT_FOUND`, a
 * file over the cap `EF_TOO_LARGE`, bad JSON or a schema mismatch `EF_MALFORMED` (with the zod issues
 * in `details`). Other I/O errors (permissions, EIO) are `EF_INTERNAL`.
 */
export async function readJsonFile<T>(
  path: string,
  schema: z.ZodType<T>,
  options: ReadJsonFileOptions = {},
): Promise<Result<T>> {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  let bytes: Buffer;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > maxBytes) {
        return fail('EF_TOO_LARGE', `${path} is ${size} bytes, more than the ${maxBytes} allowed`);
      }
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return fail('EF_NOT_FOUND', `${path} does not exist`);
    return fail('EF_INTERNAL', `cannot read ${path}: ${errorMessage(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    return fail('EF_MALFORMED', `${path} is not valid JSON: ${errorMessage(error)}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    return fail('EF_MALFORMED', `${path} does not match its schema`, {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return ok(parsed.data);
}

/** True if `error` is a Node system error with the given `code` (ENOENT, ENOSPC, ...). */
export function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
