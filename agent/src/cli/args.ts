/**
 * Command-line flags of one sub-command, parsed strictly with `node:util` `parseArgs`: an unknown
 * flag, a missing value or a stray positional argument is a usage error (exit code 2), never
 * silently ignored (a mistyped `--state-dir` must not enroll into the default directory).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './cli-error.js';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export type ParsedFlags = Record<string, string | boolean | string[] | undefined>;

/** Parse `argv` (the arguments after the sub-command) against `spec`. */
export function parseFlags(command: string, argv: readonly string[], spec: FlagSpec): ParsedFlags {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { ...spec, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    return values;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw CliError.usage(`${command}: ${message}`, `run \`edgefleet-agent ${command} --help\``);
  }
}

/** A string flag's value (undefined when absent). */
export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value : undefined;
}

/** A string flag that must be given. */
export function requiredFlag(command: string, flags: ParsedFlags, name: string): string {
  const value = stringFlag(flags, name);
  if (value === undefined || value === '') {
    throw CliError.usage(`${command}: --${name} is required`);
  }
  return value;
}

/** A repeatable string flag's values (empty when absent). */
export function listFlag(flags: ParsedFlags, name: string): string[] {
  const value = flags[name];
  if (Array.isArray(value)) return value;
  return typeof value === 'string' ? [value] : [];
}

/** An integer flag in [min, max]. */
export function intFlag(
  command: string,
  flags: ParsedFlags,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const text = stringFlag(flags, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw CliError.usage(`${command}: --${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** `k=v` pairs of a repeatable flag, as a record; a duplicate key is a usage error. */
export function keyValueFlags(
  command: string,
  flags: ParsedFlags,
  name: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of listFlag(flags, name)) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) {
      throw CliError.usage(`${command}: --${name} takes key=value, got ${JSON.stringify(pair)}`);
    }
    const key = pair.slice(0, eq);
    if (Object.hasOwn(out, key)) {
      throw CliError.usage(`${command}: --${name} ${key} is given twice`);
    }
    out[key] = pair.slice(eq + 1);
  }
  return out;
}
