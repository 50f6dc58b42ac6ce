/**
 * One error shape for the whole API: `{error: {code, message, details}}` with a stable `EF_...` code and
 * the HTTP status that code implies.
 */
import { EdgefleetError, type ErrorCode } from '@edgefleet/protocol';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

const STATUS: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  EF_BAD_REQUEST: 400,
  EF_MALFORMED: 400,
  EF_NOT_CANONICAL: 400,
  EF_UNSUPPORTED_VERSION: 400,
  EF_UNAUTHORIZED: 401,
  EF_FORBIDDEN: 403,
  EF_NOT_FOUND: 404,
  EF_NO_MODEL: 503,
  EF_CONFLICT: 409,
  EF_TOO_LARGE: 413,
  EF_INVALID_MODEL: 422,
  EF_SIGNATURE_INVALID: 422,
  EF_THRESHOLD_INVALID: 422,
  EF_WRONG_TYPE: 422,
  EF_EXPIRED: 422,
  EF_ROLLBACK_REFUSED: 422,
  EF_ROOT_VERSION_INVALID: 422,
  EF_ROOT_CHAIN_TOO_LONG: 422,
  EF_PATH_INVALID: 422,
  EF_HASH_MISMATCH: 422,
  EF_LENGTH_MISMATCH: 422,
  EF_INCOMPATIBLE: 422,
  EF_DISK_FULL: 507,
  EF_DATABASE_UNAVAILABLE: 503,
  EF_ROOT_MISMATCH: 422,
};

/** The HTTP status for an error code (500 for anything not a client error). */
export function statusOf(code: ErrorCode): ContentfulStatusCode {
  return STATUS[code] ?? 500;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

/** Write an error response. */
export function errorResponse(c: Context, err: EdgefleetError): Response {
  const body: ErrorBody = { error: { code: err.code, message: err.message } };
  if (err.details) body.error.details = { ...err.details };
  return c.json(body, statusOf(err.code));
}

/** Shorthands for the errors routes throw. */
export const httpErrors = {
  badRequest: (message: string, details?: Record<string, unknown>) =>
    new EdgefleetError('EF_BAD_REQUEST', message, details ? { details } : undefined),
  notFound: (what: string) => new EdgefleetError('EF_NOT_FOUND', `${what} not found`),
  conflict: (message: string, details?: Record<string, unknown>) =>
    new EdgefleetError('EF_CONFLICT', message, details ? { details } : undefined),
  forbidden: (message: string) => new EdgefleetError('EF_FORBIDDEN', message),
  unauthorized: (message = 'a valid bearer token is required (Authorization: Bearer <token>)') =>
    new EdgefleetError('EF_UNAUTHORIZED', message),
};
