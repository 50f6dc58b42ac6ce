/**
 * A runtime without onnxruntime, for the fleet simulator (thousands of agents in one process) and
 * tests: deterministic outputs computed cheaply from the inputs, latency through an injected
 * `sleep` (a fake clock in tests), and failures on demand.
 *
 * Outputs, per output of the model's signature (symbolic dims: the first is the batch size of the
 * first input, others are 1):
 * - same shape and type as the first input: a copy of it (an identity model);
 * - `[N, C]`: a linear layer over each sample's flattened values, with the weights of the
 *   protocol's sample models (`w[f][c] = ((7f + 3c) mod 11 - 5) / 8`, `b[c] = (c mod 5 - 2) / 4`),
 *   so a fake agent serving `linearClassifier` answers exactly like a real one;
 * - anything else (and float16 outputs): zeros.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { EdgefleetError, readModelInfo, type ModelValueInfo } from '@edgefleet/protocol';
import {
  elementCount,
  isTensorType,
  TYPED_ARRAYS,
  type LoadedModel,
  type LoadOptions,
  type ModelRuntime,
  type TensorData,
  type TensorType,
  type ValueInfo,
} from './model-runtime.js';

/** The signature of a fake model. */
export interface FakeModelSignature {
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

/** A run of a fake model, as `latencyMs` and `failRun` see it. */
export interface FakeCall {
  readonly modelPath: string;
  /** 0-based index of the run across the whole runtime. */
  readonly index: number;
  readonly feeds: Readonly<Record<string, TensorData>>;
}

export interface FakeRuntimeOptions {
  /**
   * The signature of the model at a path; throw (or reject) to make the load fail with
   * EF_LOAD_FAILED. Default `signatureFromModelFile`: the inputs and outputs the ONNX file declares,
   * so a simulated agent serves the real files it installed.
   */
  readonly describe?: (modelPath: string) => FakeModelSignature | Promise<FakeModelSignature>;
  /** Execution providers the fake device has; default `['cpu']`. */
  readonly availableProviders?: readonly string[];
  /** Run latency in ms (fixed, or per call); default 0. */
  readonly latencyMs?: number | ((call: FakeCall) => number);
  /** Load latency in ms; default 0. */
  readonly loadLatencyMs?: number;
  /** Waits `ms` milliseconds; inject a fake clock's. Default: a real timer. Not called for 0. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Make a run fail (EF_INTERNAL, like an onnxruntime error) when this returns true. */
  readonly failRun?: (call: FakeCall) => boolean;
  /** Make every output value NaN (a model that loads and runs but is broken). */
  readonly nanOutputs?: boolean;
}

/**
 * Read the inputs and outputs an ONNX file declares (protocol's `readModelInfo`, no onnxruntime).
 * Unknown dimensions become `'?'`; values that are not servable tensors are `'unsupported'`.
 */
export async function signatureFromModelFile(modelPath: string): Promise<FakeModelSignature> {
  const info = readModelInfo(await readFile(modelPath));
  if (!info.ok) throw new Error(info.message);
  const describe = (v: ModelValueInfo): ValueInfo => ({
    name: v.name,
    type:
      v.kind !== 'tensor' || v.elemType === null
        ? 'unsupported'
        : v.elemType === 'string' || isTensorType(v.elemType)
          ? v.elemType
          : 'unsupported',
    dims: (v.shape ?? []).map((d) => d ?? '?'),
  });
  return { inputs: info.value.inputs.map(describe), outputs: info.value.outputs.map(describe) };
}

export class FakeRuntime implements ModelRuntime {
  private calls = 0;
  private readonly models = new Set<FakeModel>();
  private closed = false;

  constructor(private readonly options: FakeRuntimeOptions = {}) {}

  /** Runs started so far (failed ones included). */
  get runCount(): number {
    return this.calls;
  }

  /** Models loaded and not yet disposed. */
  get openModels(): number {
    return this.models.size;
  }

  async load(modelPath: string, options: LoadOptions): Promise<LoadedModel> {
    if (this.closed) throw new EdgefleetError('EF_INTERNAL', 'the runtime is closed');
    await this.wait(this.options.loadLatencyMs ?? 0);
    const available = this.options.availableProviders ?? ['cpu'];
    const providerFallbacks: { provider: string; error: string }[] = [];
    let executionProvider = 'cpu';
    for (const p of [...options.executionProviders, 'cpu']) {
      const name = p.toLowerCase();
      if (available.includes(name)) {
        executionProvider = name;
        break;
      }
      if (!providerFallbacks.some((a) => a.provider === name)) {
        providerFallbacks.push({ provider: name, error: 'not available on this (fake) device' });
      }
    }
    let signature: FakeModelSignature;
    try {
      signature = await (this.options.describe ?? signatureFromModelFile)(modelPath);
    } catch (error) {
      throw new EdgefleetError(
        'EF_LOAD_FAILED',
        `cannot load ${modelPath}: ${error instanceof Error ? error.message : String(error)}`,
        { details: { modelPath }, cause: error },
      );
    }
    const model = new FakeModel(this, modelPath, signature, executionProvider, providerFallbacks);
    this.models.add(model);
    return model;
  }

