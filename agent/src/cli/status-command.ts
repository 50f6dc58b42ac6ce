/**
 * `edgefleet-agent status`: what the device holds, read from its state directory (no agent needed,
 * nothing is changed), and what the running agent serves, asked of its local API when it answers.
 */
import { request } from 'node:http';
import { resolve } from 'node:path';
import { TrustStateSchema } from '@edgefleet/protocol';
import type { AgentConfig } from '../config/agent-config.js';
import { statePaths } from '../config/state-dir.js';
import { JournalSchema, type DeploymentRecord } from '../reconcile/deployment-journal.js';
import { inspectSpool, type SpoolInspection } from '../spool/telemetry-spool.js';
import { readJsonFile } from '../store/atomic-file.js';
import { CompleteMarkerSchema, SlotStateSchema, slotStorePaths } from '../store/slots.js';
import { parseFlags, stringFlag, type FlagSpec } from './args.js';
import { loadConfig } from './config-file.js';
import { readLocalApiFile } from './local-api-file.js';
import { defaultConfigPath } from './defaults.js';
import type { CliIo } from './io.js';
import { STATUS_USAGE } from './usage.js';

const FLAGS: FlagSpec = { config: { type: 'string' }, json: { type: 'boolean' } };

export interface DeploymentSummary {
  readonly releaseId: string;
  readonly directiveCounter: number;
  readonly state: string;
  readonly reason: string | null;
  readonly detail: string | null;
  readonly updatedAt: string;
}

export interface LocalApiStatus {
  /** `http://host:port` or `unix:/path`. */
  readonly address: string;
  readonly answering: boolean;
  /** What `GET /v1/model` answered (null when no model is active yet). */
  readonly model: {
    readonly releaseId: string;
    readonly model: { readonly name: string; readonly version: string };
    readonly executionProvider: string;
  } | null;
  readonly error: string | null;
}

/** The report `status --json` prints. */
export interface DeviceStatusReport {
  readonly deviceId: string;
  readonly hardwareClass: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly configPath: string;
  readonly stateDir: string;
  readonly mqttUrl: string;
  readonly apiUrl: string;
  readonly activeRelease: string | null;
  readonly activeSlot: 'a' | 'b' | null;
  readonly previousRelease: string | null;
  /** When the active slot's install was verified and sealed. */
  readonly activeInstalledAt: string | null;
  readonly trust: {
    readonly rootVersion: number;
    readonly directiveCounter: number;
    /** Installed release counter per model (the rollback floor). */
    readonly installed: Readonly<Record<string, number>>;
  } | null;
  readonly deployment: DeploymentSummary | null;
  readonly queued: DeploymentSummary | null;
  readonly spool: SpoolInspection;
  /** null when the configuration turns the local API off. */
  readonly localApi: LocalApiStatus | null;
  /** State files that exist but cannot be read. */
  readonly problems: readonly string[];
}

export async function statusCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = parseFlags('status', argv, FLAGS);
  if (flags.help === true) {
    io.out(STATUS_USAGE);
    return 0;
  }
  const configFlag = stringFlag(flags, 'config');
  const configPath =
    configFlag !== undefined ? resolve(io.cwd, configFlag) : defaultConfigPath(io.env);
  const config = await loadConfig(configPath);
  const report = await readDeviceStatus(config, configPath);
  io.out(flags.json === true ? JSON.stringify(report, null, 2) : renderStatus(report));
  return 0;
}

/** Read the device's state files and ask its local API. Never changes anything. */
export async function readDeviceStatus(
  config: AgentConfig,
  configPath: string,
): Promise<DeviceStatusReport> {
  const paths = statePaths(config.stateDir);
  const slots = slotStorePaths(paths.models);
  const problems: string[] = [];
  const read = async <T>(path: string, schema: Parameters<typeof readJsonFile<T>>[1]) => {
    const result = await readJsonFile(path, schema, { maxBytes: 4 * 1024 * 1024 });
    if (result.ok) return result.value;
    if (result.code !== 'EF_NOT_FOUND') problems.push(`${result.code}: ${result.message}`);
    return undefined;
  };
  const slotState = await read(slots.state, SlotStateSchema);
  const activeSlot = slotState?.activeSlot ?? null;
  const marker =
    activeSlot === null
      ? undefined
      : await read(slots.slot(activeSlot).marker, CompleteMarkerSchema);
  const trust = await read(paths.trustState, TrustStateSchema);
  const journal = await read(paths.journal, JournalSchema);
  return {
    deviceId: config.deviceId,
    hardwareClass: config.hardwareClass,
    labels: config.labels,
    configPath,
    stateDir: config.stateDir,
    mqttUrl: config.mqttUrl,
    apiUrl: config.apiUrl,
    activeRelease: slotState?.activeRelease ?? null,
    activeSlot,
    previousRelease: slotState?.previousRelease ?? null,
    activeInstalledAt: marker?.completedAt ?? null,
    trust:
      trust === undefined
        ? null
        : {
            rootVersion: trust.rootVersion,
            directiveCounter: trust.directiveCounter,
            installed: Object.fromEntries(
              Object.entries(trust.releases).map(([name, r]) => [name, r.counter]),
            ),
          },
    deployment: summary(journal?.current ?? null),
    queued: summary(journal?.queued ?? null),
    spool: await inspectSpool(paths.spool),
    localApi:
      config.localApi === null
        ? null
        : await askLocalApi((await readLocalApiFile(config.stateDir)) ?? config.localApi),
    problems,
  };
}

