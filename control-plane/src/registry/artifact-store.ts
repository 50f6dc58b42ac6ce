/**
 * Content-addressed artifact storage. Artifacts are named by their sha256, so they are immutable, can be
 * cached anywhere (agents trust hashes, never URLs) and are stored once however many versions use them.
 *
 * The default store keeps files under `<dir>/<aa>/<sha256>`; uploads stream to a temp file while hashing
 * (never buffered whole), are fsynced, then renamed into place.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { EdgefleetError } from '@edgefleet/protocol';

export interface StoredArtifact {
  readonly sha256: string;
  readonly length: number;
}

export interface ArtifactStore {
  /** Stream bytes in; fails with EF_TOO_LARGE past `maxBytes` (nothing is kept then). */
  put(
    source: Readable | AsyncIterable<Uint8Array>,
    opts?: { maxBytes?: number },
  ): Promise<StoredArtifact>;
  /** Store bytes already in memory (small artifacts: profiles, health-check samples). */
  putBytes(bytes: Uint8Array): Promise<StoredArtifact>;
  stat(sha256: string): Promise<StoredArtifact | undefined>;
  /** A readable stream of the artifact, or of the inclusive byte range [start, end]. */
  read(sha256: string, range?: { start: number; end: number }): Readable;
  /** A local file path (for tools that need one, such as onnxruntime). */
  path(sha256: string): string;
}

const SHA256 = /^[0-9a-f]{64}$/;

export function isSha256(s: string): boolean {
  return SHA256.test(s);
}

/** The filesystem artifact store. */
export class FsArtifactStore implements ArtifactStore {
  private ready: Promise<void> | undefined;

  constructor(private readonly dir: string) {}

  private init(): Promise<void> {
    this.ready ??= mkdir(join(this.dir, 'tmp'), { recursive: true }).then(() => undefined);
    return this.ready;
  }

  path(sha256: string): string {
    if (!isSha256(sha256))
      throw new EdgefleetError('EF_BAD_REQUEST', 'artifact ids are lowercase hex sha256');
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async put(
    source: Readable | AsyncIterable<Uint8Array>,
    opts: { maxBytes?: number } = {},
  ): Promise<StoredArtifact> {
    await this.init();
    const maxBytes = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
    const tmp = join(this.dir, 'tmp', `${Date.now()}-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let length = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        length += chunk.length;
        if (length > maxBytes) {
          done(
            new EdgefleetError('EF_TOO_LARGE', `upload exceeds the limit of ${maxBytes} bytes`, {
              details: { maxBytes },
            }),
          );
          return;
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, meter, createWriteStream(tmp, { flags: 'wx' }));
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const sha256 = hash.digest('hex');
      const final = this.path(sha256);
      await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true });
      await rename(tmp, final);
      return { sha256, length };
    } catch (e) {
      await rm(tmp, { force: true });
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new EdgefleetError('EF_DISK_FULL', 'the artifact store is out of disk space', {
          cause: e,
        });
      }
      throw e;
    }
  }

  async putBytes(bytes: Uint8Array): Promise<StoredArtifact> {
    return this.put(Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]));
  }

  async stat(sha256: string): Promise<StoredArtifact | undefined> {
    if (!isSha256(sha256)) return undefined;
    try {
      const s = await stat(this.path(sha256));
      return { sha256, length: s.size };
    } catch {
      return undefined;
    }
  }

  read(sha256: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.path(sha256), range ? { start: range.start, end: range.end } : {});
  }
}

/**
 * Parse a single `Range: bytes=a-b` header against a length. Returns undefined for no/ignored range,
 * 'unsatisfiable' for a range outside the file (answer 416). Multi-range requests are served whole.
 */
export function parseRange(
  header: string | undefined,
  length: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, length - suffix);
    end = length - 1;
  } else {
    start = Number(a);
    end = b === '' ? length - 1 : Math.min(Number(b), length - 1);
  }
  if (start >= length || start > end) return 'unsatisfiable';
  return { start, end };
}
