/**
 * Where the agent keeps things when the command line does not say. As root (a device service):
 * the configuration in `/etc/edgefleet-agent/agent.json`, the state in `/var/lib/edgefleet-agent`.
 * As any other user (trying it out, tests): both under `./edgefleet-agent-state`.
 * `EDGEFLEET_AGENT_CONFIG` overrides the configuration path of every command.
 */
import { join, resolve } from 'node:path';

export const SYSTEM_STATE_DIR = '/var/lib/edgefleet-agent';
export const SYSTEM_CONFIG_PATH = '/etc/edgefleet-agent/agent.json';
export const USER_STATE_DIR = 'edgefleet-agent-state';
export const CONFIG_FILE_NAME = 'agent.json';
/** The local API's default port (loopback only). */
export const DEFAULT_LOCAL_API_PORT = 8181;
export const DEFAULT_UNIT_PATH = '/etc/systemd/system/edgefleet-agent.service';

/**
 * Node flags of the agent's service: V8's young generation capped at 2 MiB semi-spaces (default up
 * to 16 MiB each). Devices are short of memory, not of CPU for a few more scavenges: measured on
 * the agent (bench/agent.ts) this keeps an idle agent ~20 MiB smaller and its RSS flat across
 * model swaps, where the default young generation grows by ~30 MiB over the first swaps.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The state directory when `--state-dir` is not given (absolute). */
export function defaultStateDir(cwd: string = process.cwd()): string {
  return isRoot() ? SYSTEM_STATE_DIR : resolve(cwd, USER_STATE_DIR);
}

/**
 * The configuration path when `--config` is not given (absolute). `stateDir` is the enrolling
 * device's state directory: a non-root enrollment keeps its configuration beside its state.
 */
export function defaultConfigPath(
  env: NodeJS.ProcessEnv = process.env,
  stateDir?: string,
  cwd: string = process.cwd(),
): string {
  const fromEnv = env.EDGEFLEET_AGENT_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(cwd, fromEnv);
  if (isRoot()) return SYSTEM_CONFIG_PATH;
  return join(stateDir ?? resolve(cwd, USER_STATE_DIR), CONFIG_FILE_NAME);
}

/** The default hardware class: operating system and CPU architecture, e.g. `linux-arm64`. */
export function defaultHardwareClass(): string {
  return `${process.platform}-${process.arch}`;
}
