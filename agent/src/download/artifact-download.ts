/**
 * Download one release file over HTTP into the inactive slot, checked while it streams
 * (ARCHITECTURE §3: length and sha256 as it downloads, abort at length + 1).
 *
 * - Every chunk goes through the protocol's `createFileCheck` before it is written: a server that
 *   sends one byte more than the release signs is cut off at that byte (`EF_LENGTH_MISMATCH`,
 *   endless-data attack); the hash is compared when the length is reached (`EF_HASH_MISMATCH`).
 * - An interrupted transfer keeps its partial file and resumes with `Range: bytes=N-`; the hash
 *   state carries over, so no byte is fetched twice. A server that ignores the range (200) or
 *   answers another one restarts the file from zero.
 * - Network errors, 5xx, 408 and 429 are retried with jittered exponential back-off; the count is
 *   of consecutive attempts without progress, so a slow but moving transfer is never abandoned.
 *   Past `retries` the result is `EF_DOWNLOAD_FAILED`, like any other 4xx.
 * - ENOSPC while writing is `EF_DISK_FULL`. Opening the file is retried like a network error when
 *   the process or system is out of file descriptors for a moment (EMFILE, ENFILE); other local
 *   errors end the download at once as `EF_INTERNAL`, with the system error in the message.
 * - The file is held open only once the server has answered: a download waiting for a connection
 *   (the fleet simulator lets a few hundred of its thousands of agents download at once) holds no
 *   descriptor.
 *
 * Artifacts are content-addressed and immutable, so any HTTP cache or CDN may serve them: the
 * agent trusts hashes, never URLs.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import {
  createFileCheck,
  fail,
  ok,
  type Failure,
  type FileCheck,
  type Result,
  type SignedFileInfo,
} from '@edgefleet/protocol';
import { backoffDelay, type BackoffOptions } from '../core/backoff.js';
import { sleep, type AgentClock, type TimerHandle } from '../core/clock.js';
import { describeError, isErrno } from '../store/atomic-file.js';

export interface DownloadFileOptions {
  readonly url: string;
  /** The `Authorization` header value. */
  readonly authorization: string;
  /** Where the file goes; a partial file already there is continued after. */
  readonly destPath: string;
  readonly expected: SignedFileInfo;
  readonly fetch: typeof fetch;
  readonly clock: AgentClock;
  readonly random?: () => number;
  /** Consecutive attempts without progress before giving up; default 5. */
  readonly retries?: number;
  /** Default base 1 s, cap 30 s. */
  readonly backoff?: BackoffOptions;
  /** An attempt that receives nothing for this long is abandoned (and retried); default 60 s. */
  readonly idleTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Called with the bytes of this file on disk after every chunk. */
  readonly onProgress?: (received: number) => void;
  /** Called before waiting `delayMs` for retry number `attempt` (for logs and tests). */
  readonly onRetry?: (attempt: number, delayMs: number, reason: string) => void;
}

export interface DownloadStats {
  /** HTTP requests made. */
  readonly requests: number;
  /** Bytes received over the network for this file. */
  readonly fetchedBytes: number;
}

type Attempt =
  | { readonly kind: 'done' }
  | { readonly kind: 'retry'; readonly message: string }
  | { readonly kind: 'fatal'; readonly failure: Failure };

const CHUNK = 64 * 1024;

