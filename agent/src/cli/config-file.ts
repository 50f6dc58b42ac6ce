/** Read the agent's configuration file for a command, with errors that say what to do. */
import { readAgentConfig, type AgentConfig } from '../config/agent-config.js';
import { CliError } from './cli-error.js';

export async function loadConfig(path: string): Promise<AgentConfig> {
  const read = await readAgentConfig(path);
  if (read.ok) return read.value;
  if (read.code === 'EF_NOT_FOUND') {
    throw new CliError(
      'EF_NOT_FOUND',
      `no agent configuration at ${path}`,
      'enroll the device first (`edgefleet-agent enroll --server URL --token T`), or pass --config with the path enroll printed',
    );
  }
  throw new CliError(
    read.code,
    `the agent configuration ${path} is not valid: ${read.message}`,
    'fix the file, or enroll again with `edgefleet-agent enroll ... --force`',
  );
}
