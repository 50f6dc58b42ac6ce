/**
 * `edgefleet-agent run`: the device service. Starts the Agent (state recovery, the active model,
 * the local API, the broker session in the background) and runs until SIGTERM or SIGINT, then
 * stops in order (the install in flight is cancelled and resumed on the next start, the last
 * telemetry window is delivered or spooled, the local API closes, the runtime releases its
 * sessions) and exits 0. A second signal while stopping exits at once with 1.
 *
 * Logs are pino JSON lines on stdout. Lines a supervisor (or a test) can wait for:
 * `edgefleet agent running` (with `localApi`), `deployment status` (every transition) and
 * `edgefleet agent stopped`.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { Agent } from '../agent.js';
import { configFileModeProblem, type AgentConfig } from '../config/agent-config.js';
import type { ModelRuntime } from '../runtime/model-runtime.js';
import { OrtInProcessRuntime } from '../runtime/ort-in-process-runtime.js';
import { OrtWorkerRuntime } from '../runtime/ort-worker-runtime.js';
import { parseFlags, stringFlag, type FlagSpec } from './args.js';
import { CliError, toCliError } from './cli-error.js';
import { loadConfig } from './config-file.js';
import { defaultConfigPath } from './defaults.js';
import { removeLocalApiFile, writeLocalApiFile } from './local-api-file.js';
import type { CliIo } from './io.js';
import { createAgentLogger, LOG_LEVELS } from './logger.js';
import { RUN_USAGE } from './usage.js';

const FLAGS: FlagSpec = {
  config: { type: 'string' },
  runtime: { type: 'string' },
  'log-level': { type: 'string' },
};

const RUNTIMES = ['worker', 'in-process'] as const;
type RuntimeMode = (typeof RUNTIMES)[number];

/** How long a stop may take before the process exits anyway (a hung run inside onnxruntime). */
const STOP_DEADLINE_MS = 30_000;

export async function runCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = parseFlags('run', argv, FLAGS);
  if (flags.help === true) {
    io.out(RUN_USAGE);
    return 0;
  }
  const mode = oneOf('--runtime', stringFlag(flags, 'runtime') ?? 'worker', RUNTIMES);
  const levelFlag = stringFlag(flags, 'log-level');
  const level = levelFlag === undefined ? undefined : oneOf('--log-level', levelFlag, LOG_LEVELS);
  const configFlag = stringFlag(flags, 'config');
  const configPath =
    configFlag !== undefined ? resolve(io.cwd, configFlag) : defaultConfigPath(io.env);
  const config = await loadConfig(configPath);
  const logger = createAgentLogger(level ?? config.logLevel);
  const modeProblem = await configFileModeProblem(configPath);
  if (modeProblem !== undefined) logger.warn({ configPath }, modeProblem);

  const runtime = createRuntime(mode, logger);
  const agent = new Agent({ config, runtime, logger });
  logAgentEvents(agent, logger);
  const signals = watchSignals(logger);
  try {
    try {
      await agent.start();
    } catch (error) {
      await agent.stop().catch(() => undefined);
      throw startError(error, config);
    }
    const status = agent.status();
    const localApi = agent.localApiAddress;
    if (localApi !== undefined) await writeLocalApiFile(config.stateDir, localApi);
    logger.info(
      {
        deviceId: config.deviceId,
        runtime: mode,
        localApi: localApi ?? null,
        activeRelease: status.activeRelease?.releaseId ?? null,
        configPath,
        stateDir: config.stateDir,
        pid: process.pid,
      },
      'edgefleet agent running',
    );
    const signal = await signals.received;
    logger.info({ signal }, 'stopping');
    // A stop that cannot finish (a run hung inside onnxruntime) must not keep the service up forever.
    const deadline = setTimeout(() => {
      logger.error({ afterMs: STOP_DEADLINE_MS }, 'stopping takes too long; exiting');
      process.exit(1);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    await agent.stop();
    await removeLocalApiFile(config.stateDir);
    clearTimeout(deadline);
    logger.info('edgefleet agent stopped');
    return 0;
  } finally {
    signals.dispose();
    await runtime.close().catch((error: unknown) => {
      logger.error({ err: error }, 'closing the runtime failed');
    });
  }
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw CliError.usage(`run: ${flag} must be one of ${allowed.join(', ')}, got ${value}`);
}

function createRuntime(mode: RuntimeMode, logger: Logger): ModelRuntime {
  // Devices often lack the optional providers: their load failures are reported per model anyway.
  if (mode === 'in-process') return new OrtInProcessRuntime({ logLevel: 'error' });
  return new OrtWorkerRuntime({
    logLevel: 'error',
    onWorkerExit: (exit) => {
      logger.error(
        { exitCode: exit.exitCode, err: exit.error, pendingCalls: exit.pendingCalls },
        'the onnxruntime worker exited; models load again on their next run',
      );
    },
  });
}

function logAgentEvents(agent: Agent, logger: Logger): void {
  agent.on('deployment', (e) => {
    const log = e.state === 'failed' || e.state === 'rolled_back' ? logger.warn : logger.info;
    log.call(logger, { ...e }, 'deployment status');
  });
  agent.on('model_changed', ({ releaseId }) => {
    logger.info({ releaseId }, 'serving model changed');
  });
  agent.on('trust_root', (change) => {
    logger.info(change, 'trust root rotated');
  });
  agent.on('telemetry', (e) => {
    logger.debug({ seq: e.seq, delivery: e.delivery }, 'telemetry window');
  });
  agent.on('malformed', (m) => {
    logger.debug(m, 'malformed message');
  });
}

/** The first SIGTERM/SIGINT resolves `received`; a second one exits at once. */
function watchSignals(logger: Logger): { received: Promise<NodeJS.Signals>; dispose(): void } {
  let count = 0;
  let resolveSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const received = new Promise<NodeJS.Signals>((resolve) => {
    resolveSignal = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    count++;
    if (count > 1) {
      logger.warn({ signal }, 'second signal while stopping; exiting now');
      process.exit(1);
    }
    resolveSignal(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    received,
    dispose() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

function startError(error: unknown, config: AgentConfig): CliError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const api = config.localApi;
  if (code === 'EADDRINUSE' && api !== null) {
    const where = 'socketPath' in api ? api.socketPath : `${api.host}:${api.port}`;
    return new CliError(
      'EF_CONFLICT',
      `the local API address ${where} is in use`,
      'is another agent running? Stop it, or change localApi in the configuration',
      { cause: error },
    );
  }
  if (code === 'EACCES') {
    return new CliError(
      'EF_FORBIDDEN',
      `permission denied: ${(error as Error).message}`,
      `the agent must be able to write ${config.stateDir}; run it as the user that owns it`,
      { cause: error },
    );
  }
  const cli = toCliError(error);
  if (cli.code === 'EF_NOT_FOUND' && cli.hint === undefined) {
    return new CliError(cli.code, cli.message, 'enroll the device first', { cause: error });
  }
  return cli;
}
