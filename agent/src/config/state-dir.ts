/**
 * The layout of the agent's state directory (mode 0700; files holding trust material 0600):
 *
 *     <stateDir>/root.json            the root pinned at enrollment (canonical JSON envelope)
 *     <stateDir>/trust-state.json     protocol TrustState: trusted root, counters, time floor
 *     <stateDir>/deployment.json      the deployment journal (reconcile/deployment-journal.ts)
 *     <stateDir>/telemetry-seq.json   the telemetry sequence lease
 *     <stateDir>/models/              the A/B slots (store/slots.ts)
 *     <stateDir>/spool/               offline telemetry (spool/telemetry-spool.ts)
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface StatePaths {
  readonly dir: string;
  readonly pinnedRoot: string;
  readonly trustState: string;
  readonly journal: string;
  readonly telemetrySeq: string;
  readonly models: string;
  readonly spool: string;
}

export function statePaths(stateDir: string): StatePaths {
  return {
    dir: stateDir,
    pinnedRoot: join(stateDir, 'root.json'),
    trustState: join(stateDir, 'trust-state.json'),
    journal: join(stateDir, 'deployment.json'),
    telemetrySeq: join(stateDir, 'telemetry-seq.json'),
    models: join(stateDir, 'models'),
    spool: join(stateDir, 'spool'),
  };
}

/** Create the state directory and its sub-directories (mode 0700) if they do not exist. */
export async function ensureStateDirs(paths: StatePaths): Promise<void> {
  for (const dir of [paths.dir, paths.models, paths.spool]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }
}
