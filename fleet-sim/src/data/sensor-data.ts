/**
 * Synthetic sensor data for simulated fleets: a reference distribution (what the model was trained on)
 * and drifted variants per cohort, from a seeded generator so every run is reproducible.
 */
import { createRandom, nextNormal, type RandomSource } from '@edgefleet/protocol';

/** The demo model's input features, in column order. */
export const SENSOR_FEATURES = ['temperature', 'vibration', 'current', 'pressure'] as const;

export type DataMode = 'reference' | 'drifted';

export interface SensorDistribution {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export const REFERENCE: SensorDistribution = { mean: [60, 3, 12, 101], std: [5, 0.8, 1.5, 2] };

/** Drift: vibration up by 1.5 standard deviations and temperature up by one (a worn bearing, a hot site). */
export const DRIFTED: SensorDistribution = {
  mean: [65, 4.2, 12, 101],
  std: [5, 0.9, 1.5, 2],
};

export class SensorGenerator {
  private readonly random: RandomSource;
  constructor(seed: number) {
    this.random = createRandom(seed);
  }

  /** One batch as a row-major Float32Array [rows, 4]. */
  batch(rows: number, mode: DataMode): Float32Array {
    const d = mode === 'reference' ? REFERENCE : DRIFTED;
    const out = new Float32Array(rows * SENSOR_FEATURES.length);
    for (let r = 0; r < rows; r++) {
      for (let f = 0; f < SENSOR_FEATURES.length; f++) {
        out[r * SENSOR_FEATURES.length + f] = d.mean[f]! + d.std[f]! * nextNormal(this.random);
      }
    }
    return out;
  }

  /** A reference dataset as CSV with a header row. */
  csv(rows: number, mode: DataMode = 'reference'): string {
    const data = this.batch(rows, mode);
    const lines = [SENSOR_FEATURES.join(',')];
    for (let r = 0; r < rows; r++) {
      lines.push(Array.from(data.subarray(r * 4, r * 4 + 4), (x) => x.toFixed(4)).join(','));
    }
    return lines.join('\n') + '\n';
  }
}

/** Weights of the demo classifier (normal / warning / fault) over standardised-ish features. */
export const DEMO_WEIGHTS: number[][] = [
  [0.02, 0.05, 0.08],
  [-0.5, 0.3, 0.9],
  [0.01, 0.02, 0.03],
  [0.001, 0.001, 0.001],
];
export const DEMO_BIAS = [2.0, 0.0, -2.5];
