/**
 * Reading PostgreSQL errors the same way on both drivers. drizzle wraps a failed query in a
 * `DrizzleQueryError` whose `cause` is the driver's error; PGlite and postgres.js both expose the
 * SQLSTATE as `code` and the severity as `severity`, and name the violated constraint differently
 * (`constraint` vs `constraint_name`).
 */
import { EdgefleetError, type ErrorCode } from '@edgefleet/protocol';

/** SQLSTATE codes the data layer reacts to (PostgreSQL manual, appendix A). */
export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  objectNotInPrerequisiteState: '55000',
} as const;

interface DriverError {
  code: string;
  severity: string;
  constraint?: string;
  constraint_name?: string;
}

function isDriverError(e: unknown): e is DriverError {
  return (
    e instanceof Error &&
    typeof (e as Partial<DriverError>).code === 'string' &&
    typeof (e as Partial<DriverError>).severity === 'string'
  );
}

/** The PostgreSQL error inside `err` (looking through wrappers), if there is one. */
function driverErrorOf(err: unknown): DriverError | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    if (isDriverError(e)) return e;
    e = e.cause;
  }
  return undefined;
}

/** The SQLSTATE of a database error, or undefined when `err` did not come from the server. */
export function sqlStateOf(err: unknown): string | undefined {
  return driverErrorOf(err)?.code;
}

/** The name of the constraint a database error names, when it names one. */
export function constraintOf(err: unknown): string | undefined {
  const e = driverErrorOf(err);
  return e?.constraint ?? e?.constraint_name;
}

/**
 * Run `op`; when it fails with one of the SQLSTATEs in `map`, throw an EdgefleetError with that code
 * and message instead (the driver error becomes its cause). Anything else propagates unchanged.
 */
export async function mapSqlErrors<T>(
  op: () => Promise<T>,
  map: Partial<
    Record<string, { code: ErrorCode; message: string; details?: Record<string, unknown> }>
  >,
): Promise<T> {
  try {
    return await op();
  } catch (err) {
    const state = sqlStateOf(err);
    const mapped = state === undefined ? undefined : map[state];
    if (mapped === undefined) throw err;
    const constraint = constraintOf(err);
    throw new EdgefleetError(mapped.code, mapped.message, {
      details: { ...mapped.details, ...(constraint === undefined ? {} : { constraint }) },
      cause: err,
    });
  }
}
