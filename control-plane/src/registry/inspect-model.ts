/**
 * Model inspection for the registry (ARCHITECTURE §5 step 1): prove that onnxruntime loads an
 * uploaded model, and record its inputs, outputs, types, shapes and opsets.
 *
 * Two sources, each for what it knows best: the onnxruntime session's metadata is the truth about
 * what can be fed and fetched (names, element types, shapes, tensor or not), and `readModelInfo`
 * reads what the session does not expose (IR version, opsets, producer, the full type of non-tensor
 * values). Every session is released on every path.
 */
import { readFile, stat } from 'node:fs/promises';
import {
  EdgefleetError,
  float16BitsToNumber,
  numberToFloat16Bits,
  readModelInfo,
  RUNTIME_ELEMENT_TYPES,
  type ModelInfo,
  type ModelValueInfo,
  type OpsetImport,
  type TensorDim,
  type TensorElementType,
} from '@edgefleet/protocol';
import { env, InferenceSession, Tensor } from 'onnxruntime-node';

/** Largest model accepted: protobuf's 2 GiB message limit (bigger models need external data). */
export const MAX_MODEL_BYTES = 0x7fffffff;

/** A model input or output as the runtime sees it. */
export interface InspectedValue {
  readonly name: string;
  /** Element type for tensors (`'float32'`); the ONNX type for others (`'seq(map(int64,tensor(float32)))'`). */
  readonly type: string;
  /** Fixed sizes, symbolic names (`'batch_size'`) and null for unknown dims; null if the rank is unknown. */
  readonly shape: readonly TensorDim[] | null;
  /** False for values Edgefleet cannot feed, serve or sketch (non-tensors such as ZipMap's output). */
  readonly supported: boolean;
  /** Why a value is not supported, and what to do about it. */
  readonly reason?: string;
}

export interface ModelInspection {
  readonly irVersion: number;
  /** The default ONNX opset (`ai.onnx`), null if the model does not import it. */
  readonly opset: number | null;
  readonly opsetImports: readonly OpsetImport[];
  readonly producer: { readonly name: string; readonly version: string };
  readonly inputs: readonly InspectedValue[];
  readonly outputs: readonly InspectedValue[];
  /** Operators used (subgraphs included), as `readModelInfo` reports them. */
  readonly opTypes: readonly string[];
}

export interface InspectModelOptions {
  /** Refuse models larger than this (`EF_TOO_LARGE`); default `MAX_MODEL_BYTES`. */
  readonly maxBytes?: number;
}

/** A model file path, or the model bytes. */
export type ModelSource = string | Uint8Array;

// Inspection and one-off runs must not compete with the server for cores, and runtime errors are
// reported through our own errors, so onnxruntime's own log is kept to fatal messages.
const SESSION_OPTIONS: InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  logSeverityLevel: 4,
};

/**
 * Load the model with onnxruntime and describe it. Throws `EdgefleetError`:
 * `EF_INVALID_MODEL` if it is not an ONNX model onnxruntime can load and serve,
 * `EF_NOT_FOUND` if the path does not exist, `EF_TOO_LARGE` above `maxBytes`.
 */
export async function inspectModel(
  source: ModelSource,
  options: InspectModelOptions = {},
): Promise<ModelInspection> {
  const bytes = await loadBytes(source, options.maxBytes ?? MAX_MODEL_BYTES);
  const info = checkedInfo(bytes);
  const session = await openSession(bytes, info);
  try {
    const byName = (values: readonly ModelValueInfo[]) => new Map(values.map((v) => [v.name, v]));
    const declaredInputs = byName(info.inputs);
    const declaredOutputs = byName(info.outputs);
    return {
      irVersion: info.irVersion,
      opset: info.opset,
      opsetImports: info.opsetImports,
      producer: { name: info.producerName, version: info.producerVersion },
      inputs: session.inputMetadata.map((m) => describe(m, declaredInputs.get(m.name), 'input')),
      outputs: session.outputMetadata.map((m) =>
        describe(m, declaredOutputs.get(m.name), 'output'),
      ),
      opTypes: info.opTypes,
    };
  } finally {
    await session.release();
  }
}

