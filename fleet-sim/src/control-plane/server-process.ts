/**
 * Start `edgefleet server` as a child process on free ports with its own data dir, and wait until it
 * listens (its structured log says where). Used by the demo and the scenario tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ServerProcess {
  readonly httpUrl: string;
  readonly mqttUrl: string;
  readonly adminToken: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<void>;
}

/** The built control-plane CLI in this workspace. */
export const CONTROL_PLANE_CLI = fileURLToPath(
  new URL('../../../control-plane/dist/cli/main.js', import.meta.url),
);

export async function startServerProcess(options: {
  dataDir: string;
  logLevel?: string;
  extraArgs?: readonly string[];
  env?: NodeJS.ProcessEnv;
  onLog?: (line: string) => void;
  timeoutMs?: number;
}): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      CONTROL_PLANE_CLI,
      'server',
      '--data-dir',
      options.dataDir,
      '--http-port',
      '0',
      '--mqtt-port',
      '0',
      '--log-level',
      options.logLevel ?? 'info',
      ...(options.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
  const lines = createInterface({ input: child.stdout });
  const errLines: string[] = [];
  child.stderr.on('data', (b: Buffer) => {
    errLines.push(b.toString());
  });
  const ready = await new Promise<{ http: string; mqtt: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`edgefleet server did not start within ${options.timeoutMs ?? 60_000} ms`));
    }, options.timeoutMs ?? 60_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(
        new Error(`edgefleet server exited with code ${code}: ${errLines.join('').slice(-2000)}`),
      );
    };
    child.once('exit', onExit);
    lines.on('line', (line) => {
      options.onLog?.(line);
      try {
        const rec = JSON.parse(line) as { msg?: string; http?: string; mqtt?: string };
        if (rec.msg === 'edgefleet control plane listening' && rec.http && rec.mqtt) {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve({ http: rec.http, mqtt: rec.mqtt });
        }
      } catch {
        /* not a log line */
      }
    });
  });
  const adminToken = (await readFile(join(options.dataDir, 'admin-token'), 'utf8')).trim();
  return {
    httpUrl: ready.http,
    mqttUrl: ready.mqtt,
    adminToken,
    dataDir: options.dataDir,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => {
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