export async function downloadFile(options: DownloadFileOptions): Promise<Result<DownloadStats>> {
  const { expected, clock } = options;
  const retries = options.retries ?? 5;
  const backoff = { baseMs: 1000, capMs: 30_000, ...options.backoff };
  let handle: FileHandle | undefined;
  /** The file, opened (and created) on first use, retrying while descriptors run out. */
  const fileHandle = async (): Promise<Result<FileHandle>> => {
    for (let failures = 0; handle === undefined;) {
      try {
        handle = await open(options.destPath, 'a+', 0o600);
      } catch (error) {
        failures++;
        if (!isTransientLocal(error) || failures > retries) {
          return writeFailure(error, options.destPath, failures);
        }
        const delay = backoffDelay(failures - 1, backoff, options.random);
        options.onRetry?.(
          failures,
          delay,
          `cannot open ${options.destPath}: ${describeError(error)}`,
        );
        if (!(await sleep(clock, delay, options.signal))) return aborted();
      }
    }
    return ok(handle);
  };
  let check: FileCheck;
  let requests = 0;
  let fetchedBytes = 0;
  let discardFile = false;
  try {
    const resumed = await rehashPartial(options.destPath, expected);
    if (!resumed.ok) return resumed;
    check = resumed.value;

    let failures = 0;
    while (check.received < expected.length) {
      if (options.signal?.aborted === true) return aborted();
      requests++;
      const before = fetchedBytes;
      const attempt = await fetchOnce(
        options,
        fileHandle,
        check,
        (n) => {
          fetchedBytes += n;
        },
        (fresh) => {
          check = fresh;
        },
      );
      if (attempt.kind === 'fatal') {
        discardFile = isContentFailure(attempt.failure.code);
        return attempt.failure;
      }
      if (attempt.kind === 'done') continue;
      failures = fetchedBytes > before ? 1 : failures + 1;
      if (failures > retries) {
        return fail(
          'EF_DOWNLOAD_FAILED',
          `${options.url}: gave up after ${failures} attempts without progress: ${attempt.message}`,
          { url: options.url, attempts: requests },
        );
      }
      const delay = backoffDelay(failures - 1, backoff, options.random);
      options.onRetry?.(failures, delay, attempt.message);
      if (!(await sleep(clock, delay, options.signal))) return aborted();
    }
    const finished = check.finish();
    if (!finished.ok) {
      discardFile = true;
      return finished;
    }
    // A file of 0 bytes (or one complete on disk already) was never opened: it must exist.
    const created = await fileHandle();
    if (!created.ok) return created;
    return ok({ requests, fetchedBytes });
  } finally {
    await handle?.close();
    if (discardFile) await rm(options.destPath, { force: true });
  }
}

function isContentFailure(code: string): boolean {
  return code === 'EF_HASH_MISMATCH' || code === 'EF_LENGTH_MISMATCH';
}

function aborted(): Failure {
  return fail('EF_DOWNLOAD_FAILED', 'the download was cancelled', { cancelled: true });
}

/** Out of file descriptors, process-wide or system-wide: gone once other files are closed. */
function isTransientLocal(error: unknown): boolean {
  return isErrno(error, 'EMFILE') || isErrno(error, 'ENFILE');
}

function writeFailure(error: unknown, path: string, attempts = 1): Failure {
  if (isErrno(error, 'ENOSPC')) return fail('EF_DISK_FULL', `no space left writing ${path}`);
  const tries = attempts > 1 ? ` (after ${attempts} attempts)` : '';
  return fail('EF_INTERNAL', `cannot write ${path}${tries}: ${describeError(error)}`);
}

/**
 * Feed a partial file already on disk into a fresh check (a longer one cannot be ours: emptied).
 * The file is open only while this runs.
 */
async function rehashPartial(path: string, expected: SignedFileInfo): Promise<Result<FileCheck>> {
  const check = createFileCheck(expected);
  let handle: FileHandle;
  try {
    handle = await open(path, 'r+');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return ok(check);
    return writeFailure(error, path);
  }
  try {
    return await rehashOpen(handle, check, expected);
  } finally {
    await handle.close();
  }
}

async function rehashOpen(
  handle: FileHandle,
  check: FileCheck,
  expected: SignedFileInfo,
): Promise<Result<FileCheck>> {
  const { size } = await handle.stat();
  if (size === 0) return ok(check);
  if (size > expected.length) {
    await handle.truncate(0);
    return ok(check);
  }
  const buffer = new Uint8Array(CHUNK);
  let position = 0;
  while (position < size) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, size - position), position);
    if (bytesRead === 0) break;
    const r = check.update(buffer.subarray(0, bytesRead));
    if (!r.ok) return r;
    position += bytesRead;
  }
  return ok(check);
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

