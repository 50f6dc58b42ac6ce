/**
 * Ready-made ONNX models for tests, the fleet simulator and the demo. Each factory returns model
 * bytes; weights are fixed functions of the options, so the same options give the same bytes and the
 * same outputs on every machine. The batch dimension is symbolic (`batch_size`) everywhere.
 */
import { buildModel, tensorValue, type InitializerSpec } from './build-model.js';
import type { TensorDim } from './model-info.js';
import type { TensorElementType } from './element-type.js';

export const SAMPLE_BATCH_DIM = 'batch_size';

/** Options every factory takes. */
export interface SampleModelOptions {
  /** Default ONNX opset version; default 17. */
  readonly opset?: number;
}

/** Weights `[F][C]` (row f holds the weights of input column f) and bias `[C]` of a linear layer. */
export interface LinearParameters {
  readonly weights: readonly (readonly number[])[];
  readonly bias: readonly number[];
}

/**
 * The parameters a linear factory uses: the given ones (checked) or the defaults
 * `weights[f][c] = ((7f + 3c) mod 11 - 5) / 8` and `bias[c] = (c mod 5 - 2) / 4`, chosen to be
 * exact in float32 so expected outputs can be computed by hand.
 */
export function linearParameters(
  features: number,
  outputs: number,
  weights?: readonly (readonly number[])[],
  bias?: readonly number[],
): LinearParameters {
  checkCount(features, 'features');
  checkCount(outputs, 'outputs');
  const w =
    weights ??
    Array.from({ length: features }, (_, f) =>
      Array.from({ length: outputs }, (_, c) => (((7 * f + 3 * c) % 11) - 5) / 8),
    );
  const b = bias ?? Array.from({ length: outputs }, (_, c) => ((c % 5) - 2) / 4);
  if (w.length !== features || w.some((row) => row.length !== outputs)) {
    throw new RangeError(`weights must be ${features} rows of ${outputs} numbers`);
  }
  if (b.length !== outputs) throw new RangeError(`bias must have ${outputs} numbers`);
  return { weights: w, bias: b };
}

/** `y = x · W + b` for one row `x`, in float64 (compare with a float32 tolerance). */
export function applyLinear(params: LinearParameters, x: readonly number[]): number[] {
  return params.bias.map((b, c) => x.reduce((sum, v, f) => sum + v * params.weights[f]![c]!, b));
}

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new RangeError(`${what} must be a positive integer, got ${n}`);
}

function linearInitializers(params: LinearParameters): InitializerSpec[] {
  const features = params.weights.length;
  const outputs = params.bias.length;
  return [
    {
      name: 'weights',
      elemType: 'float32',
      dims: [features, outputs],
      values: params.weights.flat(),
    },
    { name: 'bias', elemType: 'float32', dims: [outputs], values: params.bias },
  ];
}

function linearModel(
  features: number,
  params: LinearParameters,
  output: string,
  opset: number | undefined,
): Uint8Array {
  const outputs = params.bias.length;
  return buildModel({
    name: 'linear',
    opset,
    inputs: [tensorValue('input', 'float32', [SAMPLE_BATCH_DIM, features])],
    outputs: [tensorValue(output, 'float32', [SAMPLE_BATCH_DIM, outputs])],
    initializers: linearInitializers(params),
    nodes: [
      { op: 'MatMul', inputs: ['input', 'weights'], outputs: ['product'] },
      { op: 'Add', inputs: ['product', 'bias'], outputs: [output] },
    ],
  });
}

export interface IdentityModelOptions extends SampleModelOptions {
  /** Shape of `input` and `output`, e.g. `['batch_size', 4]`. */
  readonly dims: readonly TensorDim[];
  /** Default `'float32'`. */
  readonly type?: TensorElementType;
}

/** `output = input` (one Identity node). */
export function identityModel(options: IdentityModelOptions): Uint8Array {
  const type = options.type ?? 'float32';
  return buildModel({
    name: 'identity',
    opset: options.opset,
    inputs: [tensorValue('input', type, options.dims)],
    outputs: [tensorValue('output', type, options.dims)],
    nodes: [{ op: 'Identity', inputs: ['input'], outputs: ['output'] }],
  });
}

export interface LinearClassifierOptions extends SampleModelOptions {
  readonly features: number;
  readonly classes: number;
  /** `[features][classes]`; default see `linearParameters`. */
  readonly weights?: readonly (readonly number[])[];
  readonly bias?: readonly number[];
}

/** `input` float32 `[batch_size, features]` -> MatMul + Add -> `logits` float32 `[batch_size, classes]`. */
export function linearClassifier(options: LinearClassifierOptions): Uint8Array {
  const params = linearParameters(options.features, options.classes, options.weights, options.bias);
  return linearModel(options.features, params, 'logits', options.opset);
}

