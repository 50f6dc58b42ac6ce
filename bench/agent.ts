/**
 * Agent benchmarks (group "agent"), each against a peer measured in the same run, on a real control
 * plane (in-process `edgefleet server`: PGlite, embedded broker, free ports) that deploys the models:
 *
 *   - inference through `Agent.infer` (OrtInProcessRuntime, telemetry profiling on: every input and
 *     output is sketched) vs bare `session.run` on the same model file and the same tensors, p50 at
 *     batch 1, target ratio <= 1.10: on a 16x4 linear classifier (a run of ~8 us, the worst case for
 *     a fixed per-call cost) and on ../shared/models/mnist-cnn.onnx (a real small CNN; the row is
 *     left out when that directory is absent);
 *   - inference through the local HTTP API (`POST /v1/infer`, JSON, one keep-alive connection) vs
 *     the same bare `session.run`; target p50 <= bare p50 + 0.5 ms;
 *   - RSS of an idle `edgefleet-agent run` process (model loaded, connected, no traffic; started with
 *     the node flags of its systemd unit) vs a bare MQTT.js client process connected to the same
 *     broker with a device's credentials;
 *   - RSS of that agent after 50 model swaps (50 releases rolled out one after another, each
 *     replacing the serving model) vs its RSS after the first swap; target within 10 %.
 *
 * Run alone: `npx tsc -b bench && node bench/dist/agent.js` (prints a table, updates
 * bench/results.json).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request, Agent as HttpAgent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  Agent,
  AGENT_NODE_FLAGS,
  enrollDevice,
  detectOrtFacts,
  OrtInProcessRuntime,
  parseAgentConfig,
  statePaths,
  ensureStateDirs,
  writePinnedRoot,
  type DeploymentEvent,
} from '@edgefleet/agent';
import { loadServerConfig, startServer, type RunningServer } from '@edgefleet/control-plane';
import { linearClassifier } from '@edgefleet/protocol';
import * as ort from 'onnxruntime-node';
import pino from 'pino';
import { median, printTable, writeResults, type BenchRow } from './lib/report.js';

const GROUP = 'agent';
const FEATURES = 16;
const CLASSES = 4;
/** Timed runs per side, in alternating blocks (so drift in machine load hits both sides alike). */
const RUNS = 20_000;
const BLOCK = 500;
const HTTP_RUNS = 4000;
const SWAPS = 50;
const REPO = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url),
);
const AGENT_CLI = join(REPO, 'agent', 'dist', 'cli', 'main.js');

// ---------------------------------------------------------------- control plane

class Bench {
  private readonly statuses: { deviceId: string; releaseId: string; state: string }[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly server: RunningServer,
    readonly dir: string,
  ) {
    server.events.subscribe((e) => {
      if (e.type !== 'deployment.status') return;
      this.statuses.push(e.data as never);
      for (const w of this.waiters) w();
    });
  }

