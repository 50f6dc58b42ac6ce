/**
 * Telemetry ingest benchmark (issue #7 item 7). N simulated devices (raw MQTT.js clients with real
 * device credentials, publishing valid `telemetry` messages: a DDSketch of latencies and a profile of
 * 4 sensor columns) against a real control plane on its own thread (`lib/ingest-server.ts`; the
 * Mosquitto peer has its own process, so neither broker shares the clients' event loop):
 *
 * - throughput, end to end: first publish -> every window merged into the committed aggregates,
 *   through the embedded broker; peer: the same publishes through Mosquitto to a subscriber that only
 *   counts (the broker alone, no decoding and no database). Goal: ratio >= 0.3.
 * - p99 from publish to committed aggregate at a sustained moderate rate (each batch's commit time
 *   from the ingest's flush reports, matched to publish times in arrival order); peer: Mosquitto
 *   publish -> subscriber delivery at the same rate. Goal: <= 250 ms.
 * - the throughput run on PGlite against PostgreSQL (DATABASE_URL, else
 *   postgres://postgres@127.0.0.1:5432/postgres; a fresh database, dropped afterwards). Goal: <= 3x.
 *
 * Peers that are not available (no `mosquitto` binary, no PostgreSQL) are skipped with a printed
 * line and a row marked as such. Run alone: `npx tsc -b bench && node bench/dist/ingest.js`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ControlPlaneHttp, DEMO_BIAS, DEMO_WEIGHTS, SensorGenerator } from '@edgefleet/fleet-sim';
import {
  DDSketch,
  encodeMessage,
  encodeProfile,
  linearClassifier,
  profileFromRows,
  type FeatureSpec,
} from '@edgefleet/protocol';
import { connectAsync, type MqttClient } from 'mqtt';
import { printTable, writeResults, type BenchRow } from './lib/report.js';
import { freePort } from './lib/net.js';
import { freshPostgres } from './lib/postgres.js';
import { startIngestServer, type IngestServer } from './lib/ingest-server.js';

const DEVICES = 40;
const WINDOWS_PER_DEVICE = 25;
/** Sustained rate of the latency run, messages/s, and its length. */
const RATE = 200;
const LATENCY_SECONDS = 5;
const TOPIC = (id: string) => `edgefleet/v1/d/${id}/telemetry`;

interface Creds {
  readonly deviceId: string;
  readonly token: string;
}

interface ControlPlane {
  readonly server: IngestServer;
  readonly devices: readonly Creds[];
  readonly releaseId: string;
  /** The release's feature spec: the windows profile its inputs and its outputs, as agents do. */
  readonly featureSpec: FeatureSpec;
  close(): Promise<void>;
}

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A control plane (on its own thread) with a released model and `DEVICES` enrolled devices. */
async function startControlPlane(databaseUrl?: string): Promise<ControlPlane> {
  const server = await startIngestServer(databaseUrl);
  const api = new ControlPlaneHttp(server.httpUrl, server.adminToken);
  const model = linearClassifier({
    features: 4,
    classes: 3,
    weights: DEMO_WEIGHTS,
    bias: DEMO_BIAS,
  });
  await api.upload(
    '/v1/models/sensor/versions',
    { version: '1' },
    {
      model: { name: 'm.onnx', bytes: model },
      reference: { name: 'ref.csv', bytes: new SensorGenerator(1).csv(500) },
    },
  );
  const release = await api.json<{
    releaseId: string;
    document: { signed: { featureSpec: FeatureSpec } };
  }>('POST', '/v1/releases', { model: 'sensor', version: '1' });
  const { releaseId } = release;
  const { token } = await api.json<{ token: string }>('POST', '/v1/enrollment-tokens', {
    maxUses: DEVICES,
  });
  const devices: Creds[] = [];
  for (let i = 0; i < DEVICES; i++) {
    const e = await api.json<{ deviceId: string; deviceToken: string }>(
      'POST',
      '/v1/devices/enroll',
      {
        token,
        deviceId: `bench-${i}`,
        hardwareClass: i % 2 ? 'rpi5' : 'jetson',
        os: 'linux',
        arch: 'arm64',
        ortVersion: '1.30.0',
        executionProviders: ['cpu'],
        labels: { site: ['berlin', 'paris', 'tokyo'][i % 3]! },
      },
    );
    devices.push({ deviceId: e.deviceId, token: e.deviceToken });
  }
  return {
    server,
    devices,
    releaseId,
    featureSpec: release.document.signed.featureSpec,
    close: () => server.close(),
  };
}

