/**
 * The simulator's view of the control plane: its public HTTP API, like any fleet tool (the fleet-sim
 * package never imports control-plane code).
 */
export class ControlPlaneApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ControlPlaneApiError';
  }
}

export class ControlPlaneHttp {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return this.decode<T>(res);
  }

  /** Multipart upload of small in-memory files (models and datasets the simulator generates). */
  async upload<T>(
    path: string,
    fields: Record<string, string>,
    files: Record<string, { name: string; bytes: Uint8Array | string }>,
  ): Promise<T> {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    for (const [k, f] of Object.entries(files)) form.append(k, new Blob([f.bytes]), f.name);
    const res = await fetch(`${this.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}` },
      body: form,
    });
    return this.decode<T>(res);
  }

  private async decode<T>(res: Response): Promise<T> {
    const text = await res.text();
    if (!res.ok) {
      let code = `HTTP_${res.status}`;
      let message = text.slice(0, 300);
      try {
        const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
        code = e?.code ?? code;
        message = e?.message ?? message;
      } catch {
        /* not JSON */
      }
      throw new ControlPlaneApiError(res.status, code, message);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }
}