  async api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.server.httpUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.server.adminToken!}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  }

  async push(name: string, version: string, model: Uint8Array): Promise<void> {
    const form = new FormData();
    form.append('version', version);
    form.append('model', new Blob([model]), 'model.onnx');
    const response = await fetch(`${this.server.httpUrl}/v1/models/${name}/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.server.adminToken!}` },
      body: form,
    });
    if (!response.ok) throw new Error(`push: ${await response.text()}`);
  }

  async release(model: string, version: string): Promise<string> {
    return (await this.api<{ releaseId: string }>('POST', '/v1/releases', { model, version }))
      .releaseId;
  }

  async rollout(releaseId: string, selector: string): Promise<void> {
    await this.api('POST', '/v1/rollouts', {
      releaseId,
      selector,
      waves: [
        { name: 'all', size: { percent: 100 }, soak: { minInferences: 0, duration: 0 }, gates: {} },
      ],
    });
  }

  async enrollmentToken(labels: Record<string, string>): Promise<string> {
    return (
      await this.api<{ token: string }>('POST', '/v1/enrollment-tokens', {
        labels,
        maxUses: 1,
        expiresIn: '1h',
      })
    ).token;
  }

  succeeded(deviceId: string, releaseId: string, timeoutMs = 60_000): Promise<void> {
    const hit = () =>
      this.statuses.some(
        (s) => s.deviceId === deviceId && s.releaseId === releaseId && s.state === 'succeeded',
      );
    if (hit()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!hit()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${deviceId}: ${releaseId} did not succeed`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }
}

// ---------------------------------------------------------------- measuring

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Per-call times (ms) of `a` and `b`, run in alternating blocks after a warm-up of each. */
async function alternate(
  runs: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<[number[], number[]]> {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < 1000; i++) {
    await a();
    await b();
  }
  for (let done = 0; done < runs; done += BLOCK) {
    for (const [fn, out] of [
      [a, ta],
      [b, tb],
    ] as const) {
      for (let i = 0; i < BLOCK; i++) {
        const t0 = performance.now();
        await fn();
        out.push(performance.now() - t0);
      }
    }
  }
  return [ta, tb];
}

/** Resident set size of a process, in MiB (Linux /proc; elsewhere ps). */
async function rssMiB(pid: number): Promise<number> {
  if (process.platform === 'linux') {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1]);
    return kb / 1024;
  }
  const out = await new Promise<string>((resolve, reject) => {
    const ps = spawn('ps', ['-o', 'rss=', '-p', String(pid)]);
    let text = '';
    ps.stdout.on('data', (c: Buffer) => (text += c.toString()));
    ps.on('close', () => {
      resolve(text);
    });
    ps.on('error', reject);
  });
  return Number(out.trim()) / 1024;
}

/** Median of a few RSS samples a moment apart, after a settle (allocations of start-up done). */
async function settledRss(pid: number): Promise<number> {
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await pause(1500);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(await rssMiB(pid));
    await pause(200);
  }
  return median(samples);
}

/** A child process whose stdout lines are watched. */
function watchLines(
  child: ChildProcess,
  match: (line: string) => boolean,
  what: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${what}`));
    }, 60_000);
    const onLine = (line: string) => {
      if (!match(line)) return;
      cleanup();
      resolve(line);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${what}: the process exited with ${code}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      lines.off('line', onLine);
      child.off('exit', onExit);
    };
    lines.on('line', onLine);
    child.once('exit', onExit);
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => {
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------- the rows

/** A model pushed and released for the in-process agent, with its tensors. */
interface BenchModel {
  readonly label: string;
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly dims: readonly number[];
  readonly output: string;
}

const LINEAR: BenchModel = {
  label: `linear ${FEATURES}x${CLASSES}`,
  name: 'bench-linear',
  bytes: linearClassifier({ features: FEATURES, classes: CLASSES }),
  dims: [1, FEATURES],
  output: 'logits',
};

const MNIST_PATH = join(REPO, '..', 'shared', 'models', 'mnist-cnn.onnx');

/** ../shared/models/mnist-cnn.onnx, a real small CNN (undefined when that directory is absent). */
function mnist(): BenchModel | undefined {
  if (!existsSync(MNIST_PATH)) return undefined;
  return {
    label: 'mnist-cnn.onnx',
    name: 'bench-mnist',
    bytes: new Uint8Array(readFileSync(MNIST_PATH)),
    dims: [1, 1, 28, 28],
    output: 'output',
  };
}

function tensors(dims: readonly number[], n: number): Float32Array[] {
  const size = dims.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, r) =>
    Float32Array.from({ length: size }, (_, i) => (((r * 31 + i * 17) % 23) - 11) / 7),
  );
}

/** Device A: an in-process Agent (OrtInProcessRuntime), enrolled over HTTP as the CLI does. */
async function startInProcessAgent(
  b: Bench,
): Promise<{ agent: Agent; runtime: OrtInProcessRuntime }> {
  const facts = await detectOrtFacts();
  const enrolled = await enrollDevice({
    server: b.server.httpUrl,
    token: await b.enrollmentToken({ bench: 'inproc' }),
    deviceId: 'bench-inproc',
    hardwareClass: 'bench',
    labels: {},
    facts,
  });
  const stateDir = join(b.dir, 'inproc');
  const paths = statePaths(stateDir);
  await ensureStateDirs(paths);
  await writePinnedRoot(paths, new TextEncoder().encode(enrolled.trustRoot));
  const config = parseAgentConfig({
    deviceId: enrolled.deviceId,
    deviceToken: enrolled.deviceToken,
    mqttUrl: enrolled.mqttUrl,
    apiUrl: enrolled.apiUrl,
    hardwareClass: 'bench',
    labels: enrolled.labels,
    stateDir,
    localApi: { host: '127.0.0.1', port: 0 },
    // One intra-op thread on both sides: two sessions' thread pools spinning on a 2-core machine
    // would measure each other, not the agent.
    intraOpThreads: 1,
  });
  const runtime = new OrtInProcessRuntime({ logLevel: 'error' });
  const agent = new Agent({ config, runtime, logger: pino({ level: 'silent' }) });
  await agent.start();
  return { agent, runtime };
}

/** Roll `model` out to the in-process agent and wait until it serves it. */
async function deploy(b: Bench, agent: Agent, model: BenchModel): Promise<string> {
  await b.push(model.name, '1.0.0', model.bytes);
  const releaseId = await b.release(model.name, '1.0.0');
  const installed = new Promise<void>((resolve) => {
    const onDeployment = (e: DeploymentEvent) => {
      if (e.releaseId !== releaseId || e.state !== 'succeeded') return;
      agent.off('deployment', onDeployment);
      resolve();
    };
    agent.on('deployment', onDeployment);
  });
  await b.rollout(releaseId, 'bench=inproc');
  await installed;
  return releaseId;
}

