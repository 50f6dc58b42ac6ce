/**
 * downloadFile and file descriptors: the destination is opened only once the server has answered,
 * and an open that fails because descriptors ran out (EMFILE, ENFILE) is retried with back-off.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '@edgefleet/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { downloadFile, type DownloadFileOptions } from './artifact-download.js';
import { startArtifactServer, type ArtifactServer } from './artifact-server.test-support.js';
import { artifactUrl, basicAuthorization } from './release-download.js';

/** The next `remaining` opens for writing (`a+`) fail with `code`. */
const failing = vi.hoisted(() => ({ remaining: 0, code: 'EMFILE' }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    open: (path: string, flags?: string, mode?: number) => {
      if (flags === 'a+' && failing.remaining > 0) {
        failing.remaining--;
        const error = Object.assign(new Error(`${failing.code}: simulated, open '${path}'`), {
          code: failing.code,
        });
        return Promise.reject(error);
      }
      return actual.open(path, flags, mode);
    },
  };
});

const BYTES = Uint8Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 251);
const expected = { sha256: sha256Hex(BYTES), length: BYTES.length };

let server: ArtifactServer;
let dir: string;
let clock: ManualClock;
let sha: string;

beforeEach(async () => {
  server = await startArtifactServer({ deviceId: 'dev-1', token: 'tok' });
  sha = server.add(BYTES);
  dir = await mkdtemp(join(tmpdir(), 'ef-download-fd-'));
  clock = new ManualClock();
  failing.remaining = 0;
  failing.code = 'EMFILE';
});

afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const retries: string[] = [];

function options(overrides: Partial<DownloadFileOptions> = {}): DownloadFileOptions {
  retries.length = 0;
  return {
    url: artifactUrl(server.url, sha),
    authorization: basicAuthorization('dev-1', 'tok'),
    destPath: join(dir, 'model.onnx'),
    expected,
    fetch,
    clock,
    random: () => 0.5,
    onRetry: (_attempt, delayMs, reason) => {
      retries.push(reason);
      queueMicrotask(() => {
        clock.advance(delayMs);
      });
    },
    ...overrides,
  };
}

describe('downloadFile and descriptors', () => {
  it('holds no file open (nor creates one) while the request waits for an answer', async () => {
    let answer: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    let asked = false;
    const waiting = downloadFile(
      options({
        fetch: async (input, init) => {
          asked = true;
          await answered;
          return fetch(input, init);
        },
      }),
    );
    await vi.waitFor(() => {
      expect(asked).toBe(true);
    });
    await expect(stat(join(dir, 'model.onnx'))).rejects.toMatchObject({ code: 'ENOENT' });
    answer();
    expect((await waiting).ok).toBe(true);
    expect(sha256Hex(await readFile(join(dir, 'model.onnx')))).toBe(expected.sha256);
  });

  it('retries opening the file while descriptors run out, then downloads', async () => {
    failing.remaining = 2;
    const result = await downloadFile(options());
    expect(result.ok).toBe(true);
    expect(retries).toHaveLength(2);
    expect(retries[0]).toMatch(/^cannot open .*model\.onnx: EMFILE: /);
    expect(sha256Hex(await readFile(join(dir, 'model.onnx')))).toBe(expected.sha256);
  });

  it('gives up after the retries with EF_INTERNAL naming the error', async () => {
    failing.remaining = 100;
    failing.code = 'ENFILE';
    const result = await downloadFile(options({ retries: 2 }));
    expect(result).toMatchObject({ ok: false, code: 'EF_INTERNAL' });
    expect(!result.ok && result.message).toMatch(/\(after 3 attempts\): ENFILE: /);
  });

  it('fails at once on a local error that waiting does not cure', async () => {
    failing.remaining = 1;
    failing.code = 'EACCES';
    const result = await downloadFile(options());
    expect(result).toMatchObject({ ok: false, code: 'EF_INTERNAL' });
    expect(!result.ok && result.message).toMatch(/: EACCES: /);
    expect(retries).toEqual([]);
  });

  it('creates an empty file for a file of 0 bytes', async () => {
    const empty = new Uint8Array(0);
    sha = server.add(empty);
    const result = await downloadFile(
      options({ expected: { sha256: sha256Hex(empty), length: 0 } }),
    );
    expect(result.ok).toBe(true);
    expect((await stat(join(dir, 'model.onnx'))).size).toBe(0);
  });
});