function summary(record: DeploymentRecord | null): DeploymentSummary | null {
  if (record === null) return null;
  return {
    releaseId: record.releaseId,
    directiveCounter: record.directiveCounter,
    state: record.state,
    reason: record.reason ?? null,
    detail: record.detail ?? null,
    updatedAt: record.updatedAt,
  };
}

type LocalApiConfig =
  { readonly host: string; readonly port: number } | { readonly socketPath: string };

/** `GET /v1/model` on the local API (bounded by a short timeout). */
async function askLocalApi(api: LocalApiConfig): Promise<LocalApiStatus> {
  const address = 'socketPath' in api ? `unix:${api.socketPath}` : `http://${api.host}:${api.port}`;
  if (!('socketPath' in api) && api.port === 0) {
    return {
      address,
      answering: false,
      model: null,
      error: 'the configured port is 0 (any free port): the running agent logs the port it took',
    };
  }
  try {
    const { status, body } = await httpGet(api, '/v1/model', 2000);
    if (status === 200) {
      const model = JSON.parse(body) as NonNullable<LocalApiStatus['model']>;
      return {
        address,
        answering: true,
        model: {
          releaseId: model.releaseId,
          model: model.model,
          executionProvider: model.executionProvider,
        },
        error: null,
      };
    }
    let message = `HTTP ${status}`;
    try {
      const e = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
      if (e?.code !== undefined) message = `${e.code}: ${e.message ?? ''}`;
    } catch {
      // not JSON: keep the status line
    }
    return { address, answering: true, model: null, error: message };
  } catch (error) {
    return {
      address,
      answering: false,
      model: null,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

function httpGet(
  api: LocalApiConfig,
  path: string,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const target =
      'socketPath' in api ? { socketPath: api.socketPath } : { host: api.host, port: api.port };
    const req = request({ ...target, path, method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolvePromise({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    });
    req.on('error', reject);
    req.end();
  });
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/** The human form of the report. */
export function renderStatus(r: DeviceStatusReport): string {
  const labels = Object.entries(r.labels).map(([k, v]) => `${k}=${v}`);
  const deployment = (d: DeploymentSummary | null) =>
    d === null
      ? 'none'
      : `${d.releaseId} ${d.state}${d.reason !== null ? `(${d.reason})` : ''} (directive ${d.directiveCounter}, ${d.updatedAt})`;
  const api = r.localApi;
  const apiLine =
    api === null
      ? 'off'
      : !api.answering
        ? `${api.address} not answering (${api.error ?? 'is the agent running?'})`
        : api.model !== null
          ? `${api.address} serving ${api.model.releaseId} (${api.model.model.name} ${api.model.model.version}, ${api.model.executionProvider})`
          : `${api.address} answering, ${api.error ?? 'no model'}`;
  const lines = [
    `device       ${r.deviceId} (${r.hardwareClass}${labels.length > 0 ? `; ${labels.join(', ')}` : ''})`,
    `config       ${r.configPath}`,
    `state        ${r.stateDir}`,
    `active       ${r.activeRelease === null ? 'none' : `${r.activeRelease} (slot ${r.activeSlot ?? '?'}, installed ${r.activeInstalledAt ?? '?'})`}`,
    `previous     ${r.previousRelease ?? 'none'}`,
    `deployment   ${deployment(r.deployment)}`,
    `queued       ${deployment(r.queued)}`,
    `trust        ${r.trust === null ? 'not initialised (the agent has not started yet)' : `root v${r.trust.rootVersion}, directive counter ${r.trust.directiveCounter}`}`,
    `spool        ${r.spool.records} telemetry windows, ${formatBytes(r.spool.bytes)}`,
    `local API    ${apiLine}`,
  ];
  for (const p of r.problems) lines.push(`problem      ${p}`);
  return lines.join('\n');
}
