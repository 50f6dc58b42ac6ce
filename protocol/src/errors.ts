/**
 * Stable error codes shared by every part of Edgefleet.
 *
 * A code is part of the contract: it appears in API error bodies (`{error: {code, message, details}}`),
 * in logs, and — lower-cased without the `EF_` prefix — as the `reason` of device status events
 * (`EF_SIGNATURE_INVALID` <-> `signature_invalid`). Never rename a code; add new ones.
 */
export const ERROR_CODES = {
  // --- Encoding and decoding -------------------------------------------------------------------
  EF_MALFORMED: 'The input does not match the expected schema.',
  EF_NOT_CANONICAL: 'The bytes are not the RFC 8785 canonical JSON form of the document.',
  EF_TOO_LARGE: 'The input is larger than the allowed byte cap.',
  EF_UNSUPPORTED_VERSION: 'The message schema version (`v`) is not supported by this build.',
  // --- Trust (TUF/Uptane-style verification) ---------------------------------------------------
  EF_SIGNATURE_INVALID:
    'Not enough valid signatures from the keys the role trusts (threshold not met).',
  EF_THRESHOLD_INVALID: 'A role threshold is below 1 or above the number of its keys.',
  EF_WRONG_TYPE: 'The document `_type` is not the one expected here.',
  EF_EXPIRED: 'The document expired (checked against max(clock, persisted time floor)).',
  EF_ROLLBACK_REFUSED: 'The counter or version is not newer than the one already trusted.',
  EF_WRONG_DEVICE: 'The directive is bound to another device.',
  EF_INCOMPATIBLE: 'The release does not fit this device (hardware class, runtime, opset or EPs).',
  EF_MIX_AND_MATCH: 'The directive names a different release document than the one presented.',
  EF_ROOT_VERSION_INVALID: 'A new root must have version exactly N+1.',
  EF_ROOT_CHAIN_TOO_LONG: 'The root rotation chain is longer than the allowed cap.',
  EF_PATH_INVALID: 'A file path in a release is not a plain file name.',
  EF_EXTRANEOUS_FILE: 'A file that the release does not list was offered for installation.',
  EF_HASH_MISMATCH: 'A file does not have the sha256 its release signs.',
  EF_LENGTH_MISMATCH: 'A file is longer or shorter than its release signs.',
  // --- Device deployment (reasons of `failed` / `rolled_back`) ---------------------------------
  EF_DOWNLOAD_FAILED: 'An artifact could not be downloaded (network or server error).',
  EF_DISK_FULL: 'Not enough free disk space to stage the release.',
  EF_LOAD_FAILED: 'The runtime could not load the model.',
  EF_HEALTH_CHECK_FAILED:
    'The model did not produce the expected output on the health-check sample.',
  EF_SOAK_FAILED: 'The model exceeded the allowed error rate while soaking.',
  EF_SUPERSEDED: 'A newer directive replaced this deployment before it finished.',
  // --- API and operator surface ----------------------------------------------------------------
  EF_BAD_REQUEST: 'The request body, query or path parameters are invalid.',
  EF_UNAUTHORIZED: 'A valid bearer token is required.',
  EF_FORBIDDEN: 'The token is valid but its role is too low for this action.',
  EF_NOT_FOUND: 'No such resource.',
  EF_NO_MODEL: 'No model is active on this device yet; wait for a deployment to succeed.',
  EF_CONFLICT: 'The resource already exists or is in a state that does not allow this action.',
  EF_INVALID_MODEL: 'The file is not a valid ONNX model that onnxruntime can load.',
  EF_DATABASE_UNAVAILABLE:
    'The database cannot be reached or migrated; check DATABASE_URL and the server log.',
  EF_ROOT_MISMATCH:
    'The trust root offered at enrollment is not the one this device was told to pin (sha256 differs).',
  EF_INTERNAL: 'An unexpected internal error; the log has the details.',
} as const;

/** A stable, machine-readable error code (`EF_...`). */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The `reason` form of an error code as used in device status events: `EF_HASH_MISMATCH` -> `hash_mismatch`. */
export type ReasonCode = Lowercase<ErrorCode extends `EF_${infer R}` ? R : never>;

/** Convert an error code into the reason code reported on `status`. */
export function reasonOf(code: ErrorCode): ReasonCode {
  return code.slice(3).toLowerCase() as ReasonCode;
}

/** Convert a reason code back into its error code. */
export function codeOfReason(reason: ReasonCode): ErrorCode {
  return `EF_${reason.toUpperCase()}` as ErrorCode;
}

/** True if `s` is a known error code. */
export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ERROR_CODES, s);
}

/** A failure value: a stable code, a message written for the person reading it, optional details. */
export interface Failure {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A success value. */
export interface Success<T> {
  readonly ok: true;
  readonly value: T;
}

/** The result of an operation on untrusted input: verifiers and decoders return this, never throw. */
export type Result<T> = Success<T> | Failure;

export function ok<T>(value: T): Success<T> {
  return { ok: true, value };
}

export function fail(
  code: ErrorCode,
  message: string = ERROR_CODES[code],
  details?: Record<string, unknown>,
): Failure {
  return details === undefined
    ? { ok: false, code, message }
    : { ok: false, code, message, details };
}

/**
 * An exception carrying a stable code, for code paths where throwing is the right shape
 * (configuration mistakes, I/O shells). Pure verifiers and decoders return `Result` instead.
 */
export class EdgefleetError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string = ERROR_CODES[code],
    options?: { details?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgefleetError';
    this.code = code;
    this.details = options?.details;
  }

  static fromFailure(f: Failure): EdgefleetError {
    return new EdgefleetError(
      f.code,
      f.message,
      f.details ? { details: { ...f.details } } : undefined,
    );
  }
}