async function loadBytes(source: ModelSource, maxBytes: number): Promise<Uint8Array> {
  if (typeof source !== 'string') {
    if (source.length > maxBytes) throw tooLarge(source.length, maxBytes);
    return source;
  }
  try {
    const size = (await stat(source)).size;
    if (size > maxBytes) throw tooLarge(size, maxBytes);
    return await readFile(source);
  } catch (e) {
    if (e instanceof EdgefleetError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new EdgefleetError('EF_NOT_FOUND', `Model file ${source} does not exist.`, {
        cause: e,
      });
    }
    throw e;
  }
}

function tooLarge(size: number, maxBytes: number): EdgefleetError {
  return new EdgefleetError(
    'EF_TOO_LARGE',
    `The model is ${size} bytes, above the limit of ${maxBytes} bytes.`,
    { details: { size, maxBytes } },
  );
}

/** Read the model's own description and refuse what onnxruntime-node could load but not serve. */
function checkedInfo(bytes: Uint8Array): ModelInfo {
  const read = readModelInfo(bytes);
  if (!read.ok) throw EdgefleetError.fromFailure(read);
  const info = read.value;
  if (info.externalDataCount > 0) {
    throw new EdgefleetError(
      'EF_INVALID_MODEL',
      `The model keeps ${info.externalDataCount} tensor(s) in external data files, but a release ` +
        'ships one self-contained model file. Save it with the data inside ' +
        '(onnx.save_model(model, path, save_as_external_data=False); models under 2 GB only).',
    );
  }
  // onnxruntime-node refuses to even describe a session with such values (and then leaks it).
  for (const value of [...info.inputs, ...info.outputs]) {
    if (value.elemType !== null && !RUNTIME_ELEMENT_TYPES.has(value.elemType)) {
      throw new EdgefleetError(
        'EF_INVALID_MODEL',
        `'${value.name}' is a ${value.elemType} tensor, which onnxruntime-node cannot pass in or out. ` +
          'Convert the model so that its inputs and outputs use a supported type (float32, float16, int64, ...).',
        { details: { value: value.name, elemType: value.elemType } },
      );
    }
  }
  return info;
}

async function openSession(bytes: Uint8Array, info: ModelInfo): Promise<InferenceSession> {
  try {
    return await InferenceSession.create(bytes, SESSION_OPTIONS);
  } catch (e) {
    const opsets = info.opsetImports.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
    throw new EdgefleetError(
      'EF_INVALID_MODEL',
      `onnxruntime ${env.versions.common} could not load the model: ${errorMessage(e)}. ` +
        `Check that its IR version (${info.irVersion}), opsets (${opsets || 'none'}) and operators are ` +
        'supported by this onnxruntime, or re-export the model with a lower opset.',
      { cause: e, details: { irVersion: info.irVersion, opsetImports: info.opsetImports } },
    );
  }
}

function describe(
  meta: InferenceSession.ValueMetadata,
  declared: ModelValueInfo | undefined,
  role: 'input' | 'output',
): InspectedValue {
  if (meta.isTensor) {
    // onnxruntime reports an unknown dim as '' and an unknown rank as []; the file tells [] (scalar) apart.
    const shape =
      meta.shape.length === 0 && declared?.shape === null
        ? null
        : meta.shape.map((d) => (d === '' ? null : d));
    return { name: meta.name, type: meta.type, shape, supported: true };
  }
  const type = declared?.type ?? 'unknown';
  const verb = role === 'input' ? 'fed' : 'returned';
  const advice =
    role === 'output' && type.startsWith('seq(map(')
      ? ' For a scikit-learn classifier, convert it without ZipMap (skl2onnx option zipmap=False) ' +
        'so the probabilities come out as a [N, classes] tensor.'
      : ' Re-export the model so that this value is a tensor.';
  return {
    name: meta.name,
    type,
    shape: null,
    supported: false,
    reason:
      `${role} '${meta.name}' is a ${type} value, not a tensor: it cannot be ${verb} by onnxruntime-node, ` +
      `so Edgefleet can neither serve nor sketch it.${advice}`,
  };
}

