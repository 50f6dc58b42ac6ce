#!/usr/bin/env node
/**
 * `edgefleet-agent`: the device agent's command line.
 *
 *     edgefleet-agent enroll --server URL --token T [...]   enroll, write config + pinned root
 *     edgefleet-agent run [--config F]                      run the agent until SIGTERM/SIGINT
 *     edgefleet-agent status [--config F] [--json]          what the device holds and serves
 *     edgefleet-agent install-service [--config F] [...]    write the systemd unit
 *
 * Errors print `error EF_CODE: message` and a `hint:` line on stderr; the exit code is 1, or 2 for
 * a command line mistake.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { AGENT_VERSION } from '../core/version.js';
import { CliError, toCliError } from './cli-error.js';
import { processIo, type CliIo } from './io.js';
import { USAGE } from './usage.js';

type Command = (argv: readonly string[], io: CliIo) => Promise<number>;

// Loaded on demand: `status` and `install-service` need neither onnxruntime nor MQTT.
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  enroll: async () => (await import('./enroll-command.js')).enrollCommand,
  run: async () => (await import('./run-command.js')).runCommand,
  status: async () => (await import('./status-command.js')).statusCommand,
  'install-service': async () =>
    (await import('./install-service-command.js')).installServiceCommand,
};

/** Run one command line; resolves with the process exit code (never rejects). */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      io.out(USAGE);
      return 0;
    }
    if (command === 'version' || command === '--version') {
      io.out(AGENT_VERSION);
      return 0;
    }
    const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (load === undefined) {
      throw CliError.usage(
        `unknown command ${JSON.stringify(command)}`,
        'the commands are enroll, run, status and install-service (`edgefleet-agent help`)',
      );
    }
    const run = await load();
    return await run(rest, io);
  } catch (error) {
    const e = toCliError(error);
    io.err(`error ${e.code}: ${e.message}`);
    if (e.hint !== undefined) io.err(`hint: ${e.hint}`);
    return e.exitCode;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
  // Whatever still holds the event loop (a socket closing slowly) gets a moment, not forever.
  setTimeout(() => process.exit(code), 3000).unref();
}
