/**
 * Cohorts: the groups of devices whose telemetry is merged and monitored together (ARCHITECTURE
 * §5.8). A cohort key is computed from what the control plane knows about a device (its labels, set
 * by operators and enrollment tokens, never by the device itself, and its hardware class), so a
 * device cannot move itself into another cohort.
 */
import type { Device } from '../db/schema.js';

/** The cohort key of a device. '' is the whole fleet. */
export type CohortOf = (device: Pick<Device, 'labels' | 'hardwareClass'>) => string;

export interface CohortFromLabelsOptions {
  /** Label keys, in key order (default `['site']`). */
  readonly labels?: readonly string[];
  /** Add `hardware=<hardwareClass>` after the labels (default true). */
  readonly hardwareClass?: boolean;
}

/**
 * Cohort keys like `site=berlin,hardware=rpi4`: `key=value` for each configured label the device
 * has (a missing label is left out), then the hardware class. Values are used as they are: label
 * values cannot contain `,` or `=` ambiguities that matter here, since keys come from configuration.
 */
export function cohortFromLabels(options: CohortFromLabelsOptions = {}): CohortOf {
  const keys = options.labels ?? ['site'];
  const withHardware = options.hardwareClass ?? true;
  return function cohortOf(device) {
    const parts: string[] = [];
    for (const key of keys) {
      const value = device.labels[key];
      if (value !== undefined && value !== '') parts.push(`${key}=${value}`);
    }
    if (withHardware) parts.push(`hardware=${device.hardwareClass}`);
    return parts.join(',');
  };
}

/** The default cohorts: site label and hardware class. */
export const defaultCohortOf: CohortOf = cohortFromLabels();

/** Everything in one cohort (''). */
export const wholeFleet: CohortOf = () => '';
