/**
 * Test support for the `edgefleet-agent` CLI tests (agent-cli, agent-e2e, agent-crash): the CLI as a
 * child process from the built dist/ (`npm test` builds first), its JSON log lines, and a driver of
 * an in-process control plane over its public HTTP API (plus its event bus, to see device reports).
 *
 * Every wait is on a log line, an event or an exit, bounded by a generous real-time limit that only
 * a failing test reaches (never a sleep).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { loadServerConfig, startServer, type RunningServer } from '@edgefleet/control-plane';
import pino from 'pino';
import { REPO_ROOT } from './support/paths.js';

export const AGENT_CLI = resolve(REPO_ROOT, 'agent', 'dist', 'cli', 'main.js');

/** Bound on every wait: a test that reaches it has failed (generous: the machine may be loaded). */
export const WAIT_MS = 30_000;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run one `edgefleet-agent` command to completion. */
export function agentCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [AGENT_CLI, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/** One pino JSON line of the agent's log. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** `edgefleet-agent run` as a child process, with its log lines parsed as they come. */
export class AgentProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly hooks = new Set<(line: LogLine) => void>();

  private constructor(readonly child: ChildProcess) {
    const out = createInterface({ input: child.stdout! });
    out.on('line', (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { level: 0, msg: line };
      }
      this.lines.push(parsed);
      // Synchronously, as the line arrives: a kill hooked here lands as close to the step as it can.
      for (const hook of this.hooks) hook(parsed);
      this.wake();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr.push(chunk.toString('utf8'));
    });
    this.exited = new Promise((resolvePromise) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.wake();
        resolvePromise(this.exit);
      });
    });
  }

  /** Every agent started, so a failed test leaves none running (`killAll` in afterAll). */
  private static readonly started = new Set<AgentProcess>();

  /** Start `edgefleet-agent run --config <config> ...args`. */
  static start(config: string, args: readonly string[] = []): AgentProcess {
    const child = spawn(process.execPath, [AGENT_CLI, 'run', '--config', config, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH },
    });
    const agent = new AgentProcess(child);
    AgentProcess.started.add(agent);
    void agent.exited.then(() => AgentProcess.started.delete(agent));
    return agent;
  }

  /** SIGKILL every agent still running. */
  static async killAll(): Promise<void> {
    await Promise.all([...AgentProcess.started].map((a) => a.kill('SIGKILL')));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /**
   * Resolve with the first log line (past or future, from line index `start`) matching; reject if
   * the agent exits first.
   */
  waitForLog(
    match: (line: LogLine) => boolean,
    what: string,
    timeoutMs = WAIT_MS,
    start = 0,
  ): Promise<LogLine> {
    return new Promise((resolvePromise, reject) => {
      let from = start;
      const check = () => {
        for (; from < this.lines.length; from++) {
          const line = this.lines[from]!;
          if (match(line)) {
            cleanup();
            resolvePromise(line);
            return;
          }
        }
        if (this.exit !== undefined) {
          cleanup();
          reject(new Error(`the agent exited (${this.describeExit()}) before ${what}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; last lines:\n${this.tail()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The `edgefleet agent running` line: the agent recovered its state and serves. */
  running(): Promise<LogLine> {
    return this.waitForLog((l) => l.msg === 'edgefleet agent running', 'the agent running');
  }

  /** The local API URL the running agent logged. */
  async localApiUrl(): Promise<string> {
    const line = await this.running();
    const api = line.localApi as { url?: string } | null;
    if (api?.url === undefined) throw new Error('the agent serves no TCP local API');
    return api.url;
  }

  /** The deployment transitions the agent logged for `releaseId`, in order. */
  deploymentStates(releaseId: string): string[] {
    return this.lines
      .filter((l) => l.msg === 'deployment status' && l.releaseId === releaseId)
      .map((l) => String(l.state));
  }

  /** SIGKILL the agent the moment it logs a line matching `match` (once). */
  killWhen(match: (line: LogLine) => boolean): void {
    const hook = (line: LogLine) => {
      if (!match(line)) return;
      this.hooks.delete(hook);
      this.child.kill('SIGKILL');
    };
    this.hooks.add(hook);
  }

  /** Send `signal` and wait for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.exit === undefined) this.child.kill(signal);
    return this.exited;
  }

  tail(n = 15): string {
    return [
      ...this.lines.slice(-n).map((l) => JSON.stringify(l).slice(0, 400)),
      ...this.stderr.slice(-3),
    ].join('\n');
  }

  private describeExit(): string {
    return this.exit === undefined
      ? 'running'
      : `code ${this.exit.code}, signal ${this.exit.signal}; stderr ${this.stderr.join('').slice(-500)}`;
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }
}

// ---------------------------------------------------------------- control plane

export interface StatusEvent {
  readonly deviceId: string;
  readonly releaseId: string;
  readonly state: string;
  readonly reason: string | null;
}

/** A temp directory per test file. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * An in-process `edgefleet server` (PGlite, embedded broker, free ports) driven like an operator
 * would, over its HTTP API, plus the deployment reports it received (its event bus).
 */
export class ControlPlane {
  readonly statuses: StatusEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly unsubscribe: () => void;

  private constructor(readonly server: RunningServer) {
    this.unsubscribe = server.events.subscribe((e) => {
      if (e.type !== 'deployment.status') return;
      this.statuses.push(e.data as unknown as StatusEvent);
      for (const w of this.waiters) w();
    });
  }

  static async start(
    dataDir: string,
    flags: Parameters<typeof loadServerConfig>[0] = {},
  ): Promise<ControlPlane> {
    const server = await startServer(
      loadServerConfig({ dataDir, httpPort: 0, mqttPort: 0, ...flags }, {}),
      { logger: pino({ level: process.env.EF_TEST_LOG ?? 'silent' }) },
    );
    return new ControlPlane(server);
  }

  get url(): string {
    return this.server.httpUrl;
  }

  async api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.server.adminToken!}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
    return JSON.parse(text) as T;
  }

  async enrollmentToken(labels: Record<string, string> = {}, maxUses = 10): Promise<string> {
    const created = await this.api<{ token: string }>('POST', '/v1/enrollment-tokens', {
      labels,
      maxUses,
      expiresIn: '1h',
    });
    return created.token;
  }

  /** Push a model version (multipart, as `edgefleet models push` does). */
  async pushModel(
    name: string,
    version: string,
    model: Uint8Array,
    referenceCsv?: string,
  ): Promise<void> {
    const form = new FormData();
    form.append('version', version);
    form.append('model', new Blob([model]), 'model.onnx');
    if (referenceCsv !== undefined) form.append('reference', new Blob([referenceCsv]), 'ref.csv');
    const response = await fetch(`${this.url}/v1/models/${name}/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.server.adminToken!}` },
      body: form,
    });
    if (!response.ok) throw new Error(`push ${name} ${version}: ${await response.text()}`);
  }

  /** Sign a release of a pushed version; returns its id. */
  async release(model: string, version: string): Promise<string> {
    const r = await this.api<{ releaseId: string }>('POST', '/v1/releases', { model, version });
    return r.releaseId;
  }

  /** One wave of 100 % with a soak of `minInferences` served inferences (no soak time). */
  async rollout(releaseId: string, selector: string, minInferences: number): Promise<string> {
    const r = await this.api<{ id: string }>('POST', '/v1/rollouts', {
      releaseId,
      selector,
      waves: [
        { name: 'all', size: { percent: 100 }, soak: { minInferences, duration: 0 }, gates: {} },
      ],
      deviceTimeout: '10m',
    });
    return r.id;
  }

  async device(deviceId: string): Promise<{
    id: string;
    online: boolean;
    currentReleaseId: string | null;
    labels: Record<string, string>;
  }> {
    const { devices } = await this.api<{
      devices: {
        id: string;
        online: boolean;
        currentReleaseId: string | null;
        labels: Record<string, string>;
      }[];
    }>('GET', '/v1/devices?limit=1000');
    const found = devices.find((d) => d.id === deviceId);
    if (found === undefined) throw new Error(`device ${deviceId} is not listed`);
    return found;
  }

  /** Resolve with the first report (past or future, from index `start`) matching `match`. */
  waitForStatus(
    match: (e: StatusEvent) => boolean,
    what: string,
    timeoutMs = WAIT_MS,
    start = 0,
  ): Promise<StatusEvent> {
    const find = () => this.statuses.slice(start).find(match);
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolvePromise, reject) => {
      const check = () => {
        const hit = find();
        if (hit === undefined) return;
        cleanup();
        resolvePromise(hit);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /**
   * Resolve once `check` holds, re-evaluated after each ingest batch: the device messages that can
   * change it arrive over MQTT and are written by the ingest (bounded).
   */
  async until<T>(
    check: () => Promise<T | undefined>,
    what: string,
    timeoutMs = WAIT_MS,
  ): Promise<T> {
    let wake: (() => void) | undefined;
    const stopListening = this.server.ingest.addFlushListener(() => wake?.());
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const arrived = new Promise<void>((r) => {
          wake = r;
        });
        await this.server.ingest.flush();
        const value = await check();
        if (value !== undefined) return value;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${what}`);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          arrived,
          new Promise<void>((r) => {
            timer = setTimeout(r, left);
          }),
        ]);
        clearTimeout(timer);
      }
    } finally {
      stopListening();
    }
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await this.server.close();
  }
}

