/**
 * The dashboard's client of the operator API: the token from sessionStorage as a Bearer header,
 * JSON in and out, the API's error shape (`{error: {code, message}}`) turned into ApiError.
 */
const TOKEN_KEY = 'edgefleet.operatorToken';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type Role = 'viewer' | 'deployer' | 'admin';

export interface Me {
  readonly tokenId: string;
  readonly name: string;
  readonly role: Role;
  readonly canDeploy: boolean;
  readonly canAdminister: boolean;
}

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* storage disabled: the session lasts as long as the page */
  }
}

type Query = Readonly<Record<string, string | number | undefined | null>>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const q = params.toString();
  return q === '' ? path : `${path}?${q}`;
}

export class Api {
  constructor(readonly token: string) {}

  get headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, accept: 'application/json' };
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', withQuery(path, query));
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: {
          ...this.headers,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError(0, 'EF_NETWORK', `cannot reach the control plane (${String(e)})`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(
        res.status,
        err?.code ?? `HTTP_${res.status}`,
        err?.message ?? (text.slice(0, 200) || res.statusText),
      );
    }
    return json as T;
  }
}

/** What to tell someone whose sign-in failed. */
export function signInError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 401) return 'This token is unknown, revoked or expired.';
    if (e.status === 403) return 'This is not an operator token (device tokens cannot sign in).';
    if (e.status === 0) return `Cannot reach the control plane: ${e.message}`;
    return `Sign-in failed: ${e.message}`;
  }
  return `Sign-in failed: ${String(e)}`;
}
