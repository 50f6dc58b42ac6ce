/**
 * onnxruntime sessions in a worker thread (one worker per runtime, sessions keyed by id), so a slow
 * model never blocks the agent's event loop (ARCHITECTURE §5 step 6).
 *
 * Transport: one `postMessage` each way per call. Output buffers are moved (transferred) to the
 * main thread, never copied; input buffers are copied unless the caller lets them be moved
 * (`RunOptions.transferInputs`). The worker is `unref`ed while idle, so a forgotten runtime does not
 * keep the process alive; `close()` is still the way to stop it.
 *
 * Crashes: if the worker dies (an uncaught error, a heap limit, `injectCrash()`), every call in
 * flight rejects with `EF_INTERNAL` naming the exit, `onWorkerExit` is told, and the next call starts
 * a fresh worker; a `LoadedModel` from the dead worker loads its model again, transparently, on its
 * next run.
 *
 * Stopping: `close()` asks the worker to finish the runs in flight, release its sessions and end by
 * itself. The worker is never `terminate()`d: terminating it while a run is inside onnxruntime aborts
 * the whole process (the binding throws a C++ exception into the dead isolate). For the same reason
 * a run that hangs inside onnxruntime cannot be cut short from here; the service manager's restart
 * of the agent (systemd `Restart=always`) is the last resort.
 */
import { createRequire } from 'node:module';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { EdgefleetError } from '@edgefleet/protocol';
import type {
  LoadedModel,
  LoadOptions,
  ModelRuntime,
  ProviderAttempt,
  RunOptions,
  TensorData,
  ValueInfo,
} from './model-runtime.js';
import {
  createOrtHost,
  ortWorkerMain,
  type HostLoadResult,
  type OrtLogLevel,
  type WorkerReply,
  type WorkerRequest,
} from './ort-host.js';
import { fromHostError, type OrtRuntimeOptions } from './ort-in-process-runtime.js';

export interface WorkerExit {
  readonly exitCode: number;
  /** The uncaught error that killed the worker, if there was one. */
  readonly error?: Error;
  /** Calls that were in flight and were rejected. */
  readonly pendingCalls: number;
}

export interface OrtWorkerRuntimeOptions extends OrtRuntimeOptions {
  /** Told when the worker exits other than through `close()` (for logs and metrics). */
  readonly onWorkerExit?: (exit: WorkerExit) => void;
  /** V8 heap limits of the worker thread (the models' own memory is native and not counted). */
  readonly resourceLimits?: ResourceLimits;
}

type Request =
  | Omit<Extract<WorkerRequest, { type: 'load' }>, 'id'>
  | Omit<Extract<WorkerRequest, { type: 'run' }>, 'id'>
  | Omit<Extract<WorkerRequest, { type: 'dispose' }>, 'id'>;

interface Pending {
  readonly resolve: (reply: WorkerReply) => void;
  readonly reject: (error: Error) => void;
}

let bootstrap: string | undefined;

/** The worker's source: the self-contained host functions (see ort-host.ts) and their call. */
function workerSource(): string {
  bootstrap ??= [
    "'use strict';",
    // esbuild-based runners (tsx, bundlers with keepNames) wrap functions in a `__name` helper.
    'const __name = (target) => target;',
    "const { parentPort, workerData } = require('node:worker_threads');",
    `(${ortWorkerMain.toString()})(`,
    '  parentPort,',
    '  require(workerData.ortPath),',
    `  ${createOrtHost.toString()},`,
    '  workerData.logLevel,',
    ');',
  ].join('\n');
  return bootstrap;
}

export class OrtWorkerRuntime implements ModelRuntime {
  private worker: Worker | undefined;
  /** Incremented for every worker started: models remember the generation that holds them. */
  private generationCounter = 0;
  private readonly pending = new Map<number, Pending>();
  private nextCallId = 1;
  private closed = false;
  private readonly ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');

  constructor(private readonly options: OrtWorkerRuntimeOptions = {}) {}

  /** The generation of the current worker (0 before the first start). */
  get generation(): number {
    return this.generationCounter;
  }

  /** Whether a worker thread is running now. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  async load(modelPath: string, options: LoadOptions): Promise<LoadedModel> {
    const { result, generation } = await this.loadSession(modelPath, options);
    return new WorkerModel(this, modelPath, options, result, generation);
  }

  /**
   * Fault injection (tests, chaos drills): the worker throws an uncaught error as soon as the runs
   * before this call are done, exactly like a crash. Resolves once it has exited.
   */
  async injectCrash(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    const exited = exitOf(worker);
    worker.postMessage({ type: 'crash', id: 0 } satisfies WorkerRequest);
    await exited;
  }

