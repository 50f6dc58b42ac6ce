/**
 * Rollout gates read model health from telemetry: the wave's devices on the new release against the
 * baseline release (devices still on the previous model) over the same window. Output drift is the
 * largest drift distance over the release's output features (predicted class, top score, values).
 */
import { driftReport } from '@edgefleet/protocol';
import type { Database } from '../db/database.js';
import type { HealthSource } from '../rollouts/gates.js';
import { ReleaseOutputs } from '../telemetry/release-outputs.js';
import { healthOf } from '../telemetry/rollups.js';

export function createHealthSource(db: Database, outputs = new ReleaseOutputs(db)): HealthSource {
  return {
    async waveHealth(q) {
      const features = await outputs.of(q.releaseId);
      const wave = await healthOf(db, {
        releaseId: q.releaseId,
        deviceIds: q.deviceIds,
        from: q.window.from,
        to: q.window.to,
        features,
      });
      if (wave.requests === 0) return undefined;
      let outputDrift: number | undefined;
      if (q.baselineReleaseId !== undefined && wave.profile) {
        const base = await healthOf(db, {
          releaseId: q.baselineReleaseId,
          from: q.window.from,
          to: q.window.to,
          features,
        });
        if (base.profile) {
          const values = driftReport(base.profile, wave.profile)
            .features.filter((r) => r.status !== 'insufficient_data')
            .map((r) => r.value);
          if (values.length > 0) outputDrift = Math.max(...values);
        }
      }
      return {
        devices: wave.devices ?? 0,
        inferences: wave.requests,
        errorRate: wave.errorRate ?? 0,
        p95LatencyMs: wave.p95LatencyMs ?? 0,
        ...(outputDrift === undefined ? {} : { outputDrift }),
      };
    },
    async baselineHealth(q) {
      const base = await healthOf(db, {
        releaseId: q.releaseId,
        from: q.window.from,
        to: q.window.to,
      });
      if (base.requests === 0) return undefined;
      return {
        devices: base.devices ?? 0,
        inferences: base.requests,
        errorRate: base.errorRate ?? 0,
        p95LatencyMs: base.p95LatencyMs ?? 0,
      };
    },
  };
}
