/** The inference metrics of the agent's `/metrics` (Prometheus names, registered once per registry). */
import type { Counter, Histogram, MetricsRegistry } from '@edgefleet/protocol';

export interface InferenceMetrics {
  /** Model runs started (valid requests that reached the model). */
  readonly inferences: Counter;
  /** Failed requests by error code (bad input, no model, model failure, too large). */
  readonly errors: Counter;
  /** Run time of successful runs, in seconds. */
  readonly latency: Histogram;
}

/** Latency buckets from 0.5 ms to 5 s: edge models range from tiny tabular ones to detectors. */
export const INFERENCE_LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
] as const;

export function createInferenceMetrics(registry: MetricsRegistry): InferenceMetrics {
  return {
    inferences: registry.counter(
      'edgefleet_agent_inferences_total',
      'Model runs started by the agent.',
    ),
    errors: registry.counter(
      'edgefleet_agent_inference_errors_total',
      'Inference requests that failed, by error code.',
    ),
    latency: registry.histogram(
      'edgefleet_agent_inference_latency_seconds',
      'Run time of successful model runs.',
      INFERENCE_LATENCY_BUCKETS,
    ),
  };
}