export interface LinearRegressorOptions extends SampleModelOptions {
  readonly features: number;
  /** Number of predicted values; default 1. */
  readonly targets?: number;
  readonly weights?: readonly (readonly number[])[];
  readonly bias?: readonly number[];
}

/** `input` float32 `[batch_size, features]` -> MatMul + Add -> `prediction` float32 `[batch_size, targets]`. */
export function linearRegressor(options: LinearRegressorOptions): Uint8Array {
  const params = linearParameters(
    options.features,
    options.targets ?? 1,
    options.weights,
    options.bias,
  );
  return linearModel(options.features, params, 'prediction', options.opset);
}

export interface ImageClassifierOptions extends SampleModelOptions {
  /** Defaults: 1 channel, 28 x 28, 10 classes (MNIST-like). */
  readonly channels?: number;
  readonly height?: number;
  readonly width?: number;
  readonly classes?: number;
}

/**
 * `input` float32 `[batch_size, channels, height, width]` -> ReduceMean over rows -> Flatten ->
 * MatMul + Add -> `logits` float32 `[batch_size, classes]`. The linear layer holds
 * `linearParameters(channels * width, classes)`: logits = applyLinear(params, column means).
 */
export function imageClassifier(options: ImageClassifierOptions = {}): Uint8Array {
  const channels = options.channels ?? 1;
  const height = options.height ?? 28;
  const width = options.width ?? 28;
  const classes = options.classes ?? 10;
  checkCount(height, 'height');
  const params = linearParameters(channels * width, classes);
  const opset = options.opset ?? 17;
  // ReduceMean takes its axes as an attribute up to opset 17 and as an input from opset 18.
  const axesAsInput = opset >= 18;
  return buildModel({
    name: 'image_classifier',
    opset,
    inputs: [tensorValue('input', 'float32', [SAMPLE_BATCH_DIM, channels, height, width])],
    outputs: [tensorValue('logits', 'float32', [SAMPLE_BATCH_DIM, classes])],
    initializers: [
      ...linearInitializers(params),
      ...(axesAsInput
        ? [{ name: 'axes', elemType: 'int64', dims: [1], values: [2] } as const]
        : []),
    ],
    nodes: [
      {
        op: 'ReduceMean',
        inputs: axesAsInput ? ['input', 'axes'] : ['input'],
        outputs: ['column_means'],
        attributes: axesAsInput
          ? { keepdims: { i: 0 } }
          : { axes: { ints: [2] }, keepdims: { i: 0 } },
      },
      {
        op: 'Flatten',
        inputs: ['column_means'],
        outputs: ['features'],
        attributes: { axis: { i: 1 } },
      },
      { op: 'MatMul', inputs: ['features', 'weights'], outputs: ['product'] },
      { op: 'Add', inputs: ['product', 'bias'], outputs: ['logits'] },
    ],
  });
}

export interface SlowModelOptions extends SampleModelOptions {
  /** Loop trip count; the run time grows linearly with it. */
  readonly iterations: number;
  /** Width of the input and of the square weight matrix; default 256. */
  readonly size?: number;
}

/**
 * A model that is slow on purpose, for event-loop starvation and timeout tests. `input` float32
 * `[batch_size, size]` -> Loop(`iterations` times: x = x · I) -> `output` float32 `[batch_size, size]`.
 * The weight is the identity matrix, so `output` equals `input` exactly while each iteration still
 * costs a full MatMul (2 · batch · size² flops). Run time is linear in `iterations`; measured with
 * batch 1 and size 256 on one x86 core: about 3.5 µs per iteration (10,000 -> 35 ms, 50,000 -> 190 ms).
 * Calibrate on the machine at hand rather than assuming a duration. onnxruntime-node runs a session
 * synchronously on the calling thread, so a run blocks that thread's event loop for its whole length.
 */
export function slowModel(options: SlowModelOptions): Uint8Array {
  const size = options.size ?? 256;
  checkCount(size, 'size');
  if (!Number.isSafeInteger(options.iterations) || options.iterations < 0) {
    throw new RangeError(`iterations must be a non-negative integer, got ${options.iterations}`);
  }
  const identity = Array.from({ length: size * size }, (_, i) => (i % (size + 1) === 0 ? 1 : 0));
  return buildModel({
    name: 'slow',
    opset: options.opset,
    inputs: [tensorValue('input', 'float32', [SAMPLE_BATCH_DIM, size])],
    outputs: [tensorValue('output', 'float32', [SAMPLE_BATCH_DIM, size])],
    initializers: [
      { name: 'trip_count', elemType: 'int64', dims: [], values: [options.iterations] },
      { name: 'eye', elemType: 'float32', dims: [size, size], values: identity },
    ],
    nodes: [
      {
        op: 'Loop',
        inputs: ['trip_count', '', 'input'],
        outputs: ['output'],
        attributes: {
          body: {
            g: {
              name: 'slow_body',
              inputs: [
                tensorValue('iteration', 'int64', []),
                tensorValue('cond_in', 'bool', []),
                tensorValue('x_in', 'float32'),
              ],
              outputs: [tensorValue('cond_out', 'bool', []), tensorValue('x_out', 'float32')],
              nodes: [
                { op: 'Identity', inputs: ['cond_in'], outputs: ['cond_out'] },
                // 'eye' comes from the outer graph's scope.
                { op: 'MatMul', inputs: ['x_in', 'eye'], outputs: ['x_out'] },
              ],
            },
          },
        },
      },
    ],
  });
}

