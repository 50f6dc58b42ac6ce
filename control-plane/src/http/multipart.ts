/**
 * Streaming multipart uploads: each file part goes straight into the artifact store while being hashed
 * (never buffered whole); text fields are collected with small caps.
 */
import { Readable } from 'node:stream';
import busboy from 'busboy';
import { EdgefleetError } from '@edgefleet/protocol';
import type { ArtifactStore, StoredArtifact } from '../registry/artifact-store.js';

export interface MultipartLimits {
  /** Largest file part, in bytes. */
  readonly maxFileBytes: number;
  /** Which file fields are accepted (others are refused). */
  readonly fileFields: readonly string[];
  /** Largest text field, in bytes. */
  readonly maxFieldBytes?: number;
}

export interface MultipartResult {
  readonly fields: Record<string, string>;
  readonly files: Record<string, StoredArtifact & { filename: string }>;
}

/** Parse a multipart request body into stored artifacts and text fields. */
export async function receiveMultipart(
  request: Request,
  store: ArtifactStore,
  limits: MultipartLimits,
): Promise<MultipartResult> {
  const type = request.headers.get('content-type') ?? '';
  if (!type.toLowerCase().startsWith('multipart/form-data') || !request.body) {
    throw new EdgefleetError('EF_BAD_REQUEST', 'expected a multipart/form-data body');
  }
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: { 'content-type': type },
      limits: {
        fieldSize: limits.maxFieldBytes ?? 64 * 1024,
        fields: 32,
        files: limits.fileFields.length,
      },
    });
  } catch (e) {
    throw new EdgefleetError('EF_BAD_REQUEST', `bad multipart header: ${(e as Error).message}`);
  }
  const fields: Record<string, string> = {};
  const files: Record<string, StoredArtifact & { filename: string }> = {};
  const pending: Array<Promise<void>> = [];
  let failure: Error | undefined;

  const done = new Promise<void>((resolve, reject) => {
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) {
        failure ??= new EdgefleetError('EF_TOO_LARGE', `form field ${name} is too large`);
        return;
      }
      fields[name] = value;
    });
    bb.on('file', (name, stream, info) => {
      if (!limits.fileFields.includes(name) || files[name] !== undefined) {
        failure ??= new EdgefleetError(
          'EF_BAD_REQUEST',
          `unexpected file field ${JSON.stringify(name)}; accepted: ${limits.fileFields.join(', ')}`,
        );
        stream.resume();
        return;
      }
      pending.push(
        store.put(stream, { maxBytes: limits.maxFileBytes }).then(
          (stored) => {
            files[name] = { ...stored, filename: info.filename ?? name };
          },
          (e: unknown) => {
            failure ??= e instanceof Error ? e : new Error(String(e));
            stream.resume();
          },
        ),
      );
    });
    bb.on('filesLimit', () => {
      failure ??= new EdgefleetError('EF_BAD_REQUEST', 'too many files in the form');
    });
    bb.on('error', (e: unknown) => {
      reject(
        new EdgefleetError('EF_BAD_REQUEST', `malformed multipart body: ${(e as Error).message}`),
      );
    });
    bb.on('close', () => {
      resolve();
    });
  });

  const source = Readable.fromWeb(request.body);
  source.on('error', (e) => bb.destroy(e));
  source.pipe(bb);
  await done;
  await Promise.all(pending);
  if (failure !== undefined) throw failure;
  return { fields, files };
}