/** Valid telemetry payloads: `windows` consecutive 1-minute windows per device, from `firstSeq`. */
function payloads(
  devices: readonly Creds[],
  releaseId: string,
  spec: FeatureSpec,
  windows: number,
  firstSeq: number,
  firstWindow: number,
): Map<string, Uint8Array[]> {
  const gen = new SensorGenerator(7);
  const data = gen.batch(64, 'reference');
  // The release's inputs (the four sensor columns) and its outputs (a classifier: the predicted
  // class and its score), 64 rows per window, as an agent profiles what it serves.
  const rows = Array.from({ length: 64 }, (_, r) => {
    const row: Record<string, number | string> = {
      temperature: data[r * 4]!,
      vibration: data[r * 4 + 1]!,
      current: data[r * 4 + 2]!,
      pressure: data[r * 4 + 3]!,
    };
    for (const o of spec.outputs) {
      if (o.kind === 'classifier') {
        row[`${o.output}.class`] = String(r % 3);
        row[`${o.output}.top_score`] = 0.5 + (r % 50) / 100;
      }
    }
    return row;
  });
  const profile = profileFromRows(rows, spec);
  if (!profile.ok) throw new Error(profile.message);
  const wire = encodeProfile(profile.value);
  const latency = new DDSketch();
  for (let i = 0; i < 64; i++) latency.update(1 + (i % 7) * 0.3);
  const out = new Map<string, Uint8Array[]>();
  for (const d of devices) {
    const list: Uint8Array[] = [];
    for (let w = 0; w < windows; w++) {
      const start = firstWindow + w * 60_000;
      list.push(
        encodeMessage('telemetry', {
          v: 1,
          type: 'telemetry',
          deviceId: d.deviceId,
          seq: firstSeq + w,
          window: {
            start: new Date(start).toISOString(),
            end: new Date(start + 60_000).toISOString(),
          },
          releaseId,
          executionProvider: 'cpu',
          requests: 64,
          errors: 0,
          latencyMs: latency.toJSON(),
          profile: wire,
          droppedWindows: 0,
          late: false,
        }),
      );
    }
    out.set(d.deviceId, list);
  }
  return out;
}

/** The start of the minute `minutesAgo` minutes ago. */
const minuteAgo = (minutesAgo: number) =>
  Math.floor((Date.now() - minutesAgo * 60_000) / 60_000) * 60_000;

async function connectDevices(url: string, devices: readonly Creds[], auth: boolean) {
  return Promise.all(
    devices.map((d) =>
      connectAsync(url, {
        clientId: d.deviceId,
        ...(auth ? { username: d.deviceId, password: d.token } : {}),
        reconnectPeriod: 0,
        clean: true,
      }),
    ),
  );
}

async function endAll(clients: readonly MqttClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.endAsync()));
}

/** Every device publishes all its payloads (QoS 1, one in flight per device), concurrently. */
async function publishAll(
  clients: readonly MqttClient[],
  devices: readonly Creds[],
  messages: Map<string, Uint8Array[]>,
): Promise<void> {
  await Promise.all(
    devices.map(async (d, i) => {
      for (const p of messages.get(d.deviceId)!) {
        await clients[i]!.publishAsync(TOPIC(d.deviceId), Buffer.from(p), { qos: 1 });
      }
    }),
  );
}

/** Throughput runs: one warm-up (JIT, the database's first files, connections), then these. */
const RUNS = 3;

/** The median of `RUNS` runs after a warm-up; `run(k)` must use fresh windows for each `k`. */
async function medianOfRuns(run: (k: number) => Promise<number>): Promise<number> {
  await run(0);
  const rates: number[] = [];
  for (let k = 1; k <= RUNS; k++) rates.push(await run(k));
  return median(rates);
}

/** Run `k`'s payloads: its own sequence numbers and minutes (2 to ~4 hours ago). */
const throughputPayloads = (cp: ControlPlane, k: number) =>
  payloads(
    cp.devices,
    cp.releaseId,
    cp.featureSpec,
    WINDOWS_PER_DEVICE,
    1 + k * WINDOWS_PER_DEVICE,
    minuteAgo(120 + (RUNS + 1 - k) * WINDOWS_PER_DEVICE),
  );

/**
 * Windows/s from the first publish until every window is in the committed aggregates. Also notes in
 * `busy` the ms the server's thread was busy per 1000 windows (CPU time on that thread, waits on
 * PostgreSQL excluded; less sensitive to other load on the machine than the rate).
 */
