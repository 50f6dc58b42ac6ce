/**
 * The health check before the switch (ARCHITECTURE §5 step 5): run the release's sample inputs on the
 * staged model and compare with the outputs the control plane computed, within the release's
 * tolerances. Any failure (unreadable sample, the model failing, a value out of tolerance) is
 * `EF_HEALTH_CHECK_FAILED`, and the previous model keeps serving.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  compareHealthCheck,
  fail,
  HealthCheckSampleSchema,
  ok,
  type ReleaseDocument,
  type Result,
  type SampleTensor,
} from '@edgefleet/protocol';
import { errorMessage } from '../store/atomic-file.js';
import { TYPED_ARRAYS, type LoadedModel, type TensorData } from '../runtime/model-runtime.js';

export type HealthCheckOutcome =
  { readonly ran: false } | { readonly ran: true; readonly maxAbsError: number };

export async function runHealthCheck(
  loaded: LoadedModel,
  release: ReleaseDocument,
  dir: string,
): Promise<Result<HealthCheckOutcome>> {
  const spec = release.healthCheck;
  if (spec === null) return ok({ ran: false });
  let json: unknown;
  try {
    json = JSON.parse(await readFile(join(dir, spec.sample), 'utf8'));
  } catch (error) {
    return fail(
      'EF_HEALTH_CHECK_FAILED',
      `the health-check sample is unreadable: ${errorMessage(error)}`,
    );
  }
  const sample = HealthCheckSampleSchema.safeParse(json);
  if (!sample.success) {
    return fail('EF_HEALTH_CHECK_FAILED', 'the health-check sample does not match its schema');
  }
  const feeds: Record<string, TensorData> = {};
  for (const [name, tensor] of Object.entries(sample.data.inputs)) {
    const converted = toTensor(tensor);
    if (!converted.ok) return converted;
    feeds[name] = converted.value;
  }
  let outputs: Record<string, TensorData>;
  try {
    outputs = await loaded.run(feeds);
  } catch (error) {
    return fail('EF_HEALTH_CHECK_FAILED', `the model failed on the sample: ${errorMessage(error)}`);
  }
  const compared = compareHealthCheck(sample.data.expected, outputs, {
    atol: spec.atol,
    rtol: spec.rtol,
  });
  if (!compared.ok) return compared;
  return ok({ ran: true, maxAbsError: compared.value.maxAbsError });
}

function toTensor(t: SampleTensor): Result<TensorData> {
  const size = t.dims.reduce((n, d) => n * d, 1);
  if (size !== t.data.length) {
    return fail(
      'EF_HEALTH_CHECK_FAILED',
      `a sample tensor has ${t.data.length} values for dims [${t.dims.join(', ')}]`,
    );
  }
  const dims = [...t.dims];
  switch (t.type) {
    case 'int64':
      return ok({
        type: 'int64',
        dims,
        data: BigInt64Array.from(t.data, (x) => BigInt(Math.trunc(x ?? 0))),
      });
    case 'bool':
      return ok({ type: 'bool', dims, data: Uint8Array.from(t.data, (x) => (x ? 1 : 0)) });
    case 'float32':
    case 'float64':
    case 'int32':
    case 'int8':
    case 'uint8': {
      const data = new TYPED_ARRAYS[t.type](t.data.length);
      t.data.forEach((x, i) => {
        data[i] = x ?? NaN;
      });
      return ok({ type: t.type, dims, data } as TensorData);
    }
  }
}
