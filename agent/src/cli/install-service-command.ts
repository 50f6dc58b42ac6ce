/**
 * `edgefleet-agent install-service`: write the systemd unit that runs this agent (`run --config F`
 * with the real node binary and this CLI's real path, so it survives PATH differences under
 * systemd) and print how to enable it.
 */
import { realpathSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_UNIT_NAME,
  renderInstallInstructions,
  renderSystemdUnit,
  type SystemdUnitOptions,
} from '../service/systemd.js';
import { parseFlags, stringFlag, type FlagSpec } from './args.js';
import { CliError } from './cli-error.js';
import { loadConfig } from './config-file.js';
import { AGENT_NODE_FLAGS, DEFAULT_UNIT_PATH, defaultConfigPath } from './defaults.js';
import { INSTALL_SERVICE_USAGE } from './usage.js';
import type { CliIo } from './io.js';

const FLAGS: FlagSpec = {
  config: { type: 'string' },
  user: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
};

/** The CLI file of this build (dist/cli/main.js), resolved through symlinks (npm's bin link). */
export function cliScriptPath(): string {
  return realpathSync(fileURLToPath(new URL('./main.js', import.meta.url)));
}

export async function installServiceCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = parseFlags('install-service', argv, FLAGS);
  if (flags.help === true) {
    io.out(INSTALL_SERVICE_USAGE);
    return 0;
  }
  const configFlag = stringFlag(flags, 'config');
  const configPath =
    configFlag !== undefined ? resolve(io.cwd, configFlag) : defaultConfigPath(io.env);
  const config = await loadConfig(configPath);
  const unitPath = resolve(io.cwd, stringFlag(flags, 'out') ?? DEFAULT_UNIT_PATH);
  const options: SystemdUnitOptions = {
    execPath: realpathSync(process.execPath),
    execArgs: [...AGENT_NODE_FLAGS, cliScriptPath(), 'run'],
    configPath,
    stateDir: config.stateDir,
    user: stringFlag(flags, 'user') ?? 'edgefleet',
  };
  let unit: string;
  try {
    unit = renderSystemdUnit(options);
  } catch (error) {
    throw CliError.usage(
      `install-service: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  try {
    await mkdir(dirname(unitPath), { recursive: true });
    await writeFile(unitPath, unit, { mode: 0o644 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new CliError(
        'EF_FORBIDDEN',
        `cannot write ${unitPath}: permission denied`,
        `run it with sudo, or write the unit elsewhere with --out ./${DEFAULT_UNIT_NAME}.service and copy it`,
        { cause: error },
      );
    }
    throw error;
  }
  const instructions = renderInstallInstructions({ ...options, unitPath });
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? '';
  const warnings: string[] = [];
  const api = config.localApi;
  if (
    api !== null &&
    'socketPath' in api &&
    relative(config.stateDir, api.socketPath).startsWith('..')
  ) {
    warnings.push(
      `the local API socket ${api.socketPath} is outside ${config.stateDir}, the only path the unit lets the agent write: move it into the state directory`,
    );
  }
  if (flags.json === true) {
    io.out(JSON.stringify({ unitPath, execStart, instructions, warnings }, null, 2));
    return 0;
  }
  io.out(`wrote ${unitPath}\n  ExecStart=${execStart}\n\n${instructions}`);
  for (const w of warnings) io.err(`warning: ${w}`);
  return 0;
}
