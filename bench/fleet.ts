/**
 * Fleet-scale benchmark (issue #8 item 4): N simulated devices (real `Agent`s with the fake runtime, in
 * this process, as `edgefleet-sim --runtime fake` runs them) against one control plane (`edgefleet
 * server` as a child process on free ports).
 *
 * - a rollout with one 100 % wave: POST /v1/rollouts -> every agent reported `assigned` (devices/s
 *   notified; peer: AWS IoT Jobs' documented ceiling of 1,000 devices per minute; goal >= 1,000/s),
 *   and -> every agent reported `succeeded` (soak of 0 inferences and 0 s, no traffic; peer: the time
 *   the AWS ceiling needs only to notify N devices; goal: ratio <= 1).
 * - memory per simulated agent: RSS delta / N once all are connected, in a child process of its own;
 *   peer: one bare MQTT.js client per device on the same broker, in another child. Goal <= 1.5x.
 * - the embedded broker (aedes with device auth, as the control plane runs it, in a child process)
 *   against Mosquitto: P publishers at QoS 1 -> one counting subscriber, messages/s. Goal >= 0.5x.
 *
 * Every phase has a deadline; a phase that overruns reports what it reached, marked as partial.
 * Run alone: `npx tsc -b && node bench/dist/fleet.js [--devices N]` (default 10,000).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { hashToken, startEmbeddedBroker, verifyToken } from '@edgefleet/control-plane';
import {
  ControlPlaneHttp,
  SensorGenerator,
  spreadSourceAddresses,
  startServerProcess,
  startSimFleet,
  type ServerProcess,
  type SimFleet,
} from '@edgefleet/fleet-sim';
import { linearClassifier } from '@edgefleet/protocol';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { printTable, writeResults, median, type BenchRow } from './lib/report.js';
import { freePort } from './lib/net.js';
import { freshPostgres } from './lib/postgres.js';

export interface FleetBenchOptions {
  /** Simulated devices in the rollout and memory phases (default 10,000). */
  readonly devices?: number;
  /** Publishers in the broker comparison (default 200), each sending `messagesPerPublisher`. */
  readonly publishers?: number;
  readonly messagesPerPublisher?: number;
  /** Run only these parts (default all): `broker`, `memory`, `wave`. */
  readonly only?: readonly ('broker' | 'memory' | 'wave')[];
  /** Progress lines (default: console.log). */
  readonly log?: (line: string) => void;
}

const GROUP = 'fleet';
/** AWS IoT Jobs: `maximumPerMinute` of a job's rollout is at most 1,000 devices per minute. */
const AWS_JOBS_PER_SECOND = 1000 / 60;
/** One source address gives ~28k ephemeral ports to one broker port; stay well below. */
const DEVICES_PER_SOURCE_ADDRESS = 20_000;
const SELF = fileURLToPath(import.meta.url);

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mib = (bytes: number) => bytes / 1024 / 1024;

/** Thrown when a phase overruns its deadline. */
class DeadlineExceeded extends Error {}

