/**
 * The profiler: updates a profile in place from model tensors, as the agent serves inferences.
 *
 * It walks typed arrays by index and never allocates per row: per call it allocates per tensor only
 * (a pending update, and a Float64Array copy of a 64-bit integer tensor).
 * A call either updates every feature it covers or, when a tensor is missing or has the wrong shape,
 * none (Result failure, never a throw).
 */
import { EdgefleetError, fail, ok, type Result } from '../errors.js';
import type {
  ClassifierOutputSpec,
  FeatureSpec,
  ImageInputSpec,
  InputFeatureSpec,
  OutputFeatureSpec,
  RegressorOutputSpec,
  TabularInputSpec,
} from './feature-spec.js';
import { checkFeatureSpec, type FeatureDescriptor } from './features.js';
import {
  categoricalCapacity,
  emptyFeatureSketch,
  mergeProfiles,
  Profile,
  type CategoricalFeatureSketch,
  type FeatureSketch,
  type NumericFeatureSketch,
  type ProfileWindow,
  type SketchOptions,
  updateNumericFeature,
} from './profile.js';

/** Element storage of a numeric tensor (what onnxruntime's `Tensor.data` holds for numeric types). */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | readonly number[];

/** A dense row-major tensor: onnxruntime's `Tensor` fits this shape. */
export interface TensorLike {
  readonly data: TensorData;
  readonly dims: readonly number[];
}

/** Tensors by input or output name. Tensors the spec does not mention are ignored. */
export type TensorMap = Readonly<Record<string, TensorLike | undefined>>;

/** A tensor whose shape passed validation, with number-typed data. */
interface Checked {
  readonly data: ArrayLike<number>;
  readonly dims: readonly number[];
}

function numericData(data: TensorData): ArrayLike<number> {
  return data instanceof BigInt64Array || data instanceof BigUint64Array
    ? Float64Array.from(data, Number)
    : data;
}

function checkTensor(
  t: TensorLike | undefined,
  role: string,
  name: string,
  rank: readonly number[],
): Result<Checked> {
  if (t === undefined) return fail('EF_MALFORMED', `The ${role} "${name}" is missing.`);
  const dims = t.dims;
  let size = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      return fail('EF_MALFORMED', `The ${role} "${name}" has an invalid dimension ${d}.`);
    }
    size *= d;
  }
  if (!rank.includes(dims.length)) {
    return fail(
      'EF_MALFORMED',
      `The ${role} "${name}" has ${dims.length} dimensions; expected ${rank.join(' or ')}.`,
      { dims: [...dims] },
    );
  }
  if (size !== t.data.length) {
    return fail(
      'EF_MALFORMED',
      `The ${role} "${name}" has ${t.data.length} elements but dims [${dims.join(', ')}] need ${size}.`,
    );
  }
  return ok({ data: numericData(t.data), dims });
}

function mismatch(role: string, name: string, what: string, got: number, expected: number) {
  return fail(
    'EF_MALFORMED',
    `The ${role} "${name}" has ${got} ${what}; the feature spec expects ${expected}.`,
    { tensor: name, got, expected },
  );
}

/** Update a numeric feature with one value. */
function put(s: NumericFeatureSketch, x: number): void {
  updateNumericFeature(s, x);
}

/** One pending update: validated, applied only once every tensor of the call has passed. */
type Apply = () => void;

/**
 * Builds a profile from model inputs and outputs, window by window.
 *
 * ```ts
 * const profiler = Profiler.create(release.featureSpec).value;
 * profiler.observe(feeds, results);            // after every inference (or batch)
 * const live = profiler.rollover({ start, end }); // at the end of each telemetry window
 * ```
 */
export class Profiler {
  readonly spec: FeatureSpec;
  readonly descriptors: readonly FeatureDescriptor[];
  private readonly options: SketchOptions;
  private sketches: FeatureSketch[] = [];
  /** Index of each spec entry's first feature in `sketches`. */
  private readonly inputOffsets: number[];
  private readonly outputOffsets: number[];
  /** Index labels ("0", "1", ...) for classifiers without class names, grown on demand. */
  private indexLabels: string[] = [];

  private constructor(spec: FeatureSpec, descriptors: FeatureDescriptor[], options: SketchOptions) {
    this.spec = spec;
    this.descriptors = descriptors;
    this.options = options;
    // `featureDescriptors` lists each spec entry's features contiguously, inputs then outputs.
    let next = 0;
    this.inputOffsets = spec.inputs.map((e) => {
      const first = next;
      next += e.kind === 'tabular' ? e.columns.length : 2 * e.channels.length;
      return first;
    });
    this.outputOffsets = spec.outputs.map((e) => {
      const first = next;
      next += e.kind === 'classifier' ? 2 : e.names.length;
      return first;
    });
    this.reset();
  }

