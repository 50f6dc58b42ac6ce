/**
 * Crash-safe file primitives for the agent's state directory.
 *
 * `writeFileAtomic` follows the classic POSIX recipe: write a temp file in the same directory, fsync
 * it, rename it over the target (rename(2) is atomic within one file system), then fsync the
 * directory so the new directory entry itself survives a power cut. A reader therefore sees either
 * the old content or the new content, never a mix, and never an empty file after a crash.
 *
 * With `durable: false` both fsyncs are skipped: the write is still atomic for readers and for a
 * crash of the process (temp file, then rename), but a power cut may lose it or, on some file
 * systems, leave the old content. Only for state that need not survive the machine (the fleet
 * simulator's temporary state directories).
 *
 * At most `MAX_CONCURRENT_WRITES` atomic writes run at once per process; the others wait in call
 * order. One agent never gets near that, but thousands in one process (the fleet simulator) would
 * otherwise open a temp file each at the same moment: libuv runs file operations first-come
 * first-served on a few threads, so every write's later steps queue behind all the others' opens,
 * the descriptors pile up (EMFILE) and no write finishes before nearly all have started.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fail, ok, type Result } from '@edgefleet/protocol';
import type { z } from 'zod';
import { FifoSemaphore } from '../core/fifo-semaphore.js';

export interface WriteFileAtomicOptions {
  /** File mode of the new file; default 0o644 (use 0o600 for secrets). */
  readonly mode?: number;
  /** fsync the file and its directory (default true); false keeps only the atomic rename. */
  readonly durable?: boolean;
}

/** Write `data` to `path` atomically and (unless `durable: false`) durably (see the module comment). */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  await writeSlots.acquire();
  try {
    await writeNow(path, data, options);
  } finally {
    writeSlots.release();
  }
}

/** Atomic writes in flight at once in this process (see the module comment). */
export const MAX_CONCURRENT_WRITES = 32;

const writeSlots = new FifoSemaphore(MAX_CONCURRENT_WRITES);

/** Unique temp names without a random draw per write: a per-process tag and a counter. */
const PROCESS_TAG = randomBytes(4).toString('hex');
let tempCounter = 0;

async function writeNow(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions,
): Promise<void> {
  const dir = dirname(path);
  // Same directory as the target, so the rename never crosses a file system; the dot prefix and
  // `.tmp` suffix let recovery code recognise and delete leftovers of a crash. `wx` refuses a name
  // that exists (a leftover of another process with the same tag: the write fails, nothing lost).
  const temp = join(dir, `.${basename(path)}.${PROCESS_TAG}${(tempCounter++).toString(36)}.tmp`);
  const durable = options.durable ?? true;
  let renamed = false;
  try {
    const file = await open(temp, 'wx', options.mode ?? 0o644);
    try {
      await file.writeFile(data);
      if (durable) await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
    renamed = true;
    if (durable) await fsyncDirectory(dir);
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

/**
 * An error for a status report or a log line: its message, its system error code when the message
 * does not already carry it (`EMFILE`, `ECONNRESET`, ...), and its cause's, so a failure reported as
 * `internal` says what actually went wrong.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  let text = error.message;
  if (typeof code === 'string' && !text.includes(code)) text = `${code}: ${text}`;
  if (error.cause !== undefined && error.cause !== error) {
    text += ` (cause: ${describeError(error.cause)})`;
  }
  return text;
}
