/**
 * A feature spec derived from what onnxruntime saw, for pushes that do not give one: `[N, F]` float
 * inputs become tabular features (named from the reference dataset's header when it has F matching
 * columns), image-shaped inputs become per-channel statistics, `[N, C]` outputs become classifiers and
 * `[N]` / `[N, 1]` outputs regressors. An operator can always send an explicit spec instead.
 */
import type { FeatureSpec, InputFeatureSpec, OutputFeatureSpec } from '@edgefleet/protocol';
import type { InspectedValue, ModelInspection } from './inspect-model.js';

const FLOATS = new Set(['float32', 'float64', 'float16']);
const CHANNEL_NAMES: Record<number, string[]> = {
  1: ['gray'],
  3: ['r', 'g', 'b'],
  4: ['r', 'g', 'b', 'a'],
};

const known = (d: unknown): d is number => typeof d === 'number' && d > 0;

function channels(n: number): string[] {
  return CHANNEL_NAMES[n] ?? Array.from({ length: n }, (_, i) => `c${i}`);
}

function inputSpec(v: InspectedValue, header: readonly string[]): InputFeatureSpec | undefined {
  if (!v.supported || !FLOATS.has(v.type) || v.shape === null) return undefined;
  const s = v.shape;
  if (s.length === 2 && known(s[1]) && s[1] <= 4096) {
    const f = s[1];
    const prefixed = header
      .filter((h) => h.startsWith(`${v.name}.`))
      .map((h) => h.slice(v.name.length + 1));
    const fromHeader =
      prefixed.length === f ? prefixed : header.length === f ? [...header] : undefined;
    const columns = fromHeader?.every((c) => /^\S+$/.test(c) && c.length <= 128)
      ? fromHeader
      : Array.from({ length: f }, (_, i) => `f${i}`);
    return { kind: 'tabular', input: v.name, columns };
  }
  if (s.length === 4) {
    if (known(s[1]) && s[1] <= 4 && !(known(s[3]) && s[3] <= 4)) {
      return { kind: 'image', input: v.name, layout: 'NCHW', channels: channels(s[1]) };
    }
    if (known(s[3]) && s[3] <= 4) {
      return { kind: 'image', input: v.name, layout: 'NHWC', channels: channels(s[3]) };
    }
  }
  return undefined;
}

function outputSpec(v: InspectedValue): OutputFeatureSpec | undefined {
  if (!v.supported || !FLOATS.has(v.type) || v.shape === null) return undefined;
  const s = v.shape;
  if (s.length === 2 && known(s[1]) && s[1] > 1) {
    return {
      kind: 'classifier',
      output: v.name,
      scores: /prob|softmax/i.test(v.name) ? 'probabilities' : 'logits',
    };
  }
  if (s.length === 1 || (s.length === 2 && s[1] === 1)) {
    return { kind: 'regressor', output: v.name, names: ['value'] };
  }
  return undefined;
}

/** Derive a feature spec; `header` is the reference dataset's column names, if any. */
export function defaultFeatureSpec(
  inspection: ModelInspection,
  header: readonly string[] = [],
): FeatureSpec {
  return {
    inputs: inspection.inputs.flatMap((v) => inputSpec(v, header) ?? []),
    outputs: inspection.outputs.flatMap((v) => outputSpec(v) ?? []),
  };
}