async function controlPlaneThroughput(
  cp: ControlPlane,
  k: number,
  busy: number[] = [],
): Promise<number> {
  const clients = await connectDevices(cp.server.mqttUrl, cp.devices, true);
  await cp.server.flush();
  const busyBefore = await cp.server.busyMs();
  const messages = throughputPayloads(cp, k);
  const total = cp.devices.length * WINDOWS_PER_DEVICE;
  let committed = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  const remove = cp.server.onFlush((r) => {
    committed += r.windows;
    if (committed >= total) resolveDone();
  });
  const started = performance.now();
  await publishAll(clients, cp.devices, messages);
  await done;
  const elapsed = performance.now() - started;
  busy.push(((await cp.server.busyMs()) - busyBefore) * (1000 / total));
  remove();
  await endAll(clients);
  return total / (elapsed / 1000);
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The latency runs' payloads: `RATE` x `LATENCY_SECONDS` windows over the devices, ~10 hours ago. */
function latencyPayloads(cp: ControlPlane) {
  const perDevice = Math.ceil((RATE * LATENCY_SECONDS) / cp.devices.length);
  const messages = payloads(
    cp.devices,
    cp.releaseId,
    cp.featureSpec,
    perDevice,
    1000,
    minuteAgo(600),
  );
  return { perDevice, messages };
}

/** Publish -> committed latencies (ms) at `RATE` messages/s. */
async function controlPlaneLatency(cp: ControlPlane): Promise<number[]> {
  const clients = await connectDevices(cp.server.mqttUrl, cp.devices, true);
  await cp.server.flush();
  const { perDevice, messages } = latencyPayloads(cp);
  const published: number[] = [];
  const latencies: number[] = [];
  const remove = cp.server.onFlush((r) => {
    // Batches are written in arrival order: this batch holds the next `messages` publishes.
    for (const t of published.splice(0, r.messages)) latencies.push(r.committedAt - t);
  });
  await paced(clients, cp.devices, messages, perDevice, published);
  // Wait for the last batches to commit on their own: a flush() here would write the last batch
  // before its delay is up (shortening its latencies), and messages still on their way from the
  // broker would be committed after the listener is gone (left out of the sample).
  const deadline = Date.now() + 10_000;
  while (published.length > 0 && Date.now() < deadline) await wait(5);
  remove();
  // Not committed within the deadline: counted, as never.
  for (const _ of published) latencies.push(Infinity);
  await cp.server.flush();
  await endAll(clients);
  return latencies;
}

/** Publish round-robin over devices at `RATE`/s, recording each publish time in `published`. */
async function paced(
  clients: readonly MqttClient[],
  devices: readonly Creds[],
  messages: Map<string, Uint8Array[]>,
  perDevice: number,
  published: number[],
): Promise<void> {
  const tick = 20;
  const perTick = Math.max(1, Math.round((RATE * tick) / 1000));
  const sends: Promise<unknown>[] = [];
  let n = 0;
  const total = perDevice * devices.length;
  const t0 = performance.now();
  while (n < total) {
    for (let k = 0; k < perTick && n < total; k++, n++) {
      const i = n % devices.length;
      const d = devices[i]!;
      const payload = messages.get(d.deviceId)![Math.floor(n / devices.length)]!;
      published.push(Date.now());
      sends.push(clients[i]!.publishAsync(TOPIC(d.deviceId), Buffer.from(payload), { qos: 1 }));
    }
    const next = t0 + (n / perTick) * tick;
    await wait(Math.max(0, next - performance.now()));
  }
  await Promise.all(sends);
}

interface Mosquitto {
  readonly url: string;
  close(): Promise<void>;
}

async function startMosquitto(): Promise<Mosquitto | string> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-bench-mosq-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\n`,
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
  const url = `mqtt://127.0.0.1:${port}`;
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const c = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 1000 });
      await c.endAsync();
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        child.kill();
        return `mosquitto did not accept connections: ${(e as Error).message}`;
      }
      await wait(50);
    }
  }
  return {
    url,
    async close() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A subscriber on every device's telemetry that counts, and notes receive times. */
async function counter(url: string) {
  const sub = await connectAsync(url, { clientId: 'bench-counter', reconnectPeriod: 0 });
  await sub.subscribeAsync('edgefleet/v1/d/+/telemetry', { qos: 1 });
  const received: number[] = [];
  sub.on('message', () => {
    received.push(Date.now());
  });
  return { sub, received };
}

async function mosquittoThroughput(url: string, cp: ControlPlane, k: number): Promise<number> {
  const { sub, received } = await counter(url);
  const clients = await connectDevices(url, cp.devices, false);
  const messages = throughputPayloads(cp, k);
  const total = cp.devices.length * WINDOWS_PER_DEVICE;
  const started = performance.now();
  await publishAll(clients, cp.devices, messages);
  while (received.length < total) await wait(1);
  const elapsed = performance.now() - started;
  await endAll([...clients, sub]);
  return total / (elapsed / 1000);
}

async function mosquittoLatency(url: string, cp: ControlPlane): Promise<number[]> {
  const { sub, received } = await counter(url);
  const clients = await connectDevices(url, cp.devices, false);
  const { perDevice, messages } = latencyPayloads(cp);
  const published: number[] = [];
  await paced(clients, cp.devices, messages, perDevice, published);
  const deadline = Date.now() + 10_000;
  while (received.length < published.length && Date.now() < deadline) await wait(1);
  await endAll([...clients, sub]);
  return published.map((t, i) => (received[i] ?? Infinity) - t);
}

function p99(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)] ?? NaN;
}

