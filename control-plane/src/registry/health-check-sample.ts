/**
 * The health-check sample of a release: an input (the first reference rows for tabular models, else a
 * seeded synthetic tensor with batch 1) and the output this control plane computed by running the
 * model. Devices run the same input on the staged model before switching to it.
 */
import {
  createRandom,
  nextNormal,
  type FeatureSpec,
  type HealthCheckSample,
  type SampleTensor,
} from '@edgefleet/protocol';
import { EdgefleetError } from '@edgefleet/protocol';
import {
  runModelOnce,
  type FeedValue,
  type InspectedValue,
  type ModelInspection,
} from './inspect-model.js';

const SAMPLE_TYPES = new Set<string>([
  'float32',
  'float64',
  'int32',
  'int64',
  'int8',
  'uint8',
  'bool',
]);
/** Largest sample tensor (elements). */
const MAX_ELEMENTS = 1 << 20;

function concreteDims(v: InspectedValue, batch: number): number[] {
  if (v.shape === null) {
    throw new EdgefleetError(
      'EF_INVALID_MODEL',
      `input ${v.name} has an unknown rank; cannot build a health-check sample`,
    );
  }
  return v.shape.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? batch : 1));
}

function toJsonNumbers(data: readonly (number | boolean | string)[]): (number | null)[] {
  return data.map((x) => {
    const n = typeof x === 'boolean' ? (x ? 1 : 0) : Number(x);
    return Number.isFinite(n) ? n : null;
  });
}

/**
 * Build the sample for a model file. `rows` (reference dataset rows) feed tabular inputs when given.
 */
export async function buildHealthCheckSample(
  modelPath: string,
  inspection: ModelInspection,
  spec: FeatureSpec,
  rows: readonly Record<string, unknown>[] = [],
  seed = 20261126,
): Promise<HealthCheckSample> {
  const random = createRandom(seed);
  const feeds: Record<string, FeedValue> = {};
  const inputs: Record<string, SampleTensor> = {};
  for (const v of inspection.inputs) {
    if (!SAMPLE_TYPES.has(v.type)) {
      throw new EdgefleetError(
        'EF_INVALID_MODEL',
        `input ${v.name} has type ${v.type}; health-check samples support ${[...SAMPLE_TYPES].join(', ')}`,
      );
    }
    const tabular = spec.inputs.find((s) => s.kind === 'tabular' && s.input === v.name);
    const sampleRows = tabular?.kind === 'tabular' ? rows.slice(0, 4) : [];
    const dims = concreteDims(v, Math.max(1, sampleRows.length));
    const count = dims.reduce((a, b) => a * b, 1);
    if (count > MAX_ELEMENTS) {
      throw new EdgefleetError(
        'EF_INVALID_MODEL',
        `input ${v.name} needs ${count} values; the sample cap is ${MAX_ELEMENTS}`,
      );
    }
    let data: number[];
    if (tabular?.kind === 'tabular' && sampleRows.length > 0) {
      data = sampleRows.flatMap((r) =>
        tabular.columns.map((c) => {
          const x = r[`${v.name}.${c}`] ?? r[c];
          return typeof x === 'number' && Number.isFinite(x) ? x : 0;
        }),
      );
    } else if (v.type.startsWith('float')) {
      data = Array.from({ length: count }, () => Math.fround(nextNormal(random)));
    } else {
      data = new Array<number>(count).fill(0);
    }
    const type = v.type as SampleTensor['type'];
    feeds[v.name] = {
      dims,
      data:
        type === 'int64'
          ? data.map((x) => BigInt(Math.trunc(x)))
          : type === 'bool'
            ? data.map((x) => x !== 0)
            : data,
    };
    inputs[v.name] = { type, dims, data };
  }
  const outputs = await runModelOnce(modelPath, feeds);
  const expected: Record<string, SampleTensor> = {};
  for (const [name, t] of Object.entries(outputs)) {
    if (!SAMPLE_TYPES.has(t.type)) continue;
    expected[name] = {
      type: t.type as SampleTensor['type'],
      dims: t.dims,
      data: toJsonNumbers(t.data),
    };
  }
  return { v: 1, inputs, expected };
}