/** `work`, or DeadlineExceeded after `ms` (the work itself goes on; the caller cleans up). */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new DeadlineExceeded(`${what} did not finish within ${(ms / 1000).toFixed(0)} s`));
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Peak RSS (VmHWM) of a live process, in bytes; NaN when it cannot be read. */
async function peakRss(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

const ownPeakRss = () => process.resourceUsage().maxRSS * 1024;

/** `edgefleet-sim`'s fake-runtime devices connect from one address up to ~20k, then spread. */
function connectorFor(devices: number) {
  const k = Math.ceil(devices / DEVICES_PER_SOURCE_ADDRESS);
  return k > 1 ? { mqttConnectFor: spreadSourceAddresses(Math.min(k, 254)) } : {};
}

// --- The control plane ----------------------------------------------------------------------------

interface ControlPlane {
  readonly server: ServerProcess;
  /** `PostgreSQL` or `PGlite`. */
  readonly database: string;
  readonly api: ControlPlaneHttp;
  readonly releaseId: string;
  enrollToken(maxUses: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * `edgefleet server` with one released model: the sample linear classifier (4 features, 3 classes),
 * whose outputs the fake runtime computes exactly; the release has no health check anyway, so the
 * wave measures the control plane and the agents, not a model.
 */
async function startControlPlane(dir: string, log: (line: string) => void): Promise<ControlPlane> {
  const pg = await freshPostgres('ef_bench_fleet');
  if (typeof pg === 'string') log(`fleet: ${pg}; the control plane runs on PGlite`);
  const dropDb = typeof pg === 'string' ? () => Promise.resolve() : pg.drop;
  let server: ServerProcess;
  try {
    server = await startServerProcess({
      dataDir: join(dir, 'cp'),
      logLevel: 'info',
      // The scheduler's own account of each tick that sent directives (how long planning and
      // publishing took), so a slow wave shows which side it is slow on.
      onLog: (line) => {
        if (!line.includes('"directives published"')) return;
        try {
          const r = JSON.parse(line) as { published: number; planMs: number; publishMs: number };
          log(
            `fleet: server published ${r.published} (plan ${r.planMs} ms, publish ${r.publishMs} ms)`,
          );
        } catch {
          /* not a log line */
        }
      },
      ...(typeof pg === 'string' ? {} : { extraArgs: ['--database-url', pg.url] }),
    });
  } catch (e) {
    await dropDb();
    throw e;
  }
  // A bench that exits mid-run must not leave the server behind.
  const killServer = () => server.child.kill('SIGKILL');
  process.once('exit', killServer);
  try {
    const api = new ControlPlaneHttp(server.httpUrl, server.adminToken);
    await api.upload(
      '/v1/models/sensor/versions',
      { version: '1' },
      {
        model: { name: 'm.onnx', bytes: linearClassifier({ features: 4, classes: 3 }) },
        reference: { name: 'ref.csv', bytes: new SensorGenerator(1).csv(500) },
      },
    );
    const { releaseId } = await api.json<{ releaseId: string }>('POST', '/v1/releases', {
      model: 'sensor',
      version: '1',
      healthCheck: null,
    });
    return {
      server,
      database: typeof pg === 'string' ? 'PGlite' : 'PostgreSQL',
      api,
      releaseId,
      async enrollToken(maxUses) {
        return (await api.json<{ token: string }>('POST', '/v1/enrollment-tokens', { maxUses }))
          .token;
      },
      async close() {
        process.off('exit', killServer);
        await server.stop();
        await dropDb();
      },
    };
  } catch (e) {
    process.off('exit', killServer);
    await server.stop();
    await dropDb();
    throw e;
  }
}

// --- (a) a full wave --------------------------------------------------------------------------------

interface WaveResult {
  readonly devices: number;
  /** Devices enrolled and connected (less than `devices` when that phase overran). */
  readonly connected: number;
  readonly enrollSeconds: number;
  readonly assigned: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Failures by state and reason, e.g. `3 failed(download_failed)`. */
  readonly failures?: string;
  /** The most frequent failure details (paths and hex ids masked), with their counts. */
  readonly failureDetails?: string;
  /** Devices neither succeeded nor failed at the end, by their last deployment state. */
  readonly unfinished?: string;
  /** Connected -> the server saw every device online (the wave is posted after that). */
  readonly settleSeconds?: number;
  /** POST /v1/rollouts -> last `assigned`, or -> deadline when not all were. */
  readonly notifySeconds: number;
  /** POST /v1/rollouts -> first and median `assigned` (the scheduler's latency, then the spread). */
  readonly firstAssignedSeconds: number;
  readonly medianAssignedSeconds: number;
  readonly succeedSeconds: number;
  readonly partial?: string;
  /** Peak RSS of this process and of the server child, bytes. */
  readonly simPeakRss: number;
  readonly serverPeakRss: number;
  readonly database: string;
}

async function fullWave(
  cp: ControlPlane,
  dir: string,
  devices: number,
  log: (line: string) => void,
): Promise<WaveResult> {
  const enrollDeadline = 120_000 + devices * 30;
  const waveDeadline = 120_000 + devices * 20;
  let enrolled = 0;
  let started = 0;
  let lastShown = 0;
  const t0 = performance.now();
  const simStarting = startSimFleet({
    apiUrl: cp.server.httpUrl,
    enrollToken: await cp.enrollToken(devices),
    devices,
    stateDir: join(dir, 'wave'),
    runId: 'wave',
    runtime: 'fake',
    concurrency: 64,
    ...connectorFor(devices),
    onProgress: (phase, done, total) => {
      if (phase === 'enrolled') enrolled = done;
      else started = done;
      if (done === total || performance.now() - lastShown > 5000) {
        lastShown = performance.now();
        log(`fleet: ${phase} ${done}/${total}`);
      }
    },
  });
  let sim: SimFleet;
  try {
    sim = await within(enrollDeadline, 'enrolling and connecting the fleet', simStarting);
  } catch (e) {
    if (!(e instanceof DeadlineExceeded)) throw e;
    // Stopping what did start needs the fleet object: wait for it on the still-running server.
    log(`fleet: ${e.message}; waiting for the start to settle to clean up`);
    void simStarting.then(
      (s) => s.close(),
      () => undefined,
    );
    return {
      devices,
      connected: Math.min(enrolled, started),
      enrollSeconds: (performance.now() - t0) / 1000,
      assigned: 0,
      succeeded: 0,
      failed: 0,
      notifySeconds: NaN,
      firstAssignedSeconds: NaN,
      medianAssignedSeconds: NaN,
      succeedSeconds: NaN,
      partial: e.message,
      simPeakRss: ownPeakRss(),
      serverPeakRss: await peakRss(cp.server.child.pid),
      database: cp.database,
    };
  }
  const enrollSeconds = (performance.now() - t0) / 1000;
  try {
    const assignedAt: number[] = [];
    const succeededAt: number[] = [];
    let failed = 0;
    const failures = new Map<string, number>();
    const details = new Map<string, number>();
    let wake: () => void = () => undefined;
    const removers: (() => void)[] = [];
    for (const d of sim.fleet.devices) {
      const onDeployment = (e: {
        releaseId: string;
        state: string;
        reason?: string;
        detail?: string;
      }) => {
        if (e.releaseId !== cp.releaseId) return;
        if (e.state === 'assigned') assignedAt.push(performance.now());
        else if (e.state === 'succeeded') succeededAt.push(performance.now());
        else if (e.state === 'failed' || e.state === 'rolled_back') {
          failed++;
          const why = `${e.state}(${e.reason ?? '?'})`;
          failures.set(why, (failures.get(why) ?? 0) + 1);
          const detail = `${why}: ${maskDetail(e.detail ?? '(no detail)')}`;
          details.set(detail, (details.get(detail) ?? 0) + 1);
        } else return;
        wake();
      };
      d.agent.on('deployment', onDeployment);
      removers.push(() => d.agent.off('deployment', onDeployment));
    }
    const n = sim.fleet.devices.length;
    const until = async (done: () => boolean, deadline: number) => {
      while (!done() && performance.now() < deadline) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 250);
        });
      }
      return done();
    };
    // Start from a settled control plane: right after the connect storm it is still digesting N
    // devices' first presence and state reports, and a wave posted then measures that backlog.
    const settling = performance.now();
    const settleDeadline = settling + 60_000 + n * 10;
    const online = async () =>
      (
        await cp.api.json<{ total: number }>(
          'GET',
          `/v1/devices?online=true&limit=1&selector=${encodeURIComponent(sim.selector)}`,
        )
      ).total;
    while ((await online()) < n && performance.now() < settleDeadline) await wait(500);
    const settleSeconds = (performance.now() - settling) / 1000;
    log(`fleet: the server saw all devices online after ${settleSeconds.toFixed(1)} s`);
    const posted = performance.now();
    await cp.api.json('POST', '/v1/rollouts', {
      releaseId: cp.releaseId,
      selector: sim.selector,
      waves: [{ name: 'all', size: { percent: 100 }, soak: { minInferences: 0, duration: 0 } }],
      rate: { maxPerMinute: 1_000_000 },
      maxConcurrent: n,
    });
    const deadline = posted + waveDeadline;
    const allAssigned = await until(() => assignedAt.length >= n, deadline);
    log(
      `fleet: ${assignedAt.length}/${n} assigned after ${((performance.now() - posted) / 1000).toFixed(1)} s`,
    );
    const allSucceeded = await until(() => succeededAt.length + failed >= n, deadline);
    const stuck = new Map<string, number>();
    for (const d of sim.fleet.devices) {
      const dep = d.agent.status().deployment;
      const state = dep?.releaseId === cp.releaseId ? dep.state : 'not assigned';
      if (state === 'succeeded' || state === 'failed' || state === 'rolled_back') continue;
      stuck.set(state, (stuck.get(state) ?? 0) + 1);
    }
    const topDetails = [...details]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([d, c]) => `${c}x ${d}`)
      .join(' | ');
    if (topDetails !== '') log(`fleet: failure details: ${topDetails}`);
    if (stuck.size > 0)
      log(`fleet: unfinished: ${[...stuck].map(([s, c]) => `${c} ${s}`).join(', ')}`);
    const lastOf = (xs: number[], all: boolean) =>
      ((all ? xs.reduce((a, b) => Math.max(a, b), posted) : performance.now()) - posted) / 1000;
    for (const remove of removers) remove();
    const result: WaveResult = {
      devices,
      connected: sim.fleet.devices.filter((d) => d.agent.connected).length,
      enrollSeconds,
      assigned: assignedAt.length,
      succeeded: succeededAt.length,
      failed,
      failures: [...failures].map(([why, count]) => `${count} ${why}`).join(', '),
      ...(topDetails !== '' ? { failureDetails: topDetails } : {}),
      ...(stuck.size > 0 ? { unfinished: [...stuck].map(([s, c]) => `${c} ${s}`).join(', ') } : {}),
      settleSeconds,
      notifySeconds: lastOf(assignedAt, allAssigned),
      firstAssignedSeconds:
        assignedAt.length > 0 ? (assignedAt.reduce((a, b) => Math.min(a, b)) - posted) / 1000 : NaN,
      medianAssignedSeconds: assignedAt.length > 0 ? (median(assignedAt) - posted) / 1000 : NaN,
      succeedSeconds: lastOf(succeededAt, allSucceeded && failed === 0),
      ...(allSucceeded
        ? {}
        : {
            partial: `the wave did not finish within ${(waveDeadline / 1000).toFixed(0)} s: ${assignedAt.length} assigned, ${succeededAt.length} succeeded, ${failed} failed of ${n}`,
          }),
      simPeakRss: ownPeakRss(),
      serverPeakRss: await peakRss(cp.server.child.pid),
      database: cp.database,
    };
    return result;
  } finally {
    const stopping = performance.now();
    await within(60_000 + devices * 10, 'stopping the fleet', sim.close()).catch((e: unknown) => {
      log(`fleet: ${(e as Error).message}`);
    });
    log(`fleet: stopped in ${((performance.now() - stopping) / 1000).toFixed(1)} s`);
  }
}

