/** What every CLI command gets: parsed flags, the API client, the output. */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, CliError } from './api-client.js';
import type { Output } from './output.js';

export interface CliContext {
  readonly args: readonly string[];
  readonly flags: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly out: Output;
  readonly env: NodeJS.ProcessEnv;
  api(): ApiClient;
}

export interface CliConfigFile {
  server?: string;
  token?: string;
}

export function configPath(env: NodeJS.ProcessEnv): string {
  return (
    env.EDGEFLEET_CONFIG ??
    join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'edgefleet', 'config.json')
  );
}

export function readConfigFile(env: NodeJS.ProcessEnv): CliConfigFile {
  try {
    return JSON.parse(readFileSync(configPath(env), 'utf8')) as CliConfigFile;
  } catch {
    return {};
  }
}

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/** Server URL and token: flags, then environment, then the config file written by `edgefleet login`. */
export function apiFor(flags: CliContext['flags'], env: NodeJS.ProcessEnv): ApiClient {
  const file = readConfigFile(env);
  const server = str(flags.server) ?? env.EDGEFLEET_SERVER ?? file.server ?? DEFAULT_SERVER;
  const token = str(flags.token) ?? env.EDGEFLEET_TOKEN ?? file.token;
  return new ApiClient({ server, token });
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function list(v: unknown): string[] {
  if (v === undefined || v === false) return [];
  const items = Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
  return items
    .flatMap((x) => x.split(','))
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

export function required(ctx: CliContext, name: string): string {
  const v = str(ctx.flags[name]);
  if (v === undefined || v === '') throw new CliError(`--${name} is required`, 'EF_USAGE');
  return v;
}

export function positional(ctx: CliContext, index: number, what: string): string {
  const v = ctx.args[index];
  if (v === undefined) throw new CliError(`missing ${what}`, 'EF_USAGE');
  return v;
}

/** `k=v` pairs into a label object. */
export function labels(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i <= 0) throw new CliError(`labels are key=value, got ${JSON.stringify(item)}`, 'EF_USAGE');
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}
