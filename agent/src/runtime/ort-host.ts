/**
 * The onnxruntime glue shared by the in-process and the worker runtime: execution-provider fallback,
 * metadata, tensor conversion, session bookkeeping.
 *
 * SELF-CONTAINED ON PURPOSE: `createOrtHost` and `ortWorkerMain` must not use imports or anything
 * else from module scope (type-only imports are fine: they vanish when compiled). The worker runtime
 * starts its thread from their source text (`Function.prototype.toString`), which runs the same
 * code from the TypeScript sources under vitest and from dist/ in production without a separate
 * worker entry file. The worker defines esbuild's `__name` helper (tsx, bundlers with keepNames);
 * a coverage tool that instruments the source (istanbul) would still break it: use V8 coverage.
 */
import type { MessagePort } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import type { LoadOptions, ProviderAttempt, TensorData, ValueInfo } from './model-runtime.js';

/** The parts of onnxruntime-node the host uses. */
export type OrtModule = Pick<
  typeof Ort,
  'InferenceSession' | 'Tensor' | 'listSupportedBackends' | 'env'
>;

/** Levels of onnxruntime's own (native) log, which writes to stderr. */
export type OrtLogLevel = 'verbose' | 'info' | 'warning' | 'error' | 'fatal';

export interface HostLoadResult {
  readonly sessionId: number;
  readonly inputs: ValueInfo[];
  readonly outputs: ValueInfo[];
  readonly executionProvider: string;
  readonly providerFallbacks: ProviderAttempt[];
}