// --- (b) memory per agent, in child processes --------------------------------------------------------

interface MemoryReport {
  readonly kind: 'agents' | 'bare';
  readonly devices: number;
  readonly connected: number;
  readonly baselineRss: number;
  readonly connectedRss: number;
  readonly peakRss: number;
}

/** Run this file as a child (`--child ...`) and take the one JSON line it prints. */
async function runChild<T>(args: readonly string[], deadlineMs: number): Promise<T> {
  const child = spawn(process.execPath, ['--expose-gc', SELF, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const exited = new Promise<void>((r) => {
    child.once('exit', () => {
      r();
    });
  });
  try {
    return await within(
      deadlineMs,
      `child ${args.slice(0, 2).join(' ')}`,
      new Promise<T>((resolve, reject) => {
        lines.on('line', (line) => {
          if (line.startsWith('{')) resolve(JSON.parse(line) as T);
        });
        child.once('exit', (code) => {
          reject(new Error(`child ${args.join(' ')} exited (${code}) without a result`));
        });
      }),
    );
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  }
}

/** Child: `--child memory --kind agents|bare`: baseline RSS, N devices connected, RSS again. */
/**
 * With `EF_BENCH_HEAP_SNAPSHOT=<dir>`, the memory children write a heap snapshot once connected
 * (`<dir>/<kind>.heapsnapshot`), to compare what an agent holds beyond a bare client.
 */
function snapshotHeap(kind: 'agents' | 'bare'): void {
  const dir = process.env.EF_BENCH_HEAP_SNAPSHOT;
  if (dir !== undefined && dir !== '') writeHeapSnapshot(join(dir, `${kind}.heapsnapshot`));
}

async function memoryChild(kind: 'agents' | 'bare', apiUrl: string, token: string, n: number) {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await wait(200);
    }
  };
  await settle();
  const baselineRss = process.memoryUsage.rss();
  const dir = await mkdtemp(join(tmpdir(), `ef-bench-mem-${kind}-`));
  let report: MemoryReport;
  try {
    if (kind === 'agents') {
      const sim = await startSimFleet({
        apiUrl,
        enrollToken: token,
        devices: n,
        stateDir: dir,
        runId: 'mem',
        runtime: 'fake',
        concurrency: 64,
        ...connectorFor(n),
      });
      await wait(1000);
      await settle();
      snapshotHeap(kind);
      report = {
        kind,
        devices: n,
        connected: sim.fleet.devices.filter((d) => d.agent.connected).length,
        baselineRss,
        connectedRss: process.memoryUsage.rss(),
        peakRss: ownPeakRss(),
      };
      await sim.close();
    } else {
      const clients = await bareClients(apiUrl, token, n);
      await wait(1000);
      await settle();
      snapshotHeap(kind);
      report = {
        kind,
        devices: n,
        connected: clients.filter((c) => c.connected).length,
        baselineRss,
        connectedRss: process.memoryUsage.rss(),
        peakRss: ownPeakRss(),
      };
      await Promise.all(clients.map((c) => c.endAsync()));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(report) + '\n');
}

/** Enroll N devices over HTTP (as the simulator does) and connect one bare MQTT.js client each. */
async function bareClients(apiUrl: string, token: string, n: number): Promise<MqttClient[]> {
  const k = Math.ceil(n / DEVICES_PER_SOURCE_ADDRESS);
  const clients: MqttClient[] = new Array<MqttClient>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const res = await fetch(`${apiUrl}/v1/devices/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          token,
          deviceId: `bare-${String(i).padStart(5, '0')}`,
          hardwareClass: 'rpi5',
          os: 'linux',
          arch: 'arm64',
          ortVersion: '1.30.0',
          executionProviders: ['cpu'],
          labels: { sim: 'bare' },
        }),
      });
      if (!res.ok) throw new Error(`enrolling bare-${i}: ${res.status} ${await res.text()}`);
      const e = (await res.json()) as { deviceId: string; deviceToken: string; mqttUrl: string };
      const options: IClientOptions = {
        clientId: e.deviceId,
        username: e.deviceId,
        password: e.deviceToken,
        reconnectPeriod: 0,
        clean: true,
      };
      if (k > 1) (options as { localAddress?: string }).localAddress = `127.0.0.${1 + (i % k)}`;
      clients[i] = await connectAsync(e.mqttUrl, options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(64, n) }, worker));
  return clients;
}

async function memoryPerAgent(
  cp: ControlPlane,
  devices: number,
  log: (line: string) => void,
): Promise<{ agents?: MemoryReport; bare?: MemoryReport; partial?: string }> {
  const deadline = 120_000 + devices * 30;
  const out: { agents?: MemoryReport; bare?: MemoryReport; partial?: string } = {};
  for (const kind of ['agents', 'bare'] as const) {
    const token = await cp.enrollToken(devices);
    try {
      const r = await runChild<MemoryReport>(
        [
          '--child',
          'memory',
          '--kind',
          kind,
          '--api',
          cp.server.httpUrl,
          '--token',
          token,
          '--devices',
          String(devices),
        ],
        deadline,
      );
      log(
        `fleet: memory ${kind}: ${r.connected}/${r.devices} connected, RSS ${mib(r.baselineRss).toFixed(0)} -> ${mib(r.connectedRss).toFixed(0)} MiB`,
      );
      out[kind] = r;
    } catch (e) {
      out.partial = `${kind}: ${(e as Error).message}`;
      log(`fleet: memory ${out.partial}`);
    }
  }
  return out;
}

// --- (c) embedded broker against Mosquitto ------------------------------------------------------------

interface BrokerAuthFile {
  readonly controlPlane: { readonly username: string; readonly password: string };
  readonly devices: readonly {
    readonly id: string;
    readonly token: string;
    readonly hash: string;
  }[];
}

/** Child: `--child broker --auth FILE`: the embedded broker as the server starts it; prints its port. */
async function brokerChild(authFile: string): Promise<void> {
  const auth = JSON.parse(await readFile(authFile, 'utf8')) as BrokerAuthFile;
  const hashes = new Map(auth.devices.map((d) => [d.id, d.hash]));
  const broker = await startEmbeddedBroker({
    port: 0,
    authenticateDevice: async (id, token) => {
      const hash = hashes.get(id);
      return hash !== undefined && (await verifyToken(token, hash));
    },
    controlPlaneCredentials: auth.controlPlane,
    connectRateLimit: { perSecond: 2000, burst: 20_000 },
    logger: pino({ level: 'silent' }),
  });
  process.stdout.write(JSON.stringify({ url: broker.url }) + '\n');
  await new Promise<void>((r) => process.once('SIGTERM', r));
  await broker.close();
}

interface Broker {
  readonly url: string;
  readonly pid: number | undefined;
  close(): Promise<void>;
}

/** Start a child that prints `{url}` when ready (the embedded broker child). */
async function startEmbeddedChild(authFile: string): Promise<Broker> {
  const child = spawn(process.execPath, [SELF, '--child', 'broker', '--auth', authFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => {
    child.once('exit', () => {
      r();
    });
  });
  const lines = createInterface({ input: child.stdout });
  try {
    const { url } = await within(
      30_000,
      'starting the embedded broker',
      new Promise<{ url: string }>((resolve, reject) => {
        lines.on('line', (line) => {
          if (line.startsWith('{')) resolve(JSON.parse(line) as { url: string });
        });
        child.once('exit', (code) => {
          reject(new Error(`broker child exited (${code})`));
        });
      }),
    );
    return { url, pid: child.pid, close: () => stopChild(child, exited) };
  } catch (e) {
    await stopChild(child, exited);
    throw e;
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function startMosquitto(): Promise<Broker | string> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-bench-mosq-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n` +
      'max_inflight_messages 0\nmax_queued_messages 0\n',
  );
  let child: ChildProcess;
  try {
    child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', resolve);
    });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    return `mosquitto not started: ${(e as Error).message}`;
  }
  const exited = new Promise<void>((r) => {
    child.once('exit', () => {
      r();
    });
  });
  const url = `mqtt://127.0.0.1:${port}`;
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const c = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 1000 });
      await c.endAsync();
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        await stopChild(child, exited);
        await rm(dir, { recursive: true, force: true });
        return `mosquitto did not accept connections: ${(e as Error).message}`;
      }
      await wait(50);
    }
  }
  return {
    url,
    pid: child.pid,
    async close() {
      await stopChild(child, exited);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Messages/s: every publisher sends its messages at QoS 1, one in flight each (a device's outbox),
 * from the first publish until the subscriber has received them all (or the deadline: partial).
 */
async function brokerLoad(
  url: string,
  auth: BrokerAuthFile | undefined,
  publishers: readonly { id: string; token: string }[],
  perPublisher: number,
): Promise<{ rate: number; received: number; partial?: string }> {
  const sub = await connectAsync(url, {
    clientId: `bench-sub-${randomBytes(3).toString('hex')}`,
    reconnectPeriod: 0,
    ...(auth ? auth.controlPlane : {}),
  });
  await sub.subscribeAsync('edgefleet/v1/d/+/telemetry', { qos: 1 });
  const total = publishers.length * perPublisher;
  let received = 0;
  let wake: () => void = () => undefined;
  sub.on('message', () => {
    if (++received >= total) wake();
  });
  const clients = await Promise.all(
    publishers.map((p) =>
      connectAsync(url, {
        clientId: p.id,
        ...(auth ? { username: p.id, password: p.token } : {}),
        reconnectPeriod: 0,
      }),
    ),
  );
  const payload = randomBytes(512);
  const deadline = 60_000;
  const started = performance.now();
  try {
    const done = new Promise<void>((r) => (wake = r));
    await within(
      deadline,
      'the broker load',
      Promise.all([
        done,
        ...clients.map(async (c, i) => {
          const topic = `edgefleet/v1/d/${publishers[i]!.id}/telemetry`;
          for (let m = 0; m < perPublisher; m++) await c.publishAsync(topic, payload, { qos: 1 });
        }),
      ]),
    );
    return { rate: total / ((performance.now() - started) / 1000), received };
  } catch (e) {
    if (!(e instanceof DeadlineExceeded)) throw e;
    return {
      rate: received / ((performance.now() - started) / 1000),
      received,
      partial: `${e.message}: ${received}/${total} received`,
    };
  } finally {
    await Promise.all([...clients, sub].map((c) => c.endAsync(true)));
  }
}

async function brokerComparison(
  publishers: number,
  perPublisher: number,
  log: (line: string) => void,
): Promise<{ embedded: number; mosquitto: number | string; partial?: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-bench-broker-'));
  try {
    const devices = await Promise.all(
      Array.from({ length: publishers }, async (_, i) => {
        const token = randomBytes(24).toString('base64url');
        return { id: `pub-${i}`, token, hash: await hashToken(token) };
      }),
    );
    const auth: BrokerAuthFile = {
      controlPlane: {
        username: 'edgefleet-control-plane',
        password: randomBytes(24).toString('hex'),
      },
      devices,
    };
    const authFile = join(dir, 'auth.json');
    await writeFile(authFile, JSON.stringify(auth));
    const runs = 3;
    const embeddedRates: number[] = [];
    const mosquittoRates: number[] = [];
    const partial: string[] = [];
    const embedded = await startEmbeddedChild(authFile);
    try {
      for (let r = 0; r < runs; r++) {
        const res = await brokerLoad(embedded.url, auth, devices, perPublisher);
        embeddedRates.push(res.rate);
        if (res.partial) partial.push(`embedded: ${res.partial}`);
      }
    } finally {
      await embedded.close();
    }
    const mosquitto = await startMosquitto();
    if (typeof mosquitto === 'string') {
      log(`fleet: ${mosquitto}; the Mosquitto peer is skipped`);
      return { embedded: median(embeddedRates), mosquitto };
    }
    try {
      for (let r = 0; r < runs; r++) {
        const res = await brokerLoad(mosquitto.url, undefined, devices, perPublisher);
        mosquittoRates.push(res.rate);
        if (res.partial) partial.push(`mosquitto: ${res.partial}`);
      }
    } finally {
      await mosquitto.close();
    }
    log(
      `fleet: broker msgs/s embedded ${embeddedRates.map((x) => x.toFixed(0)).join(', ')}; mosquitto ${mosquittoRates.map((x) => x.toFixed(0)).join(', ')}`,
    );
    return {
      embedded: median(embeddedRates),
      mosquitto: median(mosquittoRates),
      ...(partial.length > 0 ? { partial: partial.join('; ') } : {}),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A failure detail with its per-device parts (paths, hex ids, numbers) masked, for counting. */
function maskDetail(detail: string): string {
  return detail
    .replace(/'?\/[^\s',)]+'?/g, '<path>')
    .replace(/\b[0-9a-f]{12,}\b/g, '<hex>')
    .replace(/\b\d+\b/g, 'N')
    .slice(0, 200);
}

// --- Rows ---------------------------------------------------------------------------------------------

function waveRows(w: WaveResult): BenchRow[] {
  const n = w.devices;
  const notified = w.assigned / w.notifySeconds;
  const awsSeconds = n / AWS_JOBS_PER_SECOND;
  const rss = `server on ${w.database}; peak RSS: simulator ${mib(w.simPeakRss).toFixed(0)} MiB, server ${mib(w.serverPeakRss).toFixed(0)} MiB; enroll + connect ${w.enrollSeconds.toFixed(1)} s${w.settleSeconds === undefined ? '' : `, settle ${w.settleSeconds.toFixed(1)} s`}`;
  const partial = w.partial ? `PARTIAL: ${w.partial}; ` : '';
  return [
    {
      group: GROUP,
      name: `devices/s notified, 1 wave of 100 %, N=${n} (POST /v1/rollouts -> all 'assigned')`,
      value: notified,
      unit: 'dev/s',
      peer: 'AWS IoT Jobs max rollout rate (documented, 1000/min)',
      peerValue: AWS_JOBS_PER_SECOND,
      ratio: notified / AWS_JOBS_PER_SECOND,
      goal: '>= 1000 dev/s',
      pass: !w.partial && notified >= 1000,
      note: `${partial}${w.assigned}/${n} assigned in ${w.notifySeconds.toFixed(2)} s (first after ${w.firstAssignedSeconds.toFixed(2)} s, median ${w.medianAssignedSeconds.toFixed(2)} s); ${rss}`,
    },
    {
      group: GROUP,
      name: `s to all 'succeeded', N=${n} (soak 0 inferences, 0 s)`,
      value: w.succeedSeconds,
      unit: 's',
      peer: 'AWS IoT Jobs: time only to notify N at 1000/min',
      peerValue: awsSeconds,
      ratio: w.succeedSeconds / awsSeconds,
      goal: 'ratio <= 1',
      pass: !w.partial && w.succeeded === n && w.succeedSeconds <= awsSeconds,
      note: `${partial}${w.succeeded} succeeded, ${w.failed} failed of ${n}${w.failures ? ` (${w.failures})` : ''}${w.unfinished ? `; unfinished: ${w.unfinished}` : ''}${w.failureDetails ? `; details: ${w.failureDetails}` : ''}`,
    },
  ];
}

function memoryRow(
  devices: number,
  m: { agents?: MemoryReport; bare?: MemoryReport; partial?: string },
): BenchRow {
  const per = (r: MemoryReport | undefined) =>
    r === undefined ? NaN : (r.connectedRss - r.baselineRss) / r.devices / 1024;
  const value = per(m.agents);
  const peerValue = per(m.bare);
  const complete =
    m.agents !== undefined &&
    m.bare !== undefined &&
    m.agents.connected === devices &&
    m.bare.connected === devices;
  const peaks = [m.agents, m.bare]
    .filter((r): r is MemoryReport => r !== undefined)
    .map(
      (r) =>
        `${r.kind} ${r.connected}/${r.devices} connected, peak ${mib(r.peakRss).toFixed(0)} MiB`,
    )
    .join('; ');
  return {
    group: GROUP,
    name: `KiB RSS per simulated agent, N=${devices} connected (own process)`,
    value,
    unit: 'KiB',
    peer: 'bare MQTT.js client per device, same broker',
    peerValue,
    ratio: value / peerValue,
    goal: 'ratio <= 1.5',
    pass: complete && value / peerValue <= 1.5,
    note: `${m.partial ? `PARTIAL: ${m.partial}; ` : ''}${peaks}`,
  };
}

function brokerRow(
  publishers: number,
  perPublisher: number,
  b: { embedded: number; mosquitto: number | string; partial?: string },
): BenchRow {
  const name = `msgs/s, ${publishers} publishers x ${perPublisher} QoS 1 (512 B) -> 1 subscriber`;
  const peer = 'Mosquitto, same load';
  if (typeof b.mosquitto === 'string') {
    return {
      group: GROUP,
      name,
      value: b.embedded,
      unit: 'msg/s',
      peer,
      peerValue: NaN,
      ratio: NaN,
      goal: 'ratio >= 0.5',
      pass: false,
      note: `skipped: ${b.mosquitto}`,
    };
  }
  const ratio = b.embedded / b.mosquitto;
  return {
    group: GROUP,
    name: `${name}, embedded broker (aedes + device auth)`,
    value: b.embedded,
    unit: 'msg/s',
    peer,
    peerValue: b.mosquitto,
    ratio,
    goal: 'ratio >= 0.5',
    pass: !b.partial && ratio >= 0.5,
    note: `median of 3 runs, each broker in its own process${b.partial ? `; PARTIAL: ${b.partial}` : ''}`,
  };
}

/** All rows of the "fleet" group. */
export async function runFleetBench(opts: FleetBenchOptions = {}): Promise<BenchRow[]> {
  const devices = opts.devices ?? 10_000;
  const publishers = opts.publishers ?? 200;
  const perPublisher = opts.messagesPerPublisher ?? 50;
  const log =
    opts.log ??
    ((line: string) => {
      console.log(line);
    });
  if (!Number.isInteger(devices) || devices < 1)
    throw new RangeError('devices: a positive integer');
  const rows: BenchRow[] = [];

  const runs = (part: 'broker' | 'memory' | 'wave') => opts.only?.includes(part) ?? true;
  if (runs('broker')) {
    const b = await brokerComparison(publishers, perPublisher, log);
    rows.push(brokerRow(publishers, perPublisher, b));
  }
  if (!runs('memory') && !runs('wave')) return rows;

  const dir = await mkdtemp(join(tmpdir(), 'ef-bench-fleet-'));
  try {
    const cp = await startControlPlane(dir, log);
    try {
      if (runs('memory')) rows.push(memoryRow(devices, await memoryPerAgent(cp, devices, log)));
      if (runs('wave')) rows.push(...waveRows(await fullWave(cp, dir, devices, log)));
    } finally {
      await cp.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string', default: '10000' },
      child: { type: 'string' },
      kind: { type: 'string' },
      api: { type: 'string' },
      token: { type: 'string' },
      auth: { type: 'string' },
      only: { type: 'string' },
    },
  });
  const devices = Number(values.devices);
  if (values.child === 'memory') {
    if (values.kind !== 'agents' && values.kind !== 'bare') throw new Error('--kind agents|bare');
    await memoryChild(values.kind, values.api!, values.token!, devices);
    return;
  }
  if (values.child === 'broker') {
    await brokerChild(values.auth!);
    return;
  }
  const only = values.only?.split(',') as ('broker' | 'memory' | 'wave')[] | undefined;
  const rows = await runFleetBench({ devices, ...(only ? { only } : {}) });
  printTable(rows);
  for (const r of rows) if (r.note !== undefined) console.log(`${r.name}: ${r.note}`);
  const benchDir = fileURLToPath(
    new URL(import.meta.url.includes('/dist/') ? '../' : './', import.meta.url),
  );
  writeResults(`${benchDir}results.json`, rows);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
