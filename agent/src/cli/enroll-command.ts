/**
 * `edgefleet-agent enroll`: enroll this device with a control plane and write what the agent needs
 * to run: the configuration (device credentials, URLs, local API, execution providers; mode 0600)
 * and the pinned trust root in the state directory (mode 0600).
 *
 * An existing enrollment is never overwritten by accident: a configuration file or a trust state
 * already there is refused without `--force`. With `--force` the device starts over: its old trust
 * state, deployment journal, models, telemetry spool and sequence are removed, because they belong
 * to the old identity (a kept directive counter would refuse the new control plane's directives as
 * replays; a kept telemetry sequence would be deduplicated away).
 */
import { createHash } from 'node:crypto';
import { access, mkdir, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { initTrustState } from '@edgefleet/protocol';
import {
  AgentConfigSchema,
  writeAgentConfig,
  type AgentConfig,
  type AgentConfigInput,
} from '../config/agent-config.js';
import { detectOrtFacts, type RuntimeFacts } from '../config/device-facts.js';
import { ensureStateDirs, statePaths, type StatePaths } from '../config/state-dir.js';
import { writePinnedRoot } from '../config/trust-store.js';
import {
  intFlag,
  keyValueFlags,
  parseFlags,
  requiredFlag,
  stringFlag,
  type FlagSpec,
  type ParsedFlags,
} from './args.js';
import { CliError } from './cli-error.js';
import {
  DEFAULT_LOCAL_API_PORT,
  defaultConfigPath,
  defaultHardwareClass,
  defaultStateDir,
} from './defaults.js';
import { ENROLL_USAGE } from './usage.js';
import { enrollDevice } from './enrollment.js';
import { readLocalApiFile } from './local-api-file.js';
import type { CliIo } from './io.js';

const FLAGS: FlagSpec = {
  server: { type: 'string' },
  token: { type: 'string' },
  label: { type: 'string', multiple: true },
  'hardware-class': { type: 'string' },
  'device-id': { type: 'string' },
  'state-dir': { type: 'string' },
  config: { type: 'string' },
  'local-api-port': { type: 'string' },
  'local-api-socket': { type: 'string' },
  'no-local-api': { type: 'boolean' },
  'execution-providers': { type: 'string' },
  'telemetry-interval': { type: 'string' },
  'root-sha256': { type: 'string' },
  force: { type: 'boolean' },
  json: { type: 'boolean' },
};

export interface EnrollCommandDeps {
  /** Default: detected from the installed onnxruntime-node. */
  readonly detectFacts?: () => Promise<RuntimeFacts>;
  readonly fetch?: typeof fetch;
}

export async function enrollCommand(
  argv: readonly string[],
  io: CliIo,
  deps: EnrollCommandDeps = {},
): Promise<number> {
  const flags = parseFlags('enroll', argv, FLAGS);
  if (flags.help === true) {
    io.out(ENROLL_USAGE);
    return 0;
  }
  const server = requiredFlag('enroll', flags, 'server');
  checkHttpUrl(server);
  const token = stringFlag(flags, 'token') ?? io.env.EDGEFLEET_ENROLLMENT_TOKEN;
  if (token === undefined || token === '') {
    throw CliError.usage(
      'enroll: --token is required',
      'create one on the control plane: `edgefleet enrollment-tokens create`',
    );
  }
  const expectedRoot = (stringFlag(flags, 'root-sha256') ?? io.env.EDGEFLEET_ROOT_SHA256)
    ?.trim()
    .toLowerCase();
  if (expectedRoot !== undefined && !/^[0-9a-f]{64}$/.test(expectedRoot)) {
    throw CliError.usage(
      'enroll: --root-sha256 must be 64 hex digits',
      'print it on the control plane: `edgefleet trust root --sha256`',
    );
  }
  const stateDir = resolve(io.cwd, stringFlag(flags, 'state-dir') ?? defaultStateDir(io.cwd));
  const configFlag = stringFlag(flags, 'config');
  const configPath =
    configFlag !== undefined ? resolve(io.cwd, configFlag) : defaultConfigPath(io.env, stateDir);
  const force = flags.force === true;
  const draft: AgentConfigInput = {
    // Placeholders until the control plane answers; the rest is checked before the token is used.
    deviceId: 'enrolling',
    deviceToken: 'enrolling',
    mqttUrl: 'mqtt://enrolling',
    apiUrl: server,
    hardwareClass: stringFlag(flags, 'hardware-class') ?? defaultHardwareClass(),
    labels: keyValueFlags('enroll', flags, 'label'),
    executionProviders: executionProviders(stringFlag(flags, 'execution-providers')),
    stateDir,
    localApi: localApi(flags, io.cwd),
    ...optional('telemetryIntervalSec', intFlag('enroll', flags, 'telemetry-interval', 1, 86_400)),
  };
  checkDraft(draft);

  const paths = statePaths(stateDir);
  await refuseExisting(configPath, paths, force);
  if (expectedRoot !== undefined) {
    // Check before enrolling, so a wrong server does not take a use of the token.
    const served = await fetchRootSha256(server, deps.fetch ?? fetch);
    if (served !== undefined) checkRoot(server, served, expectedRoot);
  }
  const facts = await (deps.detectFacts ?? detectOrtFacts)();
  const deviceId = stringFlag(flags, 'device-id');
  const enrolled = await enrollDevice({
    server,
    token,
    ...(deviceId !== undefined ? { deviceId } : {}),
    hardwareClass: draft.hardwareClass,
    labels: draft.labels ?? {},
    facts,
    ...(deps.fetch !== undefined ? { fetch: deps.fetch } : {}),
  });

  const rootBytes = new TextEncoder().encode(enrolled.trustRoot);
  // Without a pin the first root is trusted on first use; with one, only the root the operator named.
  if (expectedRoot !== undefined) checkRoot(server, sha256Hex(rootBytes), expectedRoot);
  const root = initTrustState(rootBytes);
  if (!root.ok) {
    throw new CliError(
      root.code,
      `the control plane sent a trust root this agent cannot pin: ${root.message}`,
      'the control plane and the agent may be different versions',
    );
  }
  const config: AgentConfig = AgentConfigSchema.parse({
    ...draft,
    deviceId: enrolled.deviceId,
    deviceToken: enrolled.deviceToken,
    mqttUrl: enrolled.mqttUrl,
    apiUrl: enrolled.apiUrl === '' ? server : enrolled.apiUrl,
    labels: enrolled.labels,
  });
  if (force) await forgetDevice(paths);
  await ensureStateDirs(paths);
  await writePinnedRoot(paths, rootBytes);
  await mkdir(dirname(configPath), { recursive: true, mode: 0o700 });
  await writeAgentConfig(configPath, config);

  const result = {
    deviceId: config.deviceId,
    configPath,
    stateDir,
    mqttUrl: config.mqttUrl,
    apiUrl: config.apiUrl,
    hardwareClass: config.hardwareClass,
    labels: config.labels,
    localApi: config.localApi,
    rootVersion: root.value.rootVersion,
  };
  if (flags.json === true) {
    io.out(JSON.stringify(result, null, 2));
    return 0;
  }
  const labels = Object.entries(config.labels).map(([k, v]) => `${k}=${v}`);
  io.out(
    [
      `enrolled device ${config.deviceId} with ${server}`,
      `  config          ${configPath} (mode 0600: it holds the device token)`,
      `  state           ${stateDir}`,
      `  broker          ${config.mqttUrl}`,
      `  hardware class  ${config.hardwareClass}`,
      `  labels          ${labels.length > 0 ? labels.join(', ') : '(none)'}`,
      `  local API       ${describeLocalApi(config.localApi)}`,
      `  trust root      version ${root.value.rootVersion} (pinned)`,
      '',
      `start it:          edgefleet-agent run --config ${configPath}`,
      `or as a service:   sudo edgefleet-agent install-service --config ${configPath}`,
    ].join('\n'),
  );
  const warning = loopbackWarning(server, config.mqttUrl);
  if (warning !== undefined) io.err(`warning: ${warning}`);
  return 0;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

function checkHttpUrl(server: string): void {
  let protocol: string;
  try {
    protocol = new URL(server).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw CliError.usage(
      `enroll: --server must be an http(s) URL, got ${JSON.stringify(server)}`,
      'e.g. --server http://fleet.example:8080',
    );
  }
}

function executionProviders(text: string | undefined): string[] {
  if (text === undefined) return ['cpu'];
  const list = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (list.length === 0) throw CliError.usage('enroll: --execution-providers is empty');
  return list;
}

function localApi(flags: ParsedFlags, cwd: string): AgentConfigInput['localApi'] {
  const port = intFlag('enroll', flags, 'local-api-port', 0, 65_535);
  const socket = stringFlag(flags, 'local-api-socket') ?? '';
  const none = flags['no-local-api'] === true;
  const chosen = [port !== undefined, socket !== '', none].filter(Boolean).length;
  if (chosen > 1) {
    throw CliError.usage(
      'enroll: choose one of --local-api-port, --local-api-socket and --no-local-api',
    );
  }
  if (none) return null;
  if (socket !== '') return { socketPath: resolve(cwd, socket) };
  return { host: '127.0.0.1', port: port ?? DEFAULT_LOCAL_API_PORT };
}

function checkDraft(draft: AgentConfigInput): void {
  const parsed = AgentConfigSchema.safeParse(draft);
  if (parsed.success) return;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  throw CliError.usage(
    `enroll: ${FIELD_FLAGS[field.split('.')[0] ?? ''] ?? field}: ${issue.message}`,
  );
}

const FIELD_FLAGS: Readonly<Record<string, string>> = {
  hardwareClass: '--hardware-class',
  labels: '--label',
  executionProviders: '--execution-providers',
  stateDir: '--state-dir',
  localApi: '--local-api-socket',
  apiUrl: '--server',
};

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function refuseExisting(
  configPath: string,
  paths: StatePaths,
  force: boolean,
): Promise<void> {
  // Even with --force: the state of a running agent is not pulled from under it.
  if ((await readLocalApiFile(paths.dir)) !== undefined) {
    throw new CliError(
      'EF_CONFLICT',
      `an agent is running on ${paths.dir}`,
      'stop it first (systemctl stop edgefleet-agent, or SIGTERM), then enroll again',
    );
  }
  if (force) return;
  if (await exists(configPath)) {
    throw new CliError(
      'EF_CONFLICT',
      `${configPath} exists: this device is enrolled already`,
      `to enroll it again (it starts over, its state in ${paths.dir} is removed), add --force`,
    );
  }
  if ((await exists(paths.trustState)) || (await exists(paths.pinnedRoot))) {
    throw new CliError(
      'EF_CONFLICT',
      `${paths.dir} holds the trust state of an enrolled device`,
      'pass --config with that device’s configuration, choose another --state-dir, or add --force to start over',
    );
  }
}

/** Remove everything the old identity left in the state directory. */
async function forgetDevice(paths: StatePaths): Promise<void> {
  for (const file of [paths.pinnedRoot, paths.trustState, paths.journal, paths.telemetrySeq]) {
    await rm(file, { force: true });
  }
  for (const dir of [paths.models, paths.spool]) {
    await rm(dir, { recursive: true, force: true });
  }
}

function describeLocalApi(api: AgentConfig['localApi']): string {
  if (api === null) return 'off';
  if ('socketPath' in api) return `unix socket ${api.socketPath}`;
  return api.port === 0 ? `http://${api.host}:<any free port>` : `http://${api.host}:${api.port}`;
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

/** The control plane handed out a loopback broker address to a device that reached it remotely. */
function loopbackWarning(server: string, mqttUrl: string): string | undefined {
  try {
    const serverHost = new URL(server).hostname;
    const brokerHost = new URL(mqttUrl).hostname;
    if (LOOPBACK.test(brokerHost) && !LOOPBACK.test(serverHost)) {
      return `the control plane gave ${mqttUrl} as the broker address, which is this device itself; set EDGEFLEET_DEVICE_MQTT_URL on the server`;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Refuse a trust root other than the one the operator pinned with `--root-sha256`. */
function checkRoot(server: string, actual: string, expected: string): void {
  if (actual === expected) return;
  throw new CliError(
    'EF_ROOT_MISMATCH',
    `the control plane at ${server} offers a trust root with sha256 ${actual}, not the ${expected} ` +
      'this device was told to pin; nothing was written',
    'check the server URL and `edgefleet trust root --sha256` on the control plane (a rotated root has a new hash)',
  );
}

/** sha256 of the control plane's current root (public route), or undefined if it cannot be read. */
async function fetchRootSha256(server: string, fetchFn: typeof fetch): Promise<string | undefined> {
  try {
    const res = await fetchFn(`${server.replace(/\/+$/, '')}/v1/trust/root`);
    if (!res.ok) return undefined;
    return sha256Hex(new Uint8Array(await res.arrayBuffer()));
  } catch {
    return undefined; // enrollment itself reports the unreachable server
  }
}
