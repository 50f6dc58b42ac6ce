/**
 * The systemd unit that runs `edgefleet-agent` on a device: restarted whenever it exits, as a
 * dedicated unprivileged user, with the whole file system read-only except the agent's state
 * directory (models, state.json, telemetry spool, logs of its own).
 *
 * The sandbox deliberately leaves `/dev` alone (no PrivateDevices=): execution providers need the
 * accelerator device nodes (/dev/nvidia*, /dev/dri, NPUs).
 */
import { dirname, isAbsolute } from 'node:path';

export const DEFAULT_UNIT_NAME = 'edgefleet-agent';

export interface SystemdUnitOptions {
  /** Absolute path of the `edgefleet-agent` executable (or of `node`, with the CLI in `execArgs`). */
  readonly execPath: string;
  /**
   * Arguments between the executable and `--config`, e.g. `['/opt/edgefleet/agent/dist/cli/main.js',
   * 'run']` when `execPath` is node itself; default none.
   */
  readonly execArgs?: readonly string[];
  /** Absolute path of the agent's configuration file (passed as `--config`). */
  readonly configPath: string;
  /** Absolute path of the state directory: the only path the agent may write. */
  readonly stateDir: string;
  /** System user (and, unless `group` says otherwise, group) the agent runs as; default `edgefleet`. */
  readonly user?: string;
  readonly group?: string;
  /** `MemoryMax=`, e.g. `'512M'`, `'2G'` or `'infinity'`; default `'1G'`. */
  readonly memoryMax?: string;
  /** Seconds between an exit and the restart; default 5. */
  readonly restartSec?: number;
  /** `LimitNOFILE=`; default 65536. */
  readonly limitNofile?: number;
}

const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const MEMORY = /^(infinity|\d+[KMGT]?|\d{1,3}%)$/;

/**
 * Render the unit file text. Throws a TypeError on options that would give a broken or unsafe unit
 * (relative paths, control characters, an invalid user name or memory limit): a configuration
 * mistake, found when the unit is rendered rather than when systemd refuses it.
 */
export function renderSystemdUnit(options: SystemdUnitOptions): string {
  const user = options.user ?? 'edgefleet';
  const group = options.group ?? user;
  const memoryMax = options.memoryMax ?? '1G';
  const restartSec = options.restartSec ?? 5;
  const limitNofile = options.limitNofile ?? 65536;
  for (const [what, path] of [
    ['execPath', options.execPath],
    ['configPath', options.configPath],
    ['stateDir', options.stateDir],
  ] as const) {
    checkPath(what, path);
  }
  for (const arg of options.execArgs ?? []) {
    if (arg === '' || CONTROL.test(arg) || arg.includes('"') || arg.includes('\\')) {
      throw new TypeError(`execArgs: ${JSON.stringify(arg)} cannot be written into a unit`);
    }
  }
  if (!USER.test(user)) throw new TypeError(`user ${JSON.stringify(user)} is not a valid name`);
  if (!USER.test(group)) throw new TypeError(`group ${JSON.stringify(group)} is not a valid name`);
  if (!MEMORY.test(memoryMax)) {
    throw new TypeError(`memoryMax ${JSON.stringify(memoryMax)} is not a systemd memory size`);
  }
  if (!Number.isSafeInteger(restartSec) || restartSec < 0) {
    throw new TypeError('restartSec must be a non-negative integer');
  }
  if (!Number.isSafeInteger(limitNofile) || limitNofile < 64) {
    throw new TypeError('limitNofile must be an integer of at least 64');
  }

  return [
    '[Unit]',
    'Description=Edgefleet device agent (ONNX model deployment and inference)',
    'Wants=network-online.target',
    'After=network-online.target',
    // Keep restarting however often it fails: a device has nobody to press the button.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${[options.execPath, ...(options.execArgs ?? []), '--config', options.configPath].map(quoteArg).join(' ')}`,
    'Restart=always',
    `RestartSec=${restartSec}`,
    `User=${user}`,
    `Group=${group}`,
    'Environment=NODE_ENV=production',
    `WorkingDirectory=${quoteArg(options.stateDir)}`,
    // Sandbox: everything read-only but the state directory.
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${quoteArg(options.stateDir)}`,
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RestrictRealtime=yes',
    // Resources.
    `LimitNOFILE=${limitNofile}`,
    `MemoryMax=${memoryMax}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** How to install the unit rendered with the same options, as shell commands with comments. */
export function renderInstallInstructions(
  options: SystemdUnitOptions & {
    readonly unitName?: string;
    /** Where the unit file was written; default `./<unitName>.service`. */
    readonly unitPath?: string;
  },
): string {
  const user = options.user ?? 'edgefleet';
  const group = options.group ?? user;
  const unit = options.unitName ?? DEFAULT_UNIT_NAME;
  const installed = `/etc/systemd/system/${unit}.service`;
  const unitPath = options.unitPath ?? `${unit}.service`;
  return [
    `# 1. A system user without a login shell or home directory for the agent:`,
    `sudo useradd --system --user-group --no-create-home --shell /usr/sbin/nologin ${user}`,
    `# 2. Its state directory, writable by that user only, and its configuration, readable by it only:`,
    `sudo install -d -o ${user} -g ${group} -m 0750 ${shellQuote(options.stateDir)}`,
    `sudo chown -R ${user}:${group} ${shellQuote(options.stateDir)}`,
    // `enroll` run as root creates the configuration's directory 0700: the user must reach the file.
    `sudo chown root:${group} ${shellQuote(dirname(options.configPath))} && sudo chmod 0750 ${shellQuote(dirname(options.configPath))}`,
    `sudo chown ${user}:${group} ${shellQuote(options.configPath)} && sudo chmod 0600 ${shellQuote(options.configPath)}`,
    unitPath === installed
      ? `# 3. The unit file is in place: ${installed}`
      : `# 3. The unit file (the text renderSystemdUnit returns):\nsudo cp ${shellQuote(unitPath)} ${installed}`,
    `# 4. Load it, start it now and at every boot:`,
    `sudo systemctl daemon-reload && sudo systemctl enable --now ${unit}`,
    `# Logs: journalctl -u ${unit} -f`,
    '',
  ].join('\n');
}

// C0 controls and DEL would end or corrupt a unit line.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function checkPath(what: string, path: string): void {
  if (!isAbsolute(path)) throw new TypeError(`${what} must be an absolute path, got ${path}`);
  if (CONTROL.test(path)) throw new TypeError(`${what} contains a control character`);
  if (path.includes('"') || path.includes('\\')) {
    throw new TypeError(`${what} must not contain quotes or backslashes`);
  }
}

/** Quote one argument for a unit file: `%` is a specifier prefix and spaces split words. */
function quoteArg(value: string): string {
  const escaped = value.replaceAll('%', '%%');
  return /\s/.test(escaped) ? `"${escaped}"` : escaped;
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}
