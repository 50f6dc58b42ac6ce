/**
 * Test support: a tiny artifact server (node:http on port 0) shaped like the control plane's
 * `GET /v1/artifacts/{sha256}`: Basic auth, `Range: bytes=N-`, and faults to inject per artifact
 * (cut the connection mid-file, serve other bytes, serve extra bytes, ignore ranges, fail with a
 * status). It records every request, so tests can assert what was fetched and how.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ArtifactFault {
  /** The next response sends this many bytes, then cuts the connection (once). */
  cutAfter?: number;
  /**
   * The next response (chunked, no length) ends cleanly after this many bytes (once). Unlike a cut,
   * every byte sent reaches the client: a stream that errors may discard bytes it had buffered.
   */
  endAfter?: number;
  /** Serve these bytes instead of the artifact. */
  replaceWith?: Uint8Array;
  /** Send these bytes after the artifact. */
  extra?: Uint8Array;
  /** Answer 200 with the whole file even to a range request. */
  ignoreRange?: boolean;
  /** Answer with `code` to the next `times` requests. */
  status?: { code: number; times: number };
}

export interface ArtifactRequest {
  readonly sha256: string;
  readonly range: string | undefined;
  readonly authorization: string | undefined;
  readonly status: number;
  /** Body bytes written for this request. */
  bytesSent: number;
}

export interface ArtifactServer {
  /** Base URL (the agent's `apiUrl`). */
  readonly url: string;
  readonly requests: ArtifactRequest[];
  /** Serve `bytes`; returns their sha256. */
  add(bytes: Uint8Array): string;
  fault(sha256: string, fault: ArtifactFault): void;
  /** Called before each artifact response. */
  onRequest: ((sha256: string) => void | Promise<void>) | undefined;
  /** Body bytes sent for `sha256`, over all requests. */
  bytesSent(sha256: string): number;
  close(): Promise<void>;
}

export async function startArtifactServer(credentials?: {
  readonly deviceId: string;
  readonly token: string;
}): Promise<ArtifactServer> {
  const artifacts = new Map<string, Uint8Array>();
  const faults = new Map<string, ArtifactFault>();
  const requests: ArtifactRequest[] = [];
  const expectedAuth =
    credentials === undefined
      ? undefined
      : `Basic ${Buffer.from(`${credentials.deviceId}:${credentials.token}`).toString('base64')}`;

  const api: ArtifactServer = {
    url: '',
    requests,
    add(bytes) {
      const sha = createHash('sha256').update(bytes).digest('hex');
      artifacts.set(sha, bytes);
      return sha;
    },
    fault(sha, fault) {
      faults.set(sha, { ...fault });
    },
    onRequest: undefined,
    bytesSent: (sha) =>
      requests.filter((r) => r.sha256 === sha).reduce((sum, r) => sum + r.bytesSent, 0),
    close: () => Promise.resolve(),
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/v1\/artifacts\/([0-9a-f]{64})$/.exec(req.url ?? '');
    const record = (status: number, sha = ''): ArtifactRequest => {
      const r: ArtifactRequest = {
        sha256: sha,
        range: req.headers.range,
        authorization: req.headers.authorization,
        status,
        bytesSent: 0,
      };
      requests.push(r);
      return r;
    };
    if (expectedAuth !== undefined && req.headers.authorization !== expectedAuth) {
      record(401);
      res.writeHead(401).end();
      return;
    }
    const sha = match?.[1];
    const stored = sha === undefined ? undefined : artifacts.get(sha);
    if (sha === undefined || stored === undefined) {
      record(404, sha);
      res.writeHead(404).end();
      return;
    }
    await api.onRequest?.(sha);
    const fault = faults.get(sha) ?? {};
    if (fault.status !== undefined && fault.status.times > 0) {
      fault.status.times--;
      record(fault.status.code, sha);
      res.writeHead(fault.status.code).end();
      return;
    }
    let body = fault.replaceWith ?? stored;
    if (fault.extra !== undefined) body = Buffer.concat([body, fault.extra]);
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    let status = 200;
    const headers: Record<string, string> = { 'accept-ranges': 'bytes', etag: `"${sha}"` };
    if (range !== null && fault.ignoreRange !== true) {
      start = Number(range[1]);
      if (start >= body.length) {
        record(416, sha);
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    const part = body.subarray(start);
    headers['content-length'] = String(part.length);
    const r = record(status, sha);
    if (fault.endAfter !== undefined) delete headers['content-length'];
    res.writeHead(status, headers);
    if (fault.endAfter !== undefined) {
      const end = Math.min(fault.endAfter, part.length);
      delete fault.endAfter;
      r.bytesSent = end;
      res.end(part.subarray(0, end));
      return;
    }
    if (fault.cutAfter !== undefined) {
      const cut = Math.min(fault.cutAfter, part.length);
      delete fault.cutAfter;
      r.bytesSent = cut;
      res.write(part.subarray(0, cut), () => {
        res.socket?.destroy();
      });
      return;
    }
    r.bytesSent = part.length;
    res.end(part);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.destroy();
    });
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    ...api,
    get onRequest() {
      return api.onRequest;
    },
    set onRequest(hook) {
      api.onRequest = hook;
    },
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