// ---------------------------------------------------------------- devices

export interface EnrolledDevice {
  readonly deviceId: string;
  readonly configPath: string;
  readonly stateDir: string;
}

/** Enroll a device with `edgefleet-agent enroll` (local API on a free port, 1 s telemetry windows). */
export async function enrollWithCli(
  cp: ControlPlane,
  dir: string,
  options: { deviceId: string; labels?: Record<string, string>; extra?: readonly string[] },
): Promise<EnrolledDevice> {
  const token = await cp.enrollmentToken();
  const stateDir = join(dir, options.deviceId);
  const configPath = join(stateDir, 'agent.json');
  const labels = Object.entries(options.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  const r = await agentCli([
    'enroll',
    '--server',
    cp.url,
    '--token',
    token,
    '--device-id',
    options.deviceId,
    '--state-dir',
    stateDir,
    '--config',
    configPath,
    '--local-api-port',
    '0',
    '--telemetry-interval',
    '1',
    ...labels,
    ...(options.extra ?? []),
  ]);
  if (r.code !== 0) throw new Error(`enroll failed (${r.code}): ${r.stderr}`);
  return { deviceId: options.deviceId, configPath, stateDir };
}

/** POST one JSON inference to the local API. */
export async function inferJson(
  url: string,
  inputs: Record<string, { type: string; dims: number[]; data: number[] }>,
): Promise<{
  status: number;
  body: {
    releaseId?: string;
    outputs?: Record<string, { type: string; dims: number[]; data: number[] }>;
    error?: { code: string };
  };
}> {
  const response = await fetch(`${url}/v1/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs }),
  });
  return { status: response.status, body: (await response.json()) as never };
}