export interface FailingModelOptions extends SampleModelOptions {
  /**
   * How it fails; both load fine.
   * - `'error'` (default): every run fails inside onnxruntime: a Gather reads column 9 of a
   *   4-column input ("indices element out of data bounds").
   * - `'nan'`: every run succeeds but every output value is NaN: `sqrt(-|x| - 1)`.
   */
  readonly failure?: 'error' | 'nan';
}

/**
 * A model that passes inspection but fails its health check. `input` float32 `[batch_size, 4]` ->
 * `output` float32 `[batch_size, 4]`, the same signature as `identityModel({ dims: ['batch_size', 4] })`,
 * its healthy counterpart.
 */
export function failingModel(options: FailingModelOptions = {}): Uint8Array {
  const io = {
    opset: options.opset,
    inputs: [tensorValue('input', 'float32', [SAMPLE_BATCH_DIM, 4])],
    outputs: [tensorValue('output', 'float32', [SAMPLE_BATCH_DIM, 4])],
  };
  if ((options.failure ?? 'error') === 'error') {
    return buildModel({
      ...io,
      name: 'failing_error',
      initializers: [{ name: 'columns', elemType: 'int64', dims: [4], values: [0, 1, 2, 9] }],
      nodes: [
        {
          op: 'Gather',
          inputs: ['input', 'columns'],
          outputs: ['output'],
          attributes: { axis: { i: 1 } },
        },
      ],
    });
  }
  return buildModel({
    ...io,
    name: 'failing_nan',
    initializers: [{ name: 'one', elemType: 'float32', dims: [], values: [1] }],
    nodes: [
      { op: 'Abs', inputs: ['input'], outputs: ['magnitude'] },
      { op: 'Neg', inputs: ['magnitude'], outputs: ['negative'] },
      { op: 'Sub', inputs: ['negative', 'one'], outputs: ['below_zero'] },
      { op: 'Sqrt', inputs: ['below_zero'], outputs: ['output'] },
    ],
  });
}

export interface ZipMapClassifierOptions extends SampleModelOptions {
  readonly features: number;
  readonly classes: number;
}

/**
 * A classifier shaped like scikit-learn exports (skl2onnx with ZipMap): `input` float32
 * `[batch_size, features]` -> `label` int64 `[batch_size]` and `probabilities`
 * `seq(map(int64, tensor(float32)))`, a non-tensor output Edgefleet cannot serve or sketch.
 * Linear layer: `linearParameters(features, classes)`, then Softmax.
 */
export function zipMapClassifier(options: ZipMapClassifierOptions): Uint8Array {
  const params = linearParameters(options.features, options.classes);
  return buildModel({
    name: 'zipmap_classifier',
    opset: options.opset,
    opsets: { 'ai.onnx.ml': 3 },
    inputs: [tensorValue('input', 'float32', [SAMPLE_BATCH_DIM, options.features])],
    outputs: [
      tensorValue('label', 'int64', [SAMPLE_BATCH_DIM]),
      {
        name: 'probabilities',
        type: {
          kind: 'sequence',
          elem: { kind: 'map', key: 'int64', value: { kind: 'tensor', elemType: 'float32' } },
        },
      },
    ],
    initializers: linearInitializers(params),
    nodes: [
      { op: 'MatMul', inputs: ['input', 'weights'], outputs: ['product'] },
      { op: 'Add', inputs: ['product', 'bias'], outputs: ['logits'] },
      { op: 'Softmax', inputs: ['logits'], outputs: ['scores'], attributes: { axis: { i: 1 } } },
      {
        op: 'ArgMax',
        inputs: ['scores'],
        outputs: ['label'],
        attributes: { axis: { i: 1 }, keepdims: { i: 0 } },
      },
      {
        op: 'ZipMap',
        domain: 'ai.onnx.ml',
        inputs: ['scores'],
        outputs: ['probabilities'],
        attributes: {
          classlabels_int64s: { ints: Array.from({ length: options.classes }, (_, c) => c) },
        },
      },
    ],
  });
}
