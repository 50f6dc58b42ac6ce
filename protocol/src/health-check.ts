/**
 * The health-check sample a release carries: inputs and the outputs the control plane computed by
 * running the model itself at release time. A device runs the same inputs on the staged model and
 * compares, element by element, within the release's tolerances (`|a - e| <= atol + rtol * |e|`),
 * before it switches to the new model.
 */
import { z } from 'zod';
import { fail, ok, type Result } from './errors.js';

const TENSOR_TYPES = ['float32', 'float64', 'int32', 'int64', 'int8', 'uint8', 'bool'] as const;

export const SampleTensorSchema = z.strictObject({
  type: z.enum(TENSOR_TYPES),
  dims: z
    .array(
      z
        .int()
        .min(0)
        .max(1 << 24),
    )
    .max(8),
  /** Row-major values; booleans as 0/1. Non-finite floats are written as null. */
  data: z.array(z.number().nullable()).max(1 << 20),
});

export const HealthCheckSampleSchema = z.strictObject({
  v: z.literal(1),
  inputs: z.record(z.string().min(1).max(256), SampleTensorSchema),
  expected: z.record(z.string().min(1).max(256), SampleTensorSchema),
});

export type SampleTensor = z.infer<typeof SampleTensorSchema>;
export type HealthCheckSample = z.infer<typeof HealthCheckSampleSchema>;

/** What the device compares: an output's values, however the runtime holds them. */
export interface ActualTensor {
  readonly dims: readonly number[];
  readonly data: ArrayLike<number | bigint | boolean>;
}

/**
 * Compare actual outputs with the expected ones. Fails (EF_HEALTH_CHECK_FAILED) on a missing output,
 * a shape difference, a NaN where a number was expected, or a value outside the tolerance; the message
 * names the output and the first differing element.
 */
export function compareHealthCheck(
  expected: HealthCheckSample['expected'],
  actual: Readonly<Record<string, ActualTensor>>,
  tolerance: { atol: number; rtol: number },
): Result<{ maxAbsError: number }> {
  let maxAbsError = 0;
  for (const [name, e] of Object.entries(expected)) {
    const a = Object.hasOwn(actual, name) ? actual[name] : undefined;
    if (a === undefined)
      return fail('EF_HEALTH_CHECK_FAILED', `the model produced no output "${name}"`);
    if (a.dims.length !== e.dims.length || a.dims.some((d, i) => d !== e.dims[i])) {
      return fail(
        'EF_HEALTH_CHECK_FAILED',
        `output "${name}" has shape [${a.dims.join(',')}], expected [${e.dims.join(',')}]`,
      );
    }
    if (a.data.length !== e.data.length) {
      return fail(
        'EF_HEALTH_CHECK_FAILED',
        `output "${name}" has ${a.data.length} values, expected ${e.data.length}`,
      );
    }
    for (let i = 0; i < e.data.length; i++) {
      const want = e.data[i];
      const got = Number(a.data[i]);
      if (want === null || want === undefined) {
        if (Number.isFinite(got)) {
          return fail(
            'EF_HEALTH_CHECK_FAILED',
            `output "${name}"[${i}] is ${got}, expected a non-finite value`,
          );
        }
        continue;
      }
      const err = Math.abs(got - want);
      if (!(err <= tolerance.atol + tolerance.rtol * Math.abs(want))) {
        return fail(
          'EF_HEALTH_CHECK_FAILED',
          `output "${name}"[${i}] is ${got}, expected ${want} (atol ${tolerance.atol}, rtol ${tolerance.rtol})`,
          { output: name, index: i, got, expected: want },
        );
      }
      if (err > maxAbsError) maxAbsError = err;
    }
  }
  return ok({ maxAbsError });
}