  /**
   * Let the calls in flight finish, release every session and stop the worker. Later calls reject.
   */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (worker === undefined) return;
    const exited = exitOf(worker);
    worker.ref();
    worker.postMessage({ type: 'close', id: 0 } satisfies WorkerRequest);
    await exited;
  }

  /** @internal Load a session in the current worker (starting one if needed). */
  async loadSession(
    modelPath: string,
    options: LoadOptions,
  ): Promise<{ result: HostLoadResult; generation: number }> {
    const replied = this.call({
      type: 'load',
      modelPath,
      options: {
        executionProviders: [...options.executionProviders],
        ...(options.intraOpThreads === undefined ? {} : { intraOpThreads: options.intraOpThreads }),
        ...(options.graphOptimizationLevel === undefined
          ? {}
          : { graphOptimizationLevel: options.graphOptimizationLevel }),
      },
    });
    // The worker that received the request (`call` starts one if needed): the session lives there.
    const generation = this.generationCounter;
    const reply = await replied;
    if (reply.type !== 'loaded') throw unexpected(reply);
    return { result: reply.result, generation };
  }

  /** @internal Send one request and wait for its reply; `failed` replies reject. */
  call(request: Request, transfer: readonly ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.closed) {
      return Promise.reject(new EdgefleetError('EF_INTERNAL', 'the runtime is closed'));
    }
    const worker = this.worker ?? this.start();
    const id = this.nextCallId++;
    return new Promise<WorkerReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      try {
        worker.postMessage({ ...request, id }, transfer);
      } catch (error) {
        this.settle(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  private start(): Worker {
    const worker = new Worker(workerSource(), {
      eval: true,
      name: 'edgefleet-onnxruntime',
      workerData: { ortPath: this.ortPath, logLevel: this.options.logLevel },
      ...(this.options.resourceLimits ? { resourceLimits: this.options.resourceLimits } : {}),
    });
    let crash: Error | undefined;
    const onMessage = (reply: WorkerReply) => {
      if (reply.id === 0) return; // the reply to close, which waits for the exit instead
      const entry = this.settle(reply.id);
      if (entry === undefined) return;
      if (reply.type === 'failed') entry.reject(fromHostError(reply.error));
      else entry.resolve(reply);
    };
    const onError = (error: Error) => {
      crash = error;
    };
    const onExit = (exitCode: number) => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (this.worker === worker) this.worker = undefined;
      const calls = [...this.pending.values()];
      this.pending.clear();
      const why = this.closed
        ? 'the runtime was closed'
        : `the onnxruntime worker exited with code ${exitCode}${crash ? ` (${crash.message})` : ''}`;
      for (const call of calls) {
        call.reject(
          new EdgefleetError('EF_INTERNAL', `${why} while this call was in flight`, {
            details: { exitCode },
            ...(crash ? { cause: crash } : {}),
          }),
        );
      }
      if (!this.closed) {
        this.options.onWorkerExit?.({
          exitCode,
          pendingCalls: calls.length,
          ...(crash ? { error: crash } : {}),
        });
      }
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.unref();
    this.worker = worker;
    this.generationCounter++;
    return worker;
  }

  private settle(id: number): Pending | undefined {
    const entry = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    return entry;
  }
}

/** A model held by the worker; reloads itself if the worker that held it is gone. */
class WorkerModel implements LoadedModel {
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly executionProvider: string;
  readonly providerFallbacks: readonly ProviderAttempt[];
  private sessionId: number;
  private generation: number;
  private disposed = false;
  private reloading: Promise<void> | undefined;

  constructor(
    private readonly runtime: OrtWorkerRuntime,
    private readonly modelPath: string,
    private readonly loadOptions: LoadOptions,
    loaded: HostLoadResult,
    generation: number,
  ) {
    this.inputs = loaded.inputs;
    this.outputs = loaded.outputs;
    this.executionProvider = loaded.executionProvider;
    this.providerFallbacks = loaded.providerFallbacks;
    this.sessionId = loaded.sessionId;
    this.generation = generation;
  }

  async run(
    feeds: Readonly<Record<string, TensorData>>,
    options: RunOptions = {},
  ): Promise<Record<string, TensorData>> {
    if (this.disposed) throw new EdgefleetError('EF_INTERNAL', 'the model was disposed');
    if (this.generation !== this.runtime.generation || !this.runtime.running) await this.reload();
    const transfer: ArrayBuffer[] = [];
    if (options.transferInputs === true) {
      for (const t of Object.values(feeds)) {
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
    }
    const reply = await this.runtime.call(
      { type: 'run', sessionId: this.sessionId, feeds },
      transfer,
    );
    if (reply.type !== 'ran') throw unexpected(reply);
    return reply.outputs;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.reloading?.catch(() => undefined);
    if (this.generation !== this.runtime.generation || !this.runtime.running) return;
    await this.runtime.call({ type: 'dispose', sessionId: this.sessionId }).catch(() => undefined);
  }

  private reload(): Promise<void> {
    this.reloading ??= this.runtime
      .loadSession(this.modelPath, this.loadOptions)
      .then(({ result, generation }) => {
        this.sessionId = result.sessionId;
        this.generation = generation;
      })
      .finally(() => {
        this.reloading = undefined;
      });
    return this.reloading;
  }
}

/** Resolves when the worker has exited (its 'exit' event always comes, after any 'error'). */
function exitOf(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    worker.once('exit', () => {
      resolve();
    });
  });
}

function unexpected(reply: WorkerReply): EdgefleetError {
  return new EdgefleetError('EF_INTERNAL', `unexpected reply ${reply.type} from the worker`);
}

export type { OrtLogLevel };
