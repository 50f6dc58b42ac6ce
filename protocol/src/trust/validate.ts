/**
 * zod parsing into `Result`, with specific error codes.
 *
 * Most schema failures are EF_MALFORMED, but some rules have a code of their own (a role threshold:
 * EF_THRESHOLD_INVALID; a file name: EF_PATH_INVALID). A refinement states its code with
 * `addCodedIssue`, and `parseWith` reports the first coded issue's code.
 */
import type { z } from 'zod';
import { EdgefleetError, fail, isErrorCode, ok, type ErrorCode, type Result } from '../errors.js';

const MAX_REPORTED_ISSUES = 10;

/** Add a refinement issue that carries its own error code. */
export function addCodedIssue(
  ctx: z.RefinementCtx,
  code: ErrorCode,
  message: string,
  path: readonly PropertyKey[] = [],
): void {
  ctx.addIssue({ code: 'custom', message, path: [...path], params: { efCode: code } });
}

function codeOf(issue: z.core.$ZodIssue): ErrorCode | undefined {
  if (issue.code !== 'custom') return undefined;
  const efCode: unknown = issue.params?.efCode;
  return typeof efCode === 'string' && isErrorCode(efCode) ? efCode : undefined;
}

function describe(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

/** Parse `value` with `schema`; on failure the first coded issue's code, else EF_MALFORMED. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): Result<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return ok(parsed.data);
  const issues = parsed.error.issues;
  const coded = issues.find((i) => codeOf(i) !== undefined);
  const first = coded ?? issues[0];
  return fail(
    (coded && codeOf(coded)) ?? 'EF_MALFORMED',
    first === undefined ? `${what} is invalid` : `${what} is invalid: ${describe(first)}`,
    { issues: issues.slice(0, MAX_REPORTED_ISSUES).map(describe) },
  );
}

/** The value of `r`, or its failure thrown as an EdgefleetError (for builders, where bad input is a bug). */
export function orThrow<T>(r: Result<T>): T {
  if (!r.ok) throw EdgefleetError.fromFailure(r);
  return r.value;
}