  /** A profiler for a spec; fails if the spec names a feature twice. */
  static create(spec: FeatureSpec, options: SketchOptions = {}): Result<Profiler> {
    const descriptors = checkFeatureSpec(spec);
    if (!descriptors.ok) return descriptors;
    return ok(new Profiler(spec, descriptors.value, options));
  }

  /** Start a new, empty window. */
  reset(): void {
    this.sketches = this.descriptors.map((d) => emptyFeatureSketch(d.kind, this.options));
    // A classifier's class feature counts every class exactly when the spec names the classes.
    this.spec.outputs.forEach((e, i) => {
      if (e.kind === 'classifier' && e.classes !== undefined) {
        this.sketches[this.outputOffsets[i]!] = emptyFeatureSketch('categorical', {
          maxItems: categoricalCapacity(e.classes.length, this.options),
        });
      }
    });
  }

  /** A copy of the current window's profile; the profiler keeps counting. */
  snapshot(window?: ProfileWindow): Profile {
    const copy = mergeProfiles([this.current()], this.options.random);
    // One profile built from our own descriptors cannot conflict with itself.
    if (!copy.ok) throw EdgefleetError.fromFailure(copy);
    return new Profile(copy.value.entries(), window);
  }

  /** The current window's profile (without copying), and a new empty window. */
  rollover(window?: ProfileWindow): Profile {
    const profile = new Profile(this.current().entries(), window);
    this.reset();
    return profile;
  }

  private current(): Profile {
    return new Profile(this.descriptors.map((d, i) => [d.name, this.sketches[i]!] as const));
  }

  /** Update input features from the model's input tensors (all the spec names must be present). */
  observeInputs(inputs: TensorMap): Result<void> {
    return this.observe(inputs, undefined);
  }

  /** Update output features from the model's output tensors. */
  observeOutputs(outputs: TensorMap): Result<void> {
    return this.observe(undefined, outputs);
  }

  /**
   * Update input features from `inputs` and output features from `outputs` (either may be omitted).
   * Validates every tensor first; on failure nothing is updated.
   */
  observe(inputs: TensorMap | undefined, outputs: TensorMap | undefined): Result<void> {
    const pending: Apply[] = [];
    if (inputs !== undefined) {
      for (let i = 0; i < this.spec.inputs.length; i++) {
        const r = this.planInput(this.spec.inputs[i]!, this.inputOffsets[i]!, inputs);
        if (!r.ok) return r;
        pending.push(r.value);
      }
    }
    if (outputs !== undefined) {
      for (let i = 0; i < this.spec.outputs.length; i++) {
        const r = this.planOutput(this.spec.outputs[i]!, this.outputOffsets[i]!, outputs);
        if (!r.ok) return r;
        pending.push(r.value);
      }
    }
    for (const apply of pending) apply();
    return ok(undefined);
  }

  private numeric(index: number): NumericFeatureSketch {
    return this.sketches[index] as NumericFeatureSketch;
  }

  private planInput(spec: InputFeatureSpec, offset: number, inputs: TensorMap): Result<Apply> {
    switch (spec.kind) {
      case 'tabular':
        return this.planTabular(spec, offset, inputs);
      case 'image':
        return this.planImage(spec, offset, inputs);
    }
  }

  private planOutput(spec: OutputFeatureSpec, offset: number, outputs: TensorMap): Result<Apply> {
    switch (spec.kind) {
      case 'classifier':
        return this.planClassifier(spec, offset, outputs);
      case 'regressor':
        return this.planRegressor(spec, offset, outputs);
    }
  }

  /** `[N, F]`: one numeric feature per column. */
  private planTabular(spec: TabularInputSpec, offset: number, inputs: TensorMap): Result<Apply> {
    const t = checkTensor(inputs[spec.input], 'input', spec.input, [2]);
    if (!t.ok) return t;
    const [rows, cols] = t.value.dims as [number, number];
    if (cols !== spec.columns.length) {
      return mismatch('input', spec.input, 'columns', cols, spec.columns.length);
    }
    const data = t.value.data;
    return ok(() => {
      for (let c = 0; c < cols; c++) {
        const s = this.numeric(offset + c);
        for (let r = 0; r < rows; r++) put(s, data[r * cols + c]!);
      }
    });
  }

