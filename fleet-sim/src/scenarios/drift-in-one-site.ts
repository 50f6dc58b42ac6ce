/**
 * drift-in-one-site: one site's sensors shift (vibration and temperature up: a worn bearing, a hot
 * hall) while the others keep serving reference-like data. The control plane's drift monitor opens
 * an event for that site's cohorts only, naming the shifted features, and files a retraining request.
 *
 * Time: the drift monitor works on 1-minute windows keyed by device timestamps, evaluated once
 * closed, M-of-N windows in a row. The fleet runs on an `OffsetClock` that lags the wall clock; this
 * scenario steps it one device-minute per round, so each round closes one real telemetry window made
 * by the agents from real inferences, and the server evaluates it at once (it is already in the past).
 */
import type { SimDevice } from '../fleet.js';
import { SENSOR_FEATURES } from '../data/sensor-data.js';
import { ScenarioReport, type ScenarioContext, type ScenarioResult } from './scenario.js';
import { installEverywhere, pause, pushRelease, uniqueVersion } from './steps.js';

const MINUTE = 60_000;
/** Values per feature per cohort per window the monitor needs (its default minSamples is 200). */
const SAMPLES_PER_WINDOW = 320;

export interface DriftEventView {
  readonly id: number;
  readonly releaseId: string;
  readonly cohort: string;
  readonly featureSet: string;
  readonly status: string;
  readonly feature: string;
  readonly metric: string;
  readonly value: number;
  readonly threshold: number;
  readonly features: readonly { feature?: string; metric?: string; value?: number }[];
}

export interface RetrainingRequestView {
  readonly id: string;
  readonly releaseId: string | null;
  readonly cohort: string;
  readonly driftEventId: number | null;
  readonly reason: string;
  readonly features: readonly { feature?: string }[];
}

export interface DriftOptions {
  readonly site?: string;
  /** Give up after this many device-minutes (default 10). */
  readonly maxMinutes?: number;
  /** Use this release (already on every device) instead of installing a fresh one. */
  readonly releaseId?: string;
}

export function driftInOneSite(options: DriftOptions = {}) {
  return async function driftInOneSiteScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
    const report = new ScenarioReport('drift-in-one-site', ctx.log);
    const clock = ctx.clock;
    const maxMinutes = options.maxMinutes ?? 10;
    if (clock === undefined || clock.lagMs < (maxMinutes + 3) * MINUTE) {
      throw new Error(
        `drift-in-one-site needs a fleet on an OffsetClock lagging the wall clock by at least ${maxMinutes + 3} min`,
      );
    }
    const site = options.site ?? [...new Set(ctx.fleet.devices.map((d) => d.site))].sort()[1]!;
    let releaseId = options.releaseId;
    if (releaseId === undefined) {
      // A fresh release: its drift monitor state starts empty.
      const release = await pushRelease(ctx, uniqueVersion('drift'), 3);
      ctx.log(`installing ${release.version} with its reference profile`);
      await installEverywhere(ctx, release);
      releaseId = release.releaseId;
    }
    const modeFor = (d: SimDevice) => (d.site === site ? 'drifted' : 'reference');
    const batches = batchesPerWindow(ctx.fleet.devices, 16);
    ctx.log(
      `injecting drift at site ${site}: ${batches} batches of 16 rows per device per device-minute`,
    );
    report.details.releaseId = releaseId;
    report.details.site = site;

    const events = async () =>
      (
        await ctx.api.json<{ events: DriftEventView[] }>(
          'GET',
          `/v1/drift?model=${encodeURIComponent(ctx.model)}&release=${encodeURIComponent(releaseId)}`,
        )
      ).events.filter((e) => e.releaseId === releaseId);

    let found: DriftEventView[] = [];
    for (let minute = 1; minute <= maxMinutes && found.length === 0; minute++) {
      // Start a fresh device-minute: the flush closes the window of the previous minute.
      clock.jumpTo(Math.ceil((clock.now() + 1) / MINUTE) * MINUTE + 1000);
      await ctx.fleet.flushTelemetry();
      const t = await ctx.fleet.traffic({ batches, rows: 16, modeFor });
      ctx.log(
        `device-minute ${new Date(clock.now()).toISOString().slice(11, 16)}: ${t.ok} inferences` +
          (t.failed > 0 ? `, ${t.failed} failed` : ''),
      );
      // Give the evaluator (every ~6 s) a chance at the windows closed so far.
      if (minute >= 3) {
        const deadline = Date.now() + 8000;
        while (Date.now() < deadline && (found = await events()).length === 0) await pause(500);
      }
    }
    if (found.length === 0) {
      // One more flush, so the last minute is evaluated too.
      clock.advance(MINUTE);
      await ctx.fleet.flushTelemetry();
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && (found = await events()).length === 0) await pause(500);
    }
    report.details.events = found;
    const cohortSite = (cohort: string) => /(?:^|,)site=([^,]*)/.exec(cohort)?.[1];
    report.check(
      `a drift event opened for site ${site}`,
      found.some((e) => cohortSite(e.cohort) === site),
      found.map((e) => `${e.cohort}/${e.featureSet}: ${e.feature} ${e.metric}`).join('; ') ||
        'none',
    );
    report.check(
      'no event for the other sites',
      found.every((e) => cohortSite(e.cohort) === site),
      [...new Set(found.map((e) => e.cohort))].join(' ') || 'none',
    );
    const inputEvents = found.filter((e) => e.featureSet !== 'outputs');
    // Feature names are `<input>.<column>` (e.g. `input.vibration`).
    const column = (f: string | undefined) => f?.split('.').at(-1);
    const named = new Set(
      inputEvents.flatMap((e) => [e.feature, ...e.features.map((f) => f.feature)]).map(column),
    );
    report.check(
      'the events name the shifted features (vibration, temperature) and not the others',
      (named.has('vibration') || named.has('temperature')) &&
        !named.has('current') &&
        !named.has('pressure') &&
        [...named].every((f) => f === undefined || SENSOR_FEATURES.includes(f as never)),
      [...named].join(', ') || 'none',
    );
    const requests = (
      await ctx.api.json<{ requests: RetrainingRequestView[] }>(
        'GET',
        `/v1/retraining-requests?model=${encodeURIComponent(ctx.model)}&release=${encodeURIComponent(releaseId)}`,
      )
    ).requests;
    report.details.retrainingRequests = requests;
    report.check(
      'a retraining request was filed for the event',
      requests.some((r) => found.some((e) => e.id === r.driftEventId)),
      requests.map((r) => `${r.id} (${r.cohort}: ${r.reason})`).join('; ') || 'none',
    );
    return report.result();
  };
}

/** Batches of `rows` per device so the smallest site x hardware cohort gets enough values. */
function batchesPerWindow(devices: readonly SimDevice[], rows: number): number {
  const cohorts = new Map<string, number>();
  for (const d of devices) {
    const k = `${d.site}|${d.hardwareClass}`;
    cohorts.set(k, (cohorts.get(k) ?? 0) + 1);
  }
  const smallest = Math.min(...cohorts.values());
  return Math.max(1, Math.ceil(SAMPLES_PER_WINDOW / (rows * smallest)));
}
