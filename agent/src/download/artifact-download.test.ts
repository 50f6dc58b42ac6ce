import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '@edgefleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { downloadFile, type DownloadFileOptions } from './artifact-download.js';
import { startArtifactServer, type ArtifactServer } from './artifact-server.test-support.js';
import { artifactUrl, basicAuthorization } from './release-download.js';

const BYTES = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251);
const expected = { sha256: sha256Hex(BYTES), length: BYTES.length };

let server: ArtifactServer;
let dir: string;
let clock: ManualClock;
let sha: string;

beforeEach(async () => {
  server = await startArtifactServer({ deviceId: 'dev-1', token: 'tok' });
  sha = server.add(BYTES);
  dir = await mkdtemp(join(tmpdir(), 'ef-download-'));
  clock = new ManualClock();
});

afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function options(overrides: Partial<DownloadFileOptions> = {}): DownloadFileOptions {
  return {
    url: artifactUrl(server.url, sha),
    authorization: basicAuthorization('dev-1', 'tok'),
    destPath: join(dir, 'model.onnx'),
    expected,
    fetch,
    clock,
    random: () => 0.5,
    ...overrides,
  };
}

/** Advance the clock past each back-off the download waits for. */
function advanceOnRetry(delays: number[]): DownloadFileOptions['onRetry'] {
  return (_attempt, delayMs) => {
    delays.push(delayMs);
    queueMicrotask(() => {
      clock.advance(delayMs);
    });
  };
}

describe('downloadFile', () => {
  it('fetches the file in one request with Basic credentials and checks it', async () => {
    const result = await downloadFile(options());
    expect(result).toEqual({ ok: true, value: { requests: 1, fetchedBytes: BYTES.length } });
    expect(sha256Hex(await readFile(join(dir, 'model.onnx')))).toBe(expected.sha256);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({
      range: undefined,
      authorization: `Basic ${Buffer.from('dev-1:tok').toString('base64')}`,
    });
  });

  it('resumes a transfer that ended early with Range after a back-off, fetching every byte once', async () => {
    server.fault(sha, { endAfter: 70_000 });
    const delays: number[] = [];
    const result = await downloadFile(
      options({ backoff: { baseMs: 1000 }, onRetry: advanceOnRetry(delays) }),
    );
    expect(result.ok).toBe(true);
    expect(delays).toEqual([750]); // equal jitter: [500, 1000], random 0.5
    expect(server.requests.map((r) => [r.status, r.range])).toEqual([
      [200, undefined],
      [206, 'bytes=70000-'],
    ]);
    expect(server.bytesSent(sha)).toBe(BYTES.length);
    expect(sha256Hex(await readFile(join(dir, 'model.onnx')))).toBe(expected.sha256);
  });

  it('resumes after the connection is cut mid-file, from the bytes it kept', async () => {
    server.fault(sha, { cutAfter: 70_000 });
    const result = await downloadFile(options({ onRetry: advanceOnRetry([]) }));
    expect(result.ok).toBe(true);
    const [first, second] = server.requests;
    expect(server.requests).toHaveLength(2);
    expect(first?.status).toBe(200);
    // A stream that errors may drop what it had buffered, so the range starts at or before the cut.
    const start = Number(/^bytes=(\d+)-$/.exec(second?.range ?? '')?.[1]);
    expect(start).toBeGreaterThan(0);
    expect(start).toBeLessThanOrEqual(70_000);
    expect(second).toMatchObject({ status: 206, bytesSent: BYTES.length - start });
    expect(sha256Hex(await readFile(join(dir, 'model.onnx')))).toBe(expected.sha256);
  });

  it('starts over when the server ignores the range', async () => {
    server.fault(sha, { cutAfter: 50_000, ignoreRange: true });
    const result = await downloadFile(options({ onRetry: advanceOnRetry([]) }));
    expect(result.ok).toBe(true);
    expect(server.requests.map((r) => r.status)).toEqual([200, 200]);
    expect(sha256Hex(await readFile(join(dir, 'model.onnx')))).toBe(expected.sha256);
  });

  it('continues after a partial file already on disk', async () => {
    server.fault(sha, { cutAfter: 30_000 });
    const first = await downloadFile(options({ retries: 0 }));
    expect(first).toMatchObject({ ok: false, code: 'EF_DOWNLOAD_FAILED' });
    expect((await stat(join(dir, 'model.onnx'))).size).toBe(30_000);
    const second = await downloadFile(options());
    expect(second.ok).toBe(true);
    expect(server.requests.at(-1)?.range).toBe('bytes=30000-');
    expect(server.bytesSent(sha)).toBe(BYTES.length);
  });

  it('refuses bytes with another hash (hash_mismatch) and removes them', async () => {
    const wrong = BYTES.slice();
    wrong[1234] = wrong[1234]! ^ 1;
    server.fault(sha, { replaceWith: wrong });
    const result = await downloadFile(options());
    expect(result).toMatchObject({ ok: false, code: 'EF_HASH_MISMATCH' });
    await expect(stat(join(dir, 'model.onnx'))).rejects.toThrow(/ENOENT/);
  });

  it('cuts off a file longer than signed at length + 1 (length_mismatch)', async () => {
    server.fault(sha, { extra: new Uint8Array(100_000) });
    const result = await downloadFile(options());
    expect(result).toMatchObject({ ok: false, code: 'EF_LENGTH_MISMATCH' });
    await expect(stat(join(dir, 'model.onnx'))).rejects.toThrow(/ENOENT/);
    expect(server.requests).toHaveLength(1);
  });

  it('retries 5xx with back-off and gives up after the bounded retries (download_failed)', async () => {
    server.fault(sha, { status: { code: 503, times: 100 } });
    const delays: number[] = [];
    const result = await downloadFile(
      options({
        retries: 3,
        backoff: { baseMs: 100, capMs: 300 },
        onRetry: advanceOnRetry(delays),
      }),
    );
    expect(result).toMatchObject({ ok: false, code: 'EF_DOWNLOAD_FAILED' });
    expect(server.requests).toHaveLength(4);
    expect(delays).toEqual([75, 150, 225]); // capped at 300, random 0.5
  });

  it('recovers from a few 503s', async () => {
    server.fault(sha, { status: { code: 503, times: 2 } });
    const result = await downloadFile(options({ onRetry: advanceOnRetry([]) }));
    expect(result.ok).toBe(true);
    expect(server.requests.map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('does not retry a 404 or a refused credential', async () => {
    const missing = await downloadFile(options({ url: artifactUrl(server.url, '0'.repeat(64)) }));
    expect(missing).toMatchObject({ ok: false, code: 'EF_DOWNLOAD_FAILED' });
    const refused = await downloadFile(
      options({ authorization: basicAuthorization('dev-1', 'no') }),
    );
    expect(refused).toMatchObject({ ok: false, code: 'EF_DOWNLOAD_FAILED' });
    expect(server.requests.map((r) => r.status)).toEqual([404, 401]);
  });

  it('stops waiting when cancelled', async () => {
    server.fault(sha, { status: { code: 503, times: 100 } });
    const controller = new AbortController();
    const result = await downloadFile(
      options({
        signal: controller.signal,
        onRetry: () => {
          controller.abort();
        },
      }),
    );
    expect(result).toMatchObject({
      ok: false,
      code: 'EF_DOWNLOAD_FAILED',
      details: { cancelled: true },
    });
    expect(clock.pending).toBe(0);
  });
});
