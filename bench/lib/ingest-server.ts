/**
 * A control plane on its own thread, for the ingest bench: `edgefleet server` runs as its own
 * process in production, and Mosquitto (the peer) runs as its own process in the bench, so the
 * control plane must not share the publishing clients' event loop either. The worker starts a real
 * server (embedded broker, PGlite or PostgreSQL), forwards every committed ingest batch to the
 * parent, and answers `flush` and `close` requests.
 *
 * `startIngestServer` (parent side) spawns the worker; the module is also the worker's entry point.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadServerConfig, startServer } from '@edgefleet/control-plane';
import pino from 'pino';

/** A committed ingest batch, as the parent sees it. */
export interface FlushEvent {
  readonly messages: number;
  readonly windows: number;
  /** Commit time, epoch ms (same clock as the parent's `Date.now()`). */
  readonly committedAt: number;
}

export interface IngestServer {
  readonly httpUrl: string;
  readonly mqttUrl: string;
  readonly adminToken: string;
  /** Called for every committed batch until removed. */
  onFlush(listener: (e: FlushEvent) => void): () => void;
  /** Write everything the ingest holds now. */
  flush(): Promise<void>;
  /** Time the server's thread has been busy (its event loop not idle) since it started, ms. */
  busyMs(): Promise<number>;
  close(): Promise<void>;
}

interface WorkerInput {
  readonly databaseUrl?: string;
}

type ToWorker = { readonly id: number; readonly op: 'flush' | 'close' | 'busy' };
type FromWorker =
  | {
      readonly type: 'ready';
      readonly httpUrl: string;
      readonly mqttUrl: string;
      readonly adminToken: string;
    }
  | { readonly type: 'flushed'; readonly event: FlushEvent }
  | { readonly type: 'done'; readonly id: number; readonly value?: number }
  | { readonly type: 'failed'; readonly id?: number; readonly message: string };

/** Start a control plane in a worker thread (PGlite in a temporary dir, or `databaseUrl`). */
export async function startIngestServer(databaseUrl?: string): Promise<IngestServer> {
  const input: WorkerInput = databaseUrl === undefined ? {} : { databaseUrl };
  const worker = new Worker(new URL(import.meta.url), { workerData: input });
  const listeners = new Set<(e: FlushEvent) => void>();
  const waiting = new Map<
    number,
    { resolve: (value: number | undefined) => void; reject: (e: Error) => void }
  >();
  let nextId = 1;
  const ready = new Promise<Extract<FromWorker, { type: 'ready' }>>((resolve, reject) => {
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') resolve(m);
      else if (m.type === 'flushed') for (const l of listeners) l(m.event);
      else if (m.type === 'done') waiting.get(m.id)?.resolve(m.value);
      else if (m.id === undefined) reject(new Error(m.message));
      else waiting.get(m.id)?.reject(new Error(m.message));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      const err = new Error(`the ingest server's worker exited with code ${code}`);
      reject(err);
      for (const w of waiting.values()) w.reject(err);
    });
  });
  const request = (op: ToWorker['op']) =>
    new Promise<number | undefined>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, {
        resolve: (value) => {
          waiting.delete(id);
          resolve(value);
        },
        reject,
      });
      worker.postMessage({ id, op } satisfies ToWorker);
    });
  const r = await ready;
  return {
    httpUrl: r.httpUrl,
    mqttUrl: r.mqttUrl,
    adminToken: r.adminToken,
    onFlush(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async flush() {
      await request('flush');
    },
    async busyMs() {
      return (await request('busy')) ?? NaN;
    },
    async close() {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      await request('close');
      await exited;
    },
  };
}

async function runWorker(port: NonNullable<typeof parentPort>, input: WorkerInput): Promise<void> {
  const send = (m: FromWorker) => {
    port.postMessage(m);
  };
  const dir = await mkdtemp(join(tmpdir(), 'ef-bench-ingest-'));
  const server = await startServer(
    loadServerConfig(
      {
        dataDir: dir,
        httpPort: 0,
        mqttPort: 0,
        ...(input.databaseUrl === undefined ? {} : { databaseUrl: input.databaseUrl }),
      },
      {},
    ),
    { logger: pino({ level: 'silent' }) },
  );
  // The bench measures ingest; the drift evaluator's passes would only add noise.
  await server.evaluator.stop();
  server.ingest.addFlushListener((f) => {
    send({
      type: 'flushed',
      event: { messages: f.messages, windows: f.windows, committedAt: f.committedAt },
    });
  });
  port.on('message', (m: ToWorker) => {
    const run = async (): Promise<number | undefined> => {
      if (m.op === 'busy') return performance.eventLoopUtilization().active;
      if (m.op === 'flush') {
        await server.ingest.flush();
      } else {
        await server.close();
        await rm(dir, { recursive: true, force: true });
      }
      return undefined;
    };
    run().then(
      (value) => {
        send({ type: 'done', id: m.id, ...(value === undefined ? {} : { value }) });
        if (m.op === 'close') port.close();
      },
      (e: unknown) => {
        send({ type: 'failed', id: m.id, message: (e as Error).message });
      },
    );
  });
  send({
    type: 'ready',
    httpUrl: server.httpUrl,
    mqttUrl: server.mqttUrl,
    adminToken: server.adminToken!,
  });
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  runWorker(port, workerData as WorkerInput).catch((e: unknown) => {
    port.postMessage({ type: 'failed', message: (e as Error).message } satisfies FromWorker);
  });
}