async function bareSession(b: Bench, model: BenchModel): Promise<ort.InferenceSession> {
  const path = join(b.dir, `${model.name}.onnx`);
  await writeFile(path, model.bytes);
  // The options the agent's runtime uses.
  return ort.InferenceSession.create(path, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
  });
}

let sink = 0;

/** Agent.infer vs bare session.run on `model`, and (with `http`) the local API vs bare. */
async function inferenceRowsFor(
  b: Bench,
  agent: Agent,
  model: BenchModel,
  http: boolean,
): Promise<BenchRow[]> {
  await deploy(b, agent, model);
  const session = await bareSession(b, model);
  const inputs = tensors(model.dims, 64);
  let k = 0;
  const bare = async () => {
    const data = inputs[k++ & 63]!;
    const out = await session.run({ input: new ort.Tensor('float32', data, [...model.dims]) });
    sink += (out[model.output]!.data as Float32Array)[0]!;
  };
  const viaAgent = async () => {
    const data = inputs[k++ & 63]!;
    const r = await agent.infer({ input: { type: 'float32', dims: model.dims, data } });
    sink += (r.outputs[model.output]!.data as Float32Array)[0]!;
  };
  const [tBare, tAgent] = await alternate(RUNS, bare, viaAgent);
  const bareP50 = median(tBare) * 1000;
  const agentP50 = median(tAgent) * 1000;
  const rows: BenchRow[] = [
    {
      group: GROUP,
      name: `Agent.infer p50, batch 1, in-process, profiling on, 1 thread (${model.label})`,
      value: agentP50,
      unit: 'us',
      peer: 'bare session.run, same model and tensors',
      peerValue: bareP50,
      ratio: agentP50 / bareP50,
      goal: 'ratio <= 1.10',
      pass: agentP50 / bareP50 <= 1.1,
      note: `+${(agentP50 - bareP50).toFixed(2)} us per call; p99 agent ${(quantile(tAgent, 0.99) * 1000).toFixed(1)} us, bare ${(quantile(tBare, 0.99) * 1000).toFixed(1)} us; ${RUNS} runs each`,
    },
  ];

  if (http) {
    // The local HTTP API, JSON in and out, one keep-alive connection (a local client).
    const address = agent.localApiAddress;
    if (address === undefined || !('url' in address)) throw new Error('no local API');
    const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    const bodies = inputs.map((data) =>
      JSON.stringify({ inputs: { input: { type: 'float32', dims: model.dims, data: [...data] } } }),
    );
    const viaHttp = () =>
      new Promise<void>((resolve, reject) => {
        const body = bodies[k++ & 63]!;
        const req = request(
          {
            host: address.host,
            port: address.port,
            path: '/v1/infer',
            method: 'POST',
            agent: keepAlive,
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
            },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => {
              text += c;
            });
            res.on('end', () => {
              if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${text}`));
              else resolve();
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const [tBare2, tHttp] = await alternate(HTTP_RUNS, bare, viaHttp);
    keepAlive.destroy();
    const bareP50b = median(tBare2) * 1000;
    const httpP50 = median(tHttp) * 1000;
    rows.push({
      group: GROUP,
      name: `local API POST /v1/infer p50, JSON, keep-alive, batch 1 (${model.label})`,
      value: httpP50,
      unit: 'us',
      peer: 'bare session.run, same model and tensors',
      peerValue: bareP50b,
      ratio: httpP50 / bareP50b,
      goal: '<= bare + 500 us',
      pass: httpP50 <= bareP50b + 500,
      note: `+${(httpP50 - bareP50b).toFixed(1)} us per request; p99 ${(quantile(tHttp, 0.99) * 1000).toFixed(1)} us; ${HTTP_RUNS} runs`,
    });
  }
  await session.release();
  return rows;
}

async function inferenceRows(b: Bench): Promise<BenchRow[]> {
  const { agent, runtime } = await startInProcessAgent(b);
  try {
    const rows = await inferenceRowsFor(b, agent, LINEAR, true);
    const cnn = mnist();
    if (cnn !== undefined) rows.push(...(await inferenceRowsFor(b, agent, cnn, false)));
    else console.log(`skipped the mnist-cnn.onnx row: ${MNIST_PATH} not found`);
    return rows;
  } finally {
    await agent.stop();
    await runtime.close();
  }
}

async function memoryRows(b: Bench): Promise<BenchRow[]> {
  // Device B: `edgefleet-agent enroll` + `edgefleet-agent run` (worker runtime, the default).
  const token = await b.enrollmentToken({ bench: 'child' });
  const stateDir = join(b.dir, 'child');
  const configPath = join(stateDir, 'agent.json');
  const enroll = spawn(process.execPath, [
    AGENT_CLI,
    'enroll',
    '--server',
    b.server.httpUrl,
    '--token',
    token,
    '--device-id',
    'bench-child',
    '--state-dir',
    stateDir,
    '--config',
    configPath,
    '--local-api-port',
    '0',
  ]);
  const enrolledCode = await new Promise<number | null>((resolve) => enroll.once('exit', resolve));
  if (enrolledCode !== 0) throw new Error('edgefleet-agent enroll failed');
  // Started as its systemd unit starts it (install-service): with the agent's node flags.
  const agent = spawn(
    process.execPath,
    [...AGENT_NODE_FLAGS, AGENT_CLI, 'run', '--config', configPath],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );

  // The peer: a bare MQTT.js client with device C's credentials on the same broker.
  const facts = await detectOrtFacts();
  const peerDevice = await enrollDevice({
    server: b.server.httpUrl,
    token: await b.enrollmentToken({ bench: 'peer' }),
    deviceId: 'bench-mqtt-peer',
    hardwareClass: 'bench',
    labels: {},
    facts,
  });
  const peerCode = `
    import { connectAsync } from 'mqtt';
    const client = await connectAsync(process.env.URL, {
      clientId: process.env.ID, username: process.env.ID, password: process.env.TOKEN,
      protocolVersion: 4, keepalive: 30,
    });
    await client.subscribeAsync('edgefleet/v1/d/' + process.env.ID + '/desired', { qos: 1 });
    console.log('ready');
    setInterval(() => {}, 1 << 30);
  `;
  const peer = spawn(process.execPath, ['--input-type=module', '-e', peerCode], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      URL: peerDevice.mqttUrl,
      ID: peerDevice.deviceId,
      TOKEN: peerDevice.deviceToken,
    },
  });
  try {
    await watchLines(agent, (l) => l.includes('"edgefleet agent running"'), 'the agent running');
    await watchLines(peer, (l) => l === 'ready', 'the MQTT peer');

    // Three model versions to swap between (different weights, same shape).
    const versions = ['2.0.0', '2.0.1', '2.0.2'];
    for (const [i, version] of versions.entries()) {
      await b.push(
        'swap',
        version,
        linearClassifier({ features: FEATURES, classes: CLASSES, bias: [i, -i, 0.5, 1] }),
      );
    }
    const deploy = async (n: number) => {
      const releaseId = await b.release('swap', versions[n % versions.length]!);
      await b.rollout(releaseId, 'bench=child');
      await b.succeeded('bench-child', releaseId);
    };
    await deploy(0); // the first install: not a swap
    const idle = await settledRss(agent.pid!);
    const peerRss = await settledRss(peer.pid!);
    await deploy(1); // swap 1
    const afterFirst = await settledRss(agent.pid!);
    for (let n = 2; n <= SWAPS; n++) await deploy(n);
    const afterSwaps = await settledRss(agent.pid!);
    return [
      {
        group: GROUP,
        name: 'RSS of an idle edgefleet-agent process (model loaded, connected)',
        value: idle,
        unit: 'MiB',
        peer: 'bare MQTT.js client process, same broker',
        peerValue: peerRss,
        ratio: idle / peerRss,
        goal: '<= 160 MiB',
        pass: idle <= 160,
        note: `node ${AGENT_NODE_FLAGS.join(' ')} (as its unit runs it); onnxruntime in a worker thread`,
      },
      {
        group: GROUP,
        name: `RSS after ${SWAPS} model swaps`,
        value: afterSwaps,
        unit: 'MiB',
        peer: 'RSS after the first swap',
        peerValue: afterFirst,
        ratio: afterSwaps / afterFirst,
        goal: 'ratio <= 1.10',
        pass: afterSwaps / afterFirst <= 1.1,
        note: `${SWAPS} releases rolled out one after another (3 model versions in turn), worker runtime`,
      },
    ];
  } finally {
    await stop(agent);
    await stop(peer);
  }
}

/** All rows of the "agent" group. */
export async function runAgentBench(): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-bench-agent-'));
  const server = await startServer(
    loadServerConfig({ dataDir: join(dir, 'cp'), httpPort: 0, mqttPort: 0 }, {}),
    { logger: pino({ level: 'silent' }) },
  );
  try {
    const b = new Bench(server, dir);
    const rows = await inferenceRows(b);
    rows.push(...(await memoryRows(b)));
    if (sink === 42.4242) console.log(''); // observed, never true in practice
    return rows;
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runAgentBench();
  printTable(rows);
  for (const r of rows) if (r.note !== undefined) console.log(`${r.name}: ${r.note}`);
  writeResults(join(REPO, 'bench', 'results.json'), rows);
}
