import { describe, expect, it } from 'vitest';
import { compareHealthCheck, HealthCheckSampleSchema } from './health-check.js';

const expected = { logits: { type: 'float32' as const, dims: [1, 3], data: [1, -2, 0.5] } };
const tol = { atol: 1e-4, rtol: 1e-3 };

describe('health-check comparison', () => {
  it('passes outputs within tolerance and reports the largest error', () => {
    const r = compareHealthCheck(
      expected,
      { logits: { dims: [1, 3], data: new Float32Array([1.00005, -2.001, 0.5]) } },
      tol,
    );
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.maxAbsError).toBeCloseTo(0.001, 4);
  });

  it('fails with EF_HEALTH_CHECK_FAILED on a value out of tolerance, naming the element', () => {
    const r = compareHealthCheck(expected, { logits: { dims: [1, 3], data: [1, -2, 0.6] } }, tol);
    expect(r).toMatchObject({
      ok: false,
      code: 'EF_HEALTH_CHECK_FAILED',
      details: { output: 'logits', index: 2 },
    });
  });

  it('fails on NaN, a missing output and a shape difference', () => {
    expect(
      compareHealthCheck(expected, { logits: { dims: [1, 3], data: [NaN, -2, 0.5] } }, tol).ok,
    ).toBe(false);
    expect(compareHealthCheck(expected, {}, tol).ok).toBe(false);
    expect(
      compareHealthCheck(expected, { logits: { dims: [3, 1], data: [1, -2, 0.5] } }, tol).ok,
    ).toBe(false);
  });

  it('validates the sample file', () => {
    expect(HealthCheckSampleSchema.safeParse({ v: 1, inputs: {}, expected }).success).toBe(true);
    expect(
      HealthCheckSampleSchema.safeParse({
        v: 1,
        inputs: {},
        expected: { x: { type: 'str', dims: [], data: [] } },
      }).success,
    ).toBe(false);
  });
});
