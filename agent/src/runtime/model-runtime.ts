/**
 * The agent's view of an inference runtime: load a model file, run it on tensors, dispose it.
 *
 * Implementations (one abstract test suite runs against each, see runtime-contract.test-support.ts):
 * - `OrtInProcessRuntime`: onnxruntime-node sessions on the main thread. No transport at all, but a
 *   run blocks the event loop for its whole duration: for tiny models only.
 * - `OrtWorkerRuntime`: sessions in a worker thread, so a slow model never blocks the event loop
 *   (MQTT keep-alives, the local API and telemetry keep running). Costs one message round trip per
 *   call: for every model that takes more than a few milliseconds.
 * - `FakeRuntime`: no onnxruntime at all; deterministic outputs, latency and failures for the fleet
 *   simulator and tests.
 *
 * Measured on a 2-core x86-64 VM, `linearClassifier({features: 16, classes: 4})`, batch 1,
 * one intra-op thread, p50 of 20,000 sequential runs: bare `session.run` 8.3 us, in-process
 * 8.6 us (1.04x), worker 46 us (5.5x: the thread hop, about 35 us, dominates a model this small).
 * Against a 5 ms model the same hop is under 1 %. `chooseRuntimeMode` turns a measured median run
 * time into the choice (threshold 2 ms by default).
 */

/** Typed array behind each element type (onnxruntime's mapping; `bool` is one byte per value). */
export interface TensorDataMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
}

export type TensorType = keyof TensorDataMap;

export const TENSOR_TYPES: readonly TensorType[] = [
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

/** A dense tensor in row-major order; `data.length` equals the product of `dims`. */
export type TensorData = {
  [T in TensorType]: {
    readonly type: T;
    readonly dims: readonly number[];
    readonly data: TensorDataMap[T];
  };
}[TensorType];

/** A model input or output as the model declares it. */
export interface ValueInfo {
  readonly name: string;
  /**
   * Element type. `'string'` tensors and `'unsupported'` values (sequences, maps, 4-bit types)
   * cannot be served through this interface.
   */
  readonly type: TensorType | 'string' | 'unsupported';
  /** Fixed sizes are numbers; symbolic dimensions (e.g. `batch_size`) are their names. */
  readonly dims: readonly (number | string)[];
}

export interface LoadOptions {
  /**
   * Execution providers in order of preference, e.g. `['cuda', 'cpu']`. Each is tried in turn;
   * `cpu` is always tried last if not listed. The one that loaded is `LoadedModel.executionProvider`.
   */
  readonly executionProviders: readonly string[];
  /** Threads of one operator; default: onnxruntime's (one per core). */
  readonly intraOpThreads?: number;
  /** Default `'all'`. */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** One execution provider that was tried and did not load, and why. */
export interface ProviderAttempt {
  readonly provider: string;
  readonly error: string;
}

export interface RunOptions {
  /**
   * Move the input buffers to the runtime instead of copying them (worker runtime only; others
   * ignore it). The caller must not touch the input arrays afterwards: they become detached.
   * Only arrays that span their whole ArrayBuffer are moved; others are copied.
   */
  readonly transferInputs?: boolean;
}

export interface LoadedModel {
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** The execution provider actually in use. */
  readonly executionProvider: string;
  /** Providers preferred over the one in use that failed to load, in order. */
  readonly providerFallbacks: readonly ProviderAttempt[];
  /** Run the model. Rejects with an `EdgefleetError` (`EF_INTERNAL`) when onnxruntime fails. */
  run(
    feeds: Readonly<Record<string, TensorData>>,
    options?: RunOptions,
  ): Promise<Record<string, TensorData>>;
  /** Release the session (idempotent). Later runs reject. */
  dispose(): Promise<void>;
}

export interface ModelRuntime {
  /**
   * Load a model file. Rejects with an `EdgefleetError` `EF_LOAD_FAILED` (details: the providers
   * tried and their errors) when no provider can load it, e.g. a corrupt or unsupported model.
   */
  load(modelPath: string, options: LoadOptions): Promise<LoadedModel>;
  /** Release every session and stop background threads. */
  close(): Promise<void>;
}

/** Number of elements of a tensor with these dims (1 for a scalar). */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/** The typed array constructor of each element type. */
export const TYPED_ARRAYS: {
  readonly [T in TensorType]: {
    new (length: number): TensorDataMap[T];
    new (buffer: ArrayBuffer, byteOffset: number, length: number): TensorDataMap[T];
    readonly BYTES_PER_ELEMENT: number;
  };
} = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

export function isTensorType(value: string): value is TensorType {
  return Object.hasOwn(TYPED_ARRAYS, value);
}

/** The mode `chooseRuntimeMode` picks. */
export type RuntimeMode = 'in-process' | 'worker';

/**
 * Where to run a model given its measured median run time: in the main thread only when a run is
 * shorter than `thresholdMs` (default 2 ms), because the loop is blocked for as long as a run lasts;
 * in the worker otherwise, where the message round trip (tens of microseconds) is noise.
 */
export function chooseRuntimeMode(medianRunMs: number, thresholdMs = 2): RuntimeMode {
  return medianRunMs < thresholdMs ? 'in-process' : 'worker';
}
