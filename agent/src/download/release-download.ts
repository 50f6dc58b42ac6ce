/**
 * Download every file a release lists into a slot directory, one after the other, from the control
 * plane's content-addressed artifact route: `GET {apiUrl}/v1/artifacts/{sha256}` with the device's
 * credentials as `Authorization: Basic base64(deviceId:deviceToken)`.
 */
import { join } from 'node:path';
import { checkOfferedFiles, ok, type ReleaseDocument, type Result } from '@edgefleet/protocol';
import type { BackoffOptions } from '../core/backoff.js';
import type { AgentClock } from '../core/clock.js';
import { downloadFile } from './artifact-download.js';

export interface ArtifactSource {
  /** Base URL of the control plane API (a path prefix is kept). */
  readonly apiUrl: string;
  readonly deviceId: string;
  readonly deviceToken: string;
  readonly fetch: typeof fetch;
}

export interface DownloadReleaseOptions {
  readonly source: ArtifactSource;
  readonly clock: AgentClock;
  readonly random?: () => number;
  readonly retries?: number;
  readonly backoff?: BackoffOptions;
  readonly idleTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Bytes on disk over all files, after every chunk. */
  readonly onProgress?: (bytes: number, total: number) => void;
  readonly onRetry?: (file: string, attempt: number, delayMs: number, reason: string) => void;
}

/** `{apiUrl}/v1/artifacts/{sha256}`. */
export function artifactUrl(apiUrl: string, sha256: string): string {
  return `${apiUrl.replace(/\/+$/, '')}/v1/artifacts/${sha256}`;
}

export function basicAuthorization(deviceId: string, deviceToken: string): string {
  return `Basic ${Buffer.from(`${deviceId}:${deviceToken}`, 'utf8').toString('base64')}`;
}

/** Total bytes of a release's files. */
export function releaseBytes(release: ReleaseDocument): number {
  return Object.values(release.files).reduce((sum, f) => sum + f.length, 0);
}

/**
 * Fetch the release's files into `dir`. Only listed files with plain names are fetched
 * (`checkOfferedFiles`); the first failure ends the download with its code.
 */
export async function downloadRelease(
  release: ReleaseDocument,
  dir: string,
  options: DownloadReleaseOptions,
): Promise<Result<void>> {
  const names = Object.keys(release.files).sort();
  const offered = checkOfferedFiles(release, names);
  if (!offered.ok) return offered;
  const total = releaseBytes(release);
  const authorization = basicAuthorization(options.source.deviceId, options.source.deviceToken);
  let done = 0;
  for (const name of names) {
    const expected = release.files[name]!;
    const result = await downloadFile({
      url: artifactUrl(options.source.apiUrl, expected.sha256),
      authorization,
      destPath: join(dir, name),
      expected,
      fetch: options.source.fetch,
      clock: options.clock,
      ...(options.random ? { random: options.random } : {}),
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (received) => options.onProgress?.(done + received, total),
      onRetry: (attempt, delayMs, reason) => options.onRetry?.(name, attempt, delayMs, reason),
    });
    if (!result.ok) return result;
    done += expected.length;
  }
  return ok(undefined);
}