function errorMessage(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\.$/, '');
}

/** One input value for `runModelOnce`: row-major data and its dims. */
export interface FeedValue {
  readonly dims: readonly number[];
  readonly data: ArrayLike<number | bigint | boolean | string>;
  /** Defaults to the element type the model declares for this input. */
  readonly type?: TensorElementType;
}

/**
 * An output as plain JSON-friendly arrays: int64/uint64 become numbers (exact up to 2^53), float16
 * values are decoded, bool values are booleans. NaN and infinities stay numbers (not JSON-safe).
 */
export interface PlainTensor {
  readonly type: string;
  readonly dims: number[];
  readonly data: number[] | boolean[] | string[];
}

/**
 * Run the model once on `feeds` and return its tensor outputs as plain arrays (e.g. to record the
 * expected output of a health-check sample). Non-tensor outputs are left out: onnxruntime-node
 * cannot return them. Throws `EdgefleetError`: `EF_BAD_REQUEST` if the feeds do not fit the model's
 * inputs, `EF_INVALID_MODEL` if the model does not load or fails while running.
 */
export async function runModelOnce(
  source: ModelSource,
  feeds: Readonly<Record<string, FeedValue>>,
  options: InspectModelOptions = {},
): Promise<Record<string, PlainTensor>> {
  const bytes = await loadBytes(source, options.maxBytes ?? MAX_MODEL_BYTES);
  const info = checkedInfo(bytes);
  const session = await openSession(bytes, info);
  try {
    const tensors = toTensors(session.inputMetadata, feeds);
    const fetches = session.outputMetadata.filter((m) => m.isTensor).map((m) => m.name);
    let results: InferenceSession.ReturnType;
    try {
      results = await session.run(tensors, fetches);
    } catch (e) {
      throw new EdgefleetError(
        'EF_INVALID_MODEL',
        `onnxruntime loaded the model but failed to run it on the given sample: ${errorMessage(e)}.`,
        { cause: e },
      );
    }
    const plain: Record<string, PlainTensor> = {};
    for (const name of fetches) {
      const tensor = results[name];
      if (tensor instanceof Tensor) plain[name] = toPlain(tensor);
    }
    return plain;
  } finally {
    await session.release();
  }
}

function badFeed(message: string): EdgefleetError {
  return new EdgefleetError('EF_BAD_REQUEST', message);
}

function toTensors(
  inputs: readonly InferenceSession.ValueMetadata[],
  feeds: Readonly<Record<string, FeedValue>>,
): Record<string, Tensor> {
  const known = new Set(inputs.map((m) => m.name));
  for (const name of Object.keys(feeds)) {
    if (!known.has(name)) {
      throw badFeed(`The model has no input '${name}'; its inputs are ${[...known].join(', ')}.`);
    }
  }
  const tensors: Record<string, Tensor> = {};
  for (const meta of inputs) {
    const feed = Object.hasOwn(feeds, meta.name) ? feeds[meta.name] : undefined;
    if (!meta.isTensor) throw badFeed(`Input '${meta.name}' is not a tensor and cannot be fed.`);
    const wanted = `${meta.type} [${meta.shape.map((d) => (d === '' ? '?' : d)).join(', ')}]`;
    if (feed === undefined) throw badFeed(`The model needs input '${meta.name}' (${wanted}).`);
    const type = feed.type ?? meta.type;
    if (type !== meta.type) {
      throw badFeed(`Input '${meta.name}' is ${meta.type}, the sample gives ${type}.`);
    }
    checkDims(meta.name, feed, meta.shape, wanted);
    tensors[meta.name] = new Tensor(type, typedData(meta.name, type, feed.data), [...feed.dims]);
  }
  return tensors;
}