/** An error as it crosses the thread boundary: a code of `ERROR_CODES`, a message, details. */
export interface HostError {
  readonly code: 'EF_LOAD_FAILED' | 'EF_INTERNAL' | 'EF_BAD_REQUEST';
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

export interface OrtHost {
  load(modelPath: string, options: LoadOptions): Promise<HostLoadResult>;
  run(
    sessionId: number,
    feeds: Readonly<Record<string, TensorData>>,
  ): Promise<Record<string, TensorData>>;
  dispose(sessionId: number): Promise<void>;
  disposeAll(): Promise<void>;
}

/** Requests from the main thread to the worker, told apart by `type`. */
export type WorkerRequest =
  | {
      readonly type: 'load';
      readonly id: number;
      readonly modelPath: string;
      readonly options: LoadOptions;
    }
  | {
      readonly type: 'run';
      readonly id: number;
      readonly sessionId: number;
      readonly feeds: Readonly<Record<string, TensorData>>;
    }
  | { readonly type: 'dispose'; readonly id: number; readonly sessionId: number }
  /** Finish the calls in flight, release every session, then exit (the graceful way out). */
  | { readonly type: 'close'; readonly id: number }
  /** Fault injection: throw an uncaught error once idle, exactly like a crash. */
  | { readonly type: 'crash'; readonly id: number };

/** Replies from the worker. */
export type WorkerReply =
  | { readonly type: 'loaded'; readonly id: number; readonly result: HostLoadResult }
  | { readonly type: 'ran'; readonly id: number; readonly outputs: Record<string, TensorData> }
  | { readonly type: 'disposed'; readonly id: number }
  | { readonly type: 'closed'; readonly id: number }
  | { readonly type: 'failed'; readonly id: number; readonly error: HostError };

/** Makes the errors the host throws. */
export type HostErrorFactory = (
  code: HostError['code'],
  message: string,
  details?: Record<string, unknown>,
) => Error;

/**
 * Create the host around an onnxruntime module. Errors it throws come from `makeError` (the
 * in-process runtime makes `EdgefleetError`s directly, saving a rethrow on every call); by default,
 * as in the worker, they are `Error`s carrying `code` and `details` (`HostError` fields).
 */
export function createOrtHost(
  ort: OrtModule,
  logLevel?: OrtLogLevel,
  makeError?: HostErrorFactory,
): OrtHost {
  if (logLevel !== undefined) ort.env.logLevel = logLevel;
  const sessions = new Map<number, Ort.InferenceSession>();
  let nextSessionId = 1;
  const known = [
    'float32',
    'float64',
    'float16',
    'int8',
    'uint8',
    'int16',
    'uint16',
    'int32',
    'uint32',
    'int64',
    'uint64',
    'bool',
  ];

  function hostError(
    code: HostError['code'],
    message: string,
    details?: Record<string, unknown>,
  ): Error {
    if (makeError) return makeError(code, message, details);
    return Object.assign(new Error(message), { code, details });
  }

  function describe(metadata: readonly Ort.InferenceSession.ValueMetadata[]): ValueInfo[] {
    return metadata.map((m) => {
      if (!m.isTensor) return { name: m.name, type: 'unsupported', dims: [] };
      const type = m.type === 'string' || known.includes(m.type) ? m.type : 'unsupported';
      return {
        name: m.name,
        type: type as ValueInfo['type'],
        dims: m.shape.map((d) => (typeof d === 'number' ? d : d === '' ? '?' : d)),
      };
    });
  }

  async function load(modelPath: string, options: LoadOptions): Promise<HostLoadResult> {
    const available = new Set(ort.listSupportedBackends().map((b) => b.name));
    const order: string[] = [];
    for (const p of [...options.executionProviders, 'cpu']) {
      const name = p.toLowerCase();
      if (!order.includes(name)) order.push(name);
    }
    const attempts: ProviderAttempt[] = [];
    for (const provider of order) {
      if (!available.has(provider)) {
        attempts.push({ provider, error: 'not available in this onnxruntime build' });
        continue;
      }
      let session: Ort.InferenceSession;
      try {
        // One provider per attempt: onnxruntime-node fails the whole session when any listed
        // provider cannot be registered, so a list would never fall back.
        session = await ort.InferenceSession.create(modelPath, {
          executionProviders: [provider],
          ...(options.intraOpThreads === undefined
            ? {}
            : { intraOpNumThreads: options.intraOpThreads }),
          graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
        });
      } catch (error) {
        attempts.push({ provider, error: error instanceof Error ? error.message : String(error) });
        continue;
      }
      const sessionId = nextSessionId++;
      sessions.set(sessionId, session);
      return {
        sessionId,
        inputs: describe(session.inputMetadata),
        outputs: describe(session.outputMetadata),
        executionProvider: provider,
        providerFallbacks: attempts,
      };
    }
    const last = attempts.at(-1);
    throw hostError(
      'EF_LOAD_FAILED',
      `onnxruntime cannot load ${modelPath}: ${last ? `${last.provider}: ${last.error}` : 'no provider'}` +
        (attempts.length > 1
          ? ` (also tried ${attempts
              .slice(0, -1)
              .map((a) => a.provider)
              .join(', ')})`
          : ''),
      { modelPath, attempts },
    );
  }

  async function run(
    sessionId: number,
    feeds: Readonly<Record<string, TensorData>>,
  ): Promise<Record<string, TensorData>> {
    const session = sessions.get(sessionId);
    if (session === undefined) {
      throw hostError('EF_INTERNAL', 'the model was disposed; load it again to run it');
    }
    const tensors: Record<string, Ort.Tensor> = {};
    for (const name of Object.keys(feeds)) {
      const t = feeds[name]!;
      try {
        tensors[name] = new ort.Tensor(t.type, t.data, t.dims);
      } catch (error) {
        throw hostError(
          'EF_BAD_REQUEST',
          `input ${name}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    let results: Ort.InferenceSession.ReturnType;
    try {
      results = await session.run(tensors);
    } catch (error) {
      throw hostError(
        'EF_INTERNAL',
        `onnxruntime failed to run the model: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const outputs: Record<string, TensorData> = {};
    for (const name of Object.keys(results)) {
      const value = results[name]!;
      if (!known.includes(value.type)) {
        throw hostError(
          'EF_INTERNAL',
          `output ${name} has type ${value.type}, which is not served`,
        );
      }
      outputs[name] = { type: value.type, dims: value.dims, data: value.data } as TensorData;
    }
    return outputs;
  }

  async function dispose(sessionId: number): Promise<void> {
    const session = sessions.get(sessionId);
    if (session === undefined) return;
    sessions.delete(sessionId);
    await session.release();
  }

  async function disposeAll(): Promise<void> {
    for (const id of [...sessions.keys()]) await dispose(id);
  }

  return { load, run, dispose, disposeAll };
}

/**
 * The worker thread's main function: serves `WorkerRequest`s on `port` with a host built by
 * `createHost`. Replies move output buffers to the main thread instead of copying them.
 *
 * The worker must never be stopped with `Worker.terminate()` while a run is inside onnxruntime:
 * the binding then throws a C++ exception on its way back into the terminated isolate, which
 * aborts the whole process. Hence the `close` request, which lets the runs in flight finish and
 * releases the sessions before the thread ends on its own.
 */
export function ortWorkerMain(
  port: MessagePort,
  ort: OrtModule,
  createHost: typeof createOrtHost,
  logLevel: OrtLogLevel | undefined,
): void {
  const host = createHost(ort, logLevel);
  const inFlight = new Set<Promise<void>>();

  function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
    try {
      port.postMessage(message, transfer);
    } catch {
      port.postMessage(message); // a buffer that cannot be moved is copied instead
    }
  }

  function toHostError(error: unknown): HostError {
    const e = error as { code?: unknown; message?: unknown; details?: unknown };
    const code =
      e.code === 'EF_LOAD_FAILED' || e.code === 'EF_BAD_REQUEST' ? e.code : 'EF_INTERNAL';
    const message = typeof e.message === 'string' ? e.message : String(error);
    return typeof e.details === 'object' && e.details !== null
      ? { code, message, details: e.details as Record<string, unknown> }
      : { code, message };
  }

  async function handle(request: WorkerRequest): Promise<void> {
    try {
      switch (request.type) {
        case 'load':
          reply({
            type: 'loaded',
            id: request.id,
            result: await host.load(request.modelPath, request.options),
          });
          return;
        case 'run': {
          const outputs = await host.run(request.sessionId, request.feeds);
          const transfer: ArrayBuffer[] = [];
          for (const t of Object.values(outputs)) {
            const buffer = t.data.buffer;
            if (
              buffer instanceof ArrayBuffer &&
              t.data.byteOffset === 0 &&
              t.data.byteLength === buffer.byteLength &&
              !transfer.includes(buffer)
            ) {
              transfer.push(buffer);
            }
          }
          reply({ type: 'ran', id: request.id, outputs }, transfer);
          return;
        }
        case 'dispose':
          await host.dispose(request.sessionId);
          reply({ type: 'disposed', id: request.id });
          return;
        case 'close':
          await Promise.allSettled([...inFlight]);
          await host.disposeAll();
          reply({ type: 'closed', id: request.id });
          port.close();
          return;
        case 'crash':
          setImmediate(() => {
            throw new Error('crash injected on request');
          });
          return;
      }
    } catch (error) {
      reply({ type: 'failed', id: request.id, error: toHostError(error) });
    }
  }

  port.on('message', (request: WorkerRequest) => {
    if (request.type === 'close') {
      void handle(request);
      return;
    }
    const done = handle(request);
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  });
}
