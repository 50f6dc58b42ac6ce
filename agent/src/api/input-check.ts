/**
 * Check request tensors against the inputs the model declares, before running it: the same names,
 * types and ranks, fixed dimensions equal, and a symbolic dimension (e.g. `batch_size`) the same
 * size wherever it appears. The message names what was expected so a client can fix its request
 * without reading the model.
 */
import type { TensorData, ValueInfo } from '../runtime/model-runtime.js';

export type InputCheck = { readonly ok: true } | { readonly ok: false; readonly message: string };

/** `input: float32 [batch_size, 4]` for each declared input. */
export function describeInputs(inputs: readonly ValueInfo[]): string {
  return inputs.map((i) => `${i.name}: ${i.type} [${i.dims.join(', ')}]`).join('; ');
}

export function checkInputs(
  declared: readonly ValueInfo[],
  feeds: Readonly<Record<string, TensorData>>,
): InputCheck {
  const problem = findProblem(declared, feeds);
  if (problem === undefined) return { ok: true };
  return { ok: false, message: `${problem}; the model expects ${describeInputs(declared)}` };
}

function findProblem(
  declared: readonly ValueInfo[],
  feeds: Readonly<Record<string, TensorData>>,
): string | undefined {
  // Checked on every inference: nothing is allocated until something is wrong.
  let fed = 0;
  for (const name in feeds) if (Object.hasOwn(feeds, name)) fed++;
  let present = 0;
  for (const input of declared) if (Object.hasOwn(feeds, input.name)) present++;
  if (present !== declared.length || fed !== declared.length) return nameProblem(declared, feeds);
  let symbols: Map<string, { size: number; input: string }> | undefined;
  for (const input of declared) {
    const tensor = feeds[input.name]!;
    if (input.type === 'string' || input.type === 'unsupported') {
      return `input ${input.name} is a ${input.type} value, which this API cannot serve`;
    }
    if (tensor.type !== input.type)
      return `input ${input.name} is ${tensor.type}, not ${input.type}`;
    // An empty declared shape is onnxruntime's "unknown shape" (or a scalar): onnxruntime checks it.
    if (input.dims.length === 0) continue;
    const shape = () => `[${tensor.dims.join(', ')}]`;
    if (tensor.dims.length !== input.dims.length) {
      return `input ${input.name} has shape ${shape()}, rank ${tensor.dims.length} instead of ${input.dims.length}`;
    }
    for (let axis = 0; axis < input.dims.length; axis++) {
      const want = input.dims[axis]!;
      const got = tensor.dims[axis]!;
      if (typeof want === 'number') {
        if (got !== want) {
          return `input ${input.name} has shape ${shape()}: dimension ${axis} must be ${want}`;
        }
        continue;
      }
      if (want === '?') continue; // an unnamed dynamic dimension
      symbols ??= new Map();
      const seen = symbols.get(want);
      if (seen === undefined) symbols.set(want, { size: got, input: input.name });
      else if (seen.size !== got) {
        return `${want} is ${seen.size} in input ${seen.input} but ${got} in input ${input.name}`;
      }
    }
  }
  return undefined;
}

/** Missing and unknown input names, for the message. */
function nameProblem(
  declared: readonly ValueInfo[],
  feeds: Readonly<Record<string, TensorData>>,
): string {
  const names = new Set(declared.map((i) => i.name));
  const missing = declared.filter((i) => !Object.hasOwn(feeds, i.name)).map((i) => i.name);
  const unknown = Object.keys(feeds).filter((name) => !names.has(name));
  return [
    missing.length > 0 ? `missing input ${missing.join(', ')}` : '',
    unknown.length > 0 ? `unknown input ${unknown.join(', ')}` : '',
  ]
    .filter((s) => s !== '')
    .join('; ');
}
