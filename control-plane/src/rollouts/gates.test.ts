import { describe, expect, it } from 'vitest';
import { countDeployments, evaluateAbortCriteria, evaluateWaveGates } from './gates.js';
import { AbortCriterionSchema, GatesSchema } from './spec.js';

describe('gates', () => {
  it('counts outcomes, with open deployments apart', () => {
    expect(
      countDeployments(['pending', 'soaking', 'succeeded', 'failed', 'rolled_back', 'timed_out']),
    ).toEqual({
      members: 6,
      open: 2,
      succeeded: 1,
      failed: 1,
      rolledBack: 1,
      timedOut: 1,
      decided: 4,
    });
  });

  it('passes a wave on its success ratio (timed out counts as not succeeded)', () => {
    const gates = GatesSchema.parse({ minSuccessRatio: 0.75 });
    const three = countDeployments(['succeeded', 'succeeded', 'succeeded', 'timed_out']);
    expect(evaluateWaveGates(gates, three).passed).toBe(true);
    const two = countDeployments(['succeeded', 'succeeded', 'failed', 'timed_out']);
    expect(evaluateWaveGates(gates, two)).toEqual({
      passed: false,
      checks: [{ metric: 'success_ratio', value: 0.5, threshold: 0.75, passed: false }],
    });
    expect(evaluateWaveGates(gates, countDeployments([])).passed).toBe(true);
  });

  it('skips the latency ratio without a baseline', () => {
    const gates = GatesSchema.parse({ maxP95LatencyRatio: 1.1 });
    const v = evaluateWaveGates(gates, countDeployments(['succeeded']), {
      devices: 1,
      inferences: 10,
      errorRate: 0,
      p95LatencyMs: 50,
    });
    expect(v.checks[1]).toEqual({
      metric: 'p95_latency_ratio',
      value: null,
      threshold: 1.1,
      passed: true,
      skipped: 'no_baseline',
    });
  });

  it('trips abort criteria above the threshold with enough devices behind them', () => {
    const criteria = [
      AbortCriterionSchema.parse({ metric: 'timed_out_ratio', threshold: 0.2, minDevices: 5 }),
      AbortCriterionSchema.parse({ metric: 'error_rate', threshold: 0.05, minDevices: 2 }),
      AbortCriterionSchema.parse({ metric: 'output_drift', threshold: 0.3, minDevices: 1 }),
    ];
    const counts = countDeployments([
      'succeeded',
      'succeeded',
      'succeeded',
      'timed_out',
      'timed_out',
    ]);
    const health = { devices: 3, inferences: 500, errorRate: 0.01, p95LatencyMs: 10 };
    expect(evaluateAbortCriteria(criteria, counts, health)).toEqual({
      passed: false,
      checks: [
        { metric: 'timed_out_ratio', value: 0.4, threshold: 0.2, passed: false },
        { metric: 'error_rate', value: 0.01, threshold: 0.05, passed: true },
        {
          metric: 'output_drift',
          value: null,
          threshold: 0.3,
          passed: true,
          skipped: 'no_telemetry',
        },
      ],
    });
    const few = countDeployments(['timed_out', 'timed_out']);
    expect(evaluateAbortCriteria(criteria.slice(0, 1), few).checks[0]!.skipped).toBe(
      'too_few_devices',
    );
  });
});