function checkDims(
  name: string,
  feed: FeedValue,
  declared: readonly (number | string)[],
  wanted: string,
): void {
  let count = 1;
  for (const d of feed.dims) {
    if (!Number.isSafeInteger(d) || d < 0)
      throw badFeed(`Input '${name}' has an invalid dim ${d}.`);
    count *= d;
  }
  if (count !== feed.data.length) {
    throw badFeed(
      `Input '${name}' has ${feed.data.length} values, its dims [${feed.dims.join(', ')}] need ${count}.`,
    );
  }
  if (declared.length === 0) return;
  const fits =
    declared.length === feed.dims.length &&
    declared.every((d, i) => typeof d === 'string' || d === feed.dims[i]);
  if (!fits) {
    throw badFeed(`Input '${name}' must be ${wanted}, the sample is [${feed.dims.join(', ')}].`);
  }
}

type FeedData = Tensor.DataTypeMap[Tensor.Type];

function typedData(
  name: string,
  type: Tensor.Type,
  data: ArrayLike<number | bigint | boolean | string>,
): FeedData {
  const values = Array.from(data);
  const numbers = (): number[] =>
    values.map((v) => {
      if (typeof v === 'number') return v;
      if (typeof v === 'boolean') return v ? 1 : 0;
      throw badFeed(`Input '${name}' is ${type}, so its values must be numbers; got ${typeof v}.`);
    });
  const bigints = (): bigint[] =>
    values.map((v) => {
      if (typeof v === 'bigint') return v;
      if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
      throw badFeed(
        `Input '${name}' is ${type}, so its values must be integers; got ${String(v)}.`,
      );
    });
  switch (type) {
    case 'float32':
      return Float32Array.from(numbers());
    case 'float64':
      return Float64Array.from(numbers());
    case 'float16':
      // Raw binary16 patterns: what onnxruntime-node takes where there is no Float16Array.
      return Uint16Array.from(numbers(), numberToFloat16Bits);
    case 'int8':
      return Int8Array.from(numbers());
    case 'uint8':
      return Uint8Array.from(numbers());
    case 'int16':
      return Int16Array.from(numbers());
    case 'uint16':
      return Uint16Array.from(numbers());
    case 'int32':
      return Int32Array.from(numbers());
    case 'uint32':
      return Uint32Array.from(numbers());
    case 'bool':
      return Uint8Array.from(numbers(), (v) => (v === 0 ? 0 : 1));
    case 'int64':
      return BigInt64Array.from(bigints());
    case 'uint64':
      return BigUint64Array.from(bigints());
    case 'string':
      return values.map((v) => {
        if (typeof v === 'string') return v;
        throw badFeed(`Input '${name}' is a string tensor, so its values must be strings.`);
      });
    default:
      throw badFeed(`Input '${name}' is ${type}, which runModelOnce does not feed.`);
  }
}

function toPlain(tensor: Tensor): PlainTensor {
  const dims = [...tensor.dims];
  const data = tensor.data;
  if (tensor.type === 'bool') {
    return { type: 'bool', dims, data: Array.from(data as Uint8Array, (v) => v !== 0) };
  }
  if (Array.isArray(data)) return { type: tensor.type, dims, data: data.map(String) };
  if (tensor.type === 'float16' && data instanceof Uint16Array) {
    return { type: 'float16', dims, data: Array.from(data, float16BitsToNumber) };
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    return { type: tensor.type, dims, data: Array.from(data, (v) => Number(v)) };
  }
  return { type: tensor.type, dims, data: Array.from(data as ArrayLike<number>) };
}