const skipped = (
  name: string,
  unit: string,
  peer: string,
  goal: string,
  note: string,
): BenchRow => ({
  group: 'ingest',
  name,
  value: NaN,
  unit,
  peer,
  peerValue: NaN,
  ratio: NaN,
  goal,
  pass: false,
  note: `skipped: ${note}`,
});

/** All rows of the "ingest" group. */
export async function runIngestBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const total = DEVICES * WINDOWS_PER_DEVICE;
  const cp = await startControlPlane();
  let pgliteRate: number;
  let pgliteBusy: number;
  let latencies: number[];
  try {
    const busy: number[] = [];
    pgliteRate = await medianOfRuns((k) => controlPlaneThroughput(cp, k, k === 0 ? [] : busy));
    pgliteBusy = median(busy);
    latencies = await controlPlaneLatency(cp);
  } finally {
    await cp.close();
  }

  const mosquitto = await startMosquitto();
  let mosquittoRate = NaN;
  let mosquittoLatencies: number[] = [];
  if (typeof mosquitto === 'string') {
    console.log(`ingest: ${mosquitto}; the Mosquitto peers are skipped`);
  } else {
    try {
      mosquittoRate = await medianOfRuns((k) => mosquittoThroughput(mosquitto.url, cp, k));
      mosquittoLatencies = await mosquittoLatency(mosquitto.url, cp);
    } finally {
      await mosquitto.close();
    }
  }
  const throughputName = `windows/s, ${DEVICES} devices x ${WINDOWS_PER_DEVICE} windows -> committed aggregates (median of ${RUNS} after a warm-up)`;
  rows.push(
    typeof mosquitto === 'string'
      ? {
          ...skipped(
            throughputName,
            'win/s',
            'Mosquitto + counting subscriber',
            '>= 0.3',
            mosquitto,
          ),
          value: pgliteRate,
        }
      : {
          group: 'ingest',
          name: throughputName,
          value: pgliteRate,
          unit: 'win/s',
          peer: 'Mosquitto + counting subscriber',
          peerValue: mosquittoRate,
          ratio: pgliteRate / mosquittoRate,
          goal: 'ratio >= 0.3',
          pass: pgliteRate / mosquittoRate >= 0.3,
          note: `server thread busy ${pgliteBusy.toFixed(0)} ms per 1000 windows`,
        },
  );
  const ours = p99(latencies);
  const theirs = p99(mosquittoLatencies);
  rows.push({
    group: 'ingest',
    name: `p99 publish -> committed aggregate at ${RATE} msg/s (n=${latencies.length})`,
    value: ours,
    unit: 'ms',
    peer: 'Mosquitto publish -> subscriber',
    peerValue: theirs,
    ratio: ours / theirs,
    goal: '<= 250 ms',
    pass: ours <= 250,
    ...(typeof mosquitto === 'string' ? { note: `peer skipped: ${mosquitto}` } : {}),
  });

  const pg = await freshPostgres('ef_bench');
  const pgName = `ms per 1000 windows ingested end to end, PGlite (n=${total})`;
  if (typeof pg === 'string') {
    console.log(`ingest: ${pg}; the PostgreSQL peer is skipped`);
    rows.push({
      ...skipped(pgName, 'ms', 'PostgreSQL', 'ratio <= 3', pg),
      value: 1e6 / pgliteRate,
    });
  } else {
    let pgRate: number;
    let pgBusy: number;
    try {
      const pgCp = await startControlPlane(pg.url);
      try {
        const busy: number[] = [];
        pgRate = await medianOfRuns((k) => controlPlaneThroughput(pgCp, k, k === 0 ? [] : busy));
        pgBusy = median(busy);
      } finally {
        await pgCp.close();
      }
    } finally {
      await pg.drop();
    }
    const value = 1e6 / pgliteRate;
    const peerValue = 1e6 / pgRate;
    rows.push({
      group: 'ingest',
      name: pgName,
      value,
      unit: 'ms',
      peer: 'PostgreSQL (same run)',
      peerValue,
      ratio: value / peerValue,
      goal: 'ratio <= 3',
      pass: value / peerValue <= 3,
      note: `server thread busy per 1000 windows: PGlite ${pgliteBusy.toFixed(0)} ms, PostgreSQL ${pgBusy.toFixed(0)} ms`,
    });
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runIngestBench();
  printTable(rows);
  for (const r of rows) if (r.note !== undefined) console.log(`${r.name}: ${r.note}`);
  const benchDir = fileURLToPath(
    new URL(import.meta.url.includes('/dist/') ? '../' : './', import.meta.url),
  );
  writeResults(`${benchDir}results.json`, rows);
}