  /**
   * NCHW or NHWC: per sample and channel, the mean and the population standard deviation of its
   * pixels. Both layouts sum each channel's pixels in the same (row-major spatial) order, two-pass,
   * in double precision, so they give bit-identical statistics for the same image.
   */
  private planImage(spec: ImageInputSpec, offset: number, inputs: TensorMap): Result<Apply> {
    const t = checkTensor(inputs[spec.input], 'input', spec.input, [4]);
    if (!t.ok) return t;
    const d = t.value.dims;
    const nchw = spec.layout === 'NCHW';
    const n = d[0]!;
    const channels = nchw ? d[1]! : d[3]!;
    const pixels = nchw ? d[2]! * d[3]! : d[1]! * d[2]!;
    if (channels !== spec.channels.length) {
      return mismatch('input', spec.input, 'channels', channels, spec.channels.length);
    }
    if (pixels === 0 && n > 0) {
      return fail('EF_MALFORMED', `The input "${spec.input}" has images with no pixels.`);
    }
    const data = t.value.data;
    return ok(() => {
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < channels; c++) {
          // NCHW: the channel's plane is contiguous. NHWC: its pixels are `channels` apart.
          const base = nchw ? (i * channels + c) * pixels : i * pixels * channels + c;
          const stride = nchw ? 1 : channels;
          const end = base + pixels * stride;
          let sum = 0;
          for (let p = base; p < end; p += stride) sum += data[p]!;
          const mean = sum / pixels;
          let sq = 0;
          for (let p = base; p < end; p += stride) {
            const dev = data[p]! - mean;
            sq += dev * dev;
          }
          put(this.numeric(offset + c), mean);
          put(this.numeric(offset + channels + c), Math.sqrt(sq / pixels));
        }
      }
    });
  }

  private labels(count: number): readonly string[] {
    while (this.indexLabels.length < count) this.indexLabels.push(String(this.indexLabels.length));
    return this.indexLabels;
  }

  /**
   * `[N, C]`: the predicted class (first maximum) and its score. With `scores: 'logits'` the score
   * is the softmax probability of the top class, 1 / sum_j exp(x_j - max), which cannot overflow.
   * A row with a NaN score counts as a NaN top score and no class.
   */
  private planClassifier(
    spec: ClassifierOutputSpec,
    offset: number,
    outputs: TensorMap,
  ): Result<Apply> {
    const t = checkTensor(outputs[spec.output], 'output', spec.output, [2]);
    if (!t.ok) return t;
    const [rows, classes] = t.value.dims as [number, number];
    if (spec.classes !== undefined && classes !== spec.classes.length) {
      return mismatch('output', spec.output, 'classes', classes, spec.classes.length);
    }
    if (classes === 0 && rows > 0) {
      return fail('EF_MALFORMED', `The output "${spec.output}" has no classes.`);
    }
    const labels = spec.classes ?? this.labels(classes);
    const logits = spec.scores === 'logits';
    const data = t.value.data;
    return ok(() => {
      let classSketch = this.sketches[offset] as CategoricalFeatureSketch;
      // Unnamed classes: size the window's (still empty) summary from the tensor's class count.
      const capacity = categoricalCapacity(classes, this.options);
      if (classSketch.items.n === 0 && classSketch.items.maxItems < capacity) {
        classSketch = emptyFeatureSketch('categorical', {
          maxItems: capacity,
        }) as CategoricalFeatureSketch;
        this.sketches[offset] = classSketch;
      }
      const scoreSketch = this.numeric(offset + 1);
      for (let r = 0; r < rows; r++) {
        const base = r * classes;
        let best = 0;
        let top = data[base]!;
        let nan = Number.isNaN(top);
        for (let c = 1; c < classes; c++) {
          const x = data[base + c]!;
          if (x > top) {
            top = x;
            best = c;
          } else if (Number.isNaN(x)) {
            nan = true;
          }
        }
        if (nan) {
          put(scoreSketch, NaN);
          continue;
        }
        classSketch.items.update(labels[best]!);
        put(scoreSketch, logits ? softmaxTop(data, base, classes, top) : top);
      }
    });
  }

  /** `[N]` (one name) or `[N, K]`: one numeric feature per output column. */
  private planRegressor(
    spec: RegressorOutputSpec,
    offset: number,
    outputs: TensorMap,
  ): Result<Apply> {
    const t = checkTensor(outputs[spec.output], 'output', spec.output, [1, 2]);
    if (!t.ok) return t;
    const d = t.value.dims;
    const rows = d[0]!;
    const cols = d.length === 2 ? d[1]! : 1;
    if (cols !== spec.names.length) {
      return mismatch('output', spec.output, 'columns', cols, spec.names.length);
    }
    const data = t.value.data;
    return ok(() => {
      for (let c = 0; c < cols; c++) {
        const s = this.numeric(offset + c);
        for (let r = 0; r < rows; r++) put(s, data[r * cols + c]!);
      }
    });
  }
}

/** Softmax probability of the top logit `top` (the row's maximum, not NaN). */
function softmaxTop(data: ArrayLike<number>, base: number, classes: number, top: number): number {
  if (top === Infinity) {
    // exp(inf - inf) is undefined; in the limit the +inf logits share all the mass.
    let k = 0;
    for (let c = 0; c < classes; c++) if (data[base + c] === Infinity) k++;
    return 1 / k;
  }
  if (top === -Infinity) return 1 / classes;
  let sum = 0;
  for (let c = 0; c < classes; c++) sum += Math.exp(data[base + c]! - top);
  return 1 / sum;
}
