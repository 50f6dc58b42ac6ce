/**
 * The CLI's client for the control-plane HTTP API: bearer token from `EDGEFLEET_TOKEN` or the config
 * file, errors turned into `CliError` carrying the server's stable code and message.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { randomBytes } from 'node:crypto';

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly hint?: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ApiClientOptions {
  readonly server: string;
  readonly token: string | undefined;
  readonly fetch?: typeof fetch;
}

export interface FilePart {
  readonly field: string;
  readonly path: string;
  readonly contentType?: string;
}

export class ApiClient {
  private readonly base: string;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: ApiClientOptions) {
    this.base = options.server.replace(/\/+$/, '');
    this.doFetch = options.fetch ?? fetch;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.options.token ? { authorization: `Bearer ${this.options.token}`, ...extra } : extra;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await this.doFetch(`${this.base}${path}`, {
        method,
        headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
        // A string body is sent as-is (e.g. canonical JSON that must keep its exact bytes).
        ...(body === undefined
          ? {}
          : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
    } catch (e) {
      throw new CliError(
        `cannot reach the control plane at ${this.base}: ${(e as Error).message}`,
        'EF_UNREACHABLE',
        'is `edgefleet server` running? Set --server or EDGEFLEET_SERVER to its URL.',
      );
    }
    return this.decode<T>(res);
  }

  private async decode<T>(res: Response): Promise<T> {
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const err = (
        json as { error?: { code?: string; message?: string; details?: unknown } } | undefined
      )?.error;
      const code = err?.code ?? `HTTP_${res.status}`;
      throw new CliError(
        err?.message ?? (text.slice(0, 200) || res.statusText),
        code,
        hintFor(code),
        err?.details,
      );
    }
    return json as T;
  }

  /**
   * POST a multipart form with files streamed from disk (never read whole into memory), reporting
   * progress in bytes sent.
   */
  async upload<T>(
    path: string,
    fields: Record<string, string>,
    files: readonly FilePart[],
    onProgress?: (sent: number, total: number) => void,
  ): Promise<T> {
    const boundary = `----edgefleet${randomBytes(12).toString('hex')}`;
    const enc = new TextEncoder();
    const head: Uint8Array[] = [];
    for (const [k, v] of Object.entries(fields)) {
      head.push(
        enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`),
      );
    }
    const parts: Array<{ header: Uint8Array; path: string; size: number }> = [];
    for (const f of files) {
      const size = (await stat(f.path)).size;
      const header = enc.encode(
        `--${boundary}\r\nContent-Disposition: form-data; name="${f.field}"; filename="${basename(f.path)}"\r\n` +
          `Content-Type: ${f.contentType ?? 'application/octet-stream'}\r\n\r\n`,
      );
      parts.push({ header, path: f.path, size });
    }
    const tail = enc.encode(`--${boundary}--\r\n`);
    const crlf = enc.encode('\r\n');
    const total =
      head.reduce((n, b) => n + b.length, 0) +
      parts.reduce((n, p) => n + p.header.length + p.size + crlf.length, 0) +
      tail.length;
    let sent = 0;
    const report = (n: number) => {
      sent += n;
      onProgress?.(sent, total);
    };
    async function* body(): AsyncGenerator<Uint8Array> {
      for (const h of head) {
        report(h.length);
        yield h;
      }
      for (const p of parts) {
        report(p.header.length);
        yield p.header;
        for await (const chunk of createReadStream(p.path)) {
          const b = chunk as Buffer;
          report(b.length);
          yield b;
        }
        report(crlf.length);
        yield crlf;
      }
      report(tail.length);
      yield tail;
    }
    let res: Response;
    try {
      res = await this.doFetch(`${this.base}${path}`, {
        method: 'POST',
        headers: this.headers({
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(total),
        }),
        body: ReadableStream.from(body()),
        duplex: 'half',
      });
    } catch (e) {
      throw new CliError(
        `upload to ${this.base} failed: ${(e as Error).message}`,
        'EF_UNREACHABLE',
        'is `edgefleet server` running and reachable?',
      );
    }
    return this.decode<T>(res);
  }
}

/** What to do next, by error code. */
export function hintFor(code: string): string | undefined {
  switch (code) {
    case 'EF_UNAUTHORIZED':
      return 'set EDGEFLEET_TOKEN (the bootstrap admin token is in <data-dir>/admin-token) or run `edgefleet login`.';
    case 'EF_FORBIDDEN':
      return 'ask an admin for a token with a higher role (`edgefleet tokens create --role deployer`).';
    case 'EF_INVALID_MODEL':
      return 'check that the file is an ONNX model that onnxruntime can load (e.g. re-export it).';
    case 'EF_TOO_LARGE':
      return 'raise the server limit (--max-upload-mb) or upload a smaller file.';
    case 'EF_CONFLICT':
      return 'versions are immutable: push a new version instead.';
    default:
      return undefined;
  }
}