async function fetchOnce(
  options: DownloadFileOptions,
  fileHandle: () => Promise<Result<FileHandle>>,
  check: FileCheck,
  countFetched: (n: number) => void,
  restart: (fresh: FileCheck) => void,
): Promise<Attempt> {
  const offset = check.received;
  const controller = new AbortController();
  const onOuterAbort = () => {
    controller.abort();
  };
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const idleMs = options.idleTimeoutMs ?? 60_000;
  let idle: TimerHandle | undefined;
  let timedOut = false;
  const armIdle = () => {
    if (idle !== undefined) options.clock.clearTimeout(idle);
    idle = options.clock.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, idleMs);
  };
  const retry = (message: string): Attempt => ({
    kind: 'retry',
    message: timedOut ? `no data for ${idleMs} ms` : message,
  });
  try {
    armIdle();
    let response: Response;
    try {
      response = await options.fetch(options.url, {
        headers: {
          authorization: options.authorization,
          // Compressed transfer would change the bytes counted against the signed length.
          'accept-encoding': 'identity',
          ...(offset > 0 ? { range: `bytes=${offset}-` } : {}),
        },
        signal: controller.signal,
      });
    } catch (error) {
      if (options.signal?.aborted === true) return { kind: 'fatal', failure: aborted() };
      return retry(`request failed: ${describeError(error)}`);
    }

    let active = check;
    const status = response.status;
    if (status !== 200 && status !== 206) {
      await response.body?.cancel();
      if (status === 416) {
        return {
          kind: 'fatal',
          failure: fail(
            'EF_LENGTH_MISMATCH',
            `${options.url} has fewer bytes than the ${options.expected.length} its release signs`,
          ),
        };
      }
      const transient = status >= 500 || status === 408 || status === 429;
      if (transient) return retry(`HTTP ${status}`);
      return {
        kind: 'fatal',
        failure: fail('EF_DOWNLOAD_FAILED', `${options.url}: HTTP ${status}`, { status }),
      };
    }
    if (status === 206 && offset > 0) {
      const range = CONTENT_RANGE.exec(response.headers.get('content-range') ?? '');
      if (range?.[1] === undefined || Number(range[1]) !== offset) {
        // Not the range we asked for: start the file over.
        await response.body?.cancel();
        const opened = await fileHandle();
        if (!opened.ok) return { kind: 'fatal', failure: opened };
        await opened.value.truncate(0);
        restart(createFileCheck(options.expected));
        return retry(`server answered range ${range?.[0] ?? '(none)'} for bytes=${offset}-`);
      }
    }

    const body = response.body;
    if (body === null) return retry('the response has no body');
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    const stopReading = () => {
      controller.abort();
      reader.cancel().catch(() => undefined);
    };
    // Ask for the first chunk before opening the file: what arrives meanwhile is kept even if the
    // connection drops right after (an errored stream discards chunks nobody had asked for yet).
    let next = reader.read();
    next.catch(() => undefined);
    const opened = await fileHandle();
    if (!opened.ok) {
      stopReading();
      reader.releaseLock();
      return { kind: 'fatal', failure: opened };
    }
    const handle = opened.value;
    if (status === 200 && offset > 0) {
      // The server ignored the range: it sends the whole file, so the partial one goes.
      await handle.truncate(0);
      active = createFileCheck(options.expected);
      restart(active);
    }
    let received = 0;
    try {
      for (; ; next = reader.read()) {
        const { done, value: chunk } = await next;
        if (done) break;
        armIdle();
        countFetched(chunk.length);
        const checked = active.update(chunk);
        if (!checked.ok) {
          stopReading();
          return { kind: 'fatal', failure: checked };
        }
        try {
          await handle.write(chunk);
        } catch (error) {
          stopReading();
          return { kind: 'fatal', failure: writeFailure(error, options.destPath) };
        }
        received += chunk.length;
        options.onProgress?.(active.received);
      }
    } catch (error) {
      if (options.signal?.aborted === true) return { kind: 'fatal', failure: aborted() };
      return retry(`transfer interrupted after ${received} bytes: ${describeError(error)}`);
    } finally {
      reader.releaseLock();
    }
    if (active.received < options.expected.length) {
      return retry(`the server closed after ${received} bytes`);
    }
    return { kind: 'done' };
  } finally {
    if (idle !== undefined) options.clock.clearTimeout(idle);
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}