  close(): Promise<void> {
    this.closed = true;
    this.models.clear();
    return Promise.resolve();
  }

  /** @internal */
  async execute(
    model: FakeModel,
    feeds: Readonly<Record<string, TensorData>>,
  ): Promise<Record<string, TensorData>> {
    const call: FakeCall = { modelPath: model.modelPath, index: this.calls++, feeds };
    const latency = this.options.latencyMs ?? 0;
    await this.wait(typeof latency === 'number' ? latency : latency(call));
    for (const input of model.inputs) {
      if (!Object.hasOwn(feeds, input.name)) {
        throw new EdgefleetError('EF_INTERNAL', `input '${input.name}' is missing from the feeds`);
      }
    }
    if (this.options.failRun?.(call) === true) {
      throw new EdgefleetError('EF_INTERNAL', `fake run ${call.index} failed as configured`);
    }
    const first = model.inputs[0] ? feeds[model.inputs[0].name] : undefined;
    const outputs: Record<string, TensorData> = {};
    for (const output of model.outputs) {
      outputs[output.name] = fakeOutput(output, first, this.options.nanOutputs === true);
    }
    return outputs;
  }

  /** @internal */
  forget(model: FakeModel): void {
    this.models.delete(model);
  }

  private async wait(ms: number): Promise<void> {
    if (ms <= 0) return;
    await (this.options.sleep ?? ((t: number) => delay(t)))(ms);
  }
}

class FakeModel implements LoadedModel {
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  private disposed = false;

  constructor(
    private readonly runtime: FakeRuntime,
    readonly modelPath: string,
    signature: FakeModelSignature,
    readonly executionProvider: string,
    readonly providerFallbacks: readonly { provider: string; error: string }[],
  ) {
    this.inputs = signature.inputs;
    this.outputs = signature.outputs;
  }

  async run(feeds: Readonly<Record<string, TensorData>>): Promise<Record<string, TensorData>> {
    if (this.disposed) throw new EdgefleetError('EF_INTERNAL', 'the model was disposed');
    return this.runtime.execute(this, feeds);
  }

  dispose(): Promise<void> {
    this.disposed = true;
    this.runtime.forget(this);
    return Promise.resolve();
  }
}

function fakeOutput(info: ValueInfo, first: TensorData | undefined, nan: boolean): TensorData {
  const type: TensorType = isTensorType(info.type) ? info.type : 'float32';
  const batch = first?.dims[0] ?? 1;
  const dims = info.dims.map((d, i) => (typeof d === 'number' ? d : i === 0 ? batch : 1));
  const values = new Float64Array(elementCount(dims));
  if (nan) {
    values.fill(NaN);
  } else if (first && sameDims(dims, first.dims) && first.type === type) {
    return { type, dims, data: first.data.slice() } as TensorData;
  } else if (first && dims.length === 2 && typeof first.data[0] !== 'bigint') {
    const samples = dims[0]!;
    const classes = dims[1]!;
    const features = samples > 0 ? first.data.length / samples : 0;
    for (let n = 0; n < samples; n++) {
      for (let c = 0; c < classes; c++) {
        let sum = ((c % 5) - 2) / 4;
        for (let f = 0; f < features; f++) {
          sum += Number(first.data[n * features + f]) * ((((7 * f + 3 * c) % 11) - 5) / 8);
        }
        values[n * classes + c] = sum;
      }
    }
  }
  return { type, dims, data: convert(values, type) } as TensorData;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function convert(values: Float64Array, type: TensorType): TensorData['data'] {
  const out = new TYPED_ARRAYS[type](values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
      out[i] = BigInt(Number.isFinite(v) ? Math.round(v) : 0);
    } else if (type === 'float16') {
      // Half-precision bit patterns are not computed; a float16 output stays zero.
    } else if (type === 'float32' || type === 'float64') {
      out[i] = v;
    } else {
      out[i] = Number.isFinite(v) ? Math.round(v) : 0;
    }
  }
  return out;
}
