#!/usr/bin/env node
/**
 * `edgefleet-sim`: run N real agents against a control plane (and optionally a scenario), progress
 * on stderr, a JSON summary on stdout.
 *
 *   edgefleet-sim --server http://cp:8080 --token ADMIN --enroll-token T --devices 500 \
 *     [--scenario staged-rollout-happy] [--hw-mix jetson:30,rpi5:70] [--sites a,b,c] \
 *     [--data reference|drifted] [--runtime onnx|fake] [--state-dir D] [--duration 60s] \
 *     [--source-addresses 16]
 *
 * Without a scenario the agents serve traffic (`--data`) for `--duration` and take whatever the
 * control plane rolls out to them. Exit code 0 when the scenario's checks pass (or no scenario), 1
 * otherwise, 2 on bad arguments.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlPlaneHttp } from '../control-plane/http-client.js';
import type { DataMode } from '../data/sensor-data.js';
import { NEEDS_LAGGING_CLOCK, SCENARIOS } from '../scenarios/index.js';
import type { ScenarioResult } from '../scenarios/scenario.js';
import { pause, versionCounts } from '../scenarios/steps.js';
import { startSimFleet } from '../sim-fleet.js';
import { spreadSourceAddresses } from './source-addresses.js';

class UsageError extends Error {}

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--duration: expected e.g. 60s, 5m, got ${text}`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms'];
  return n * unit;
}

function parseMix(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const [hw, w] = part.split(':');
    const weight = Number(w);
    if (!hw || !(weight > 0))
      throw new UsageError(`--hw-mix: expected jetson:30,rpi5:70, got ${text}`);
    out[hw] = weight;
  }
  return out;
}

function say(line: string): void {
  process.stderr.write(`[edgefleet-sim] ${line}\n`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      token: { type: 'string' },
      'enroll-token': { type: 'string' },
      devices: { type: 'string', default: '10' },
      scenario: { type: 'string' },
      'hw-mix': { type: 'string', default: 'jetson:50,rpi5:50' },
      sites: { type: 'string', default: 'berlin,paris,tokyo' },
      data: { type: 'string', default: 'reference' },
      runtime: { type: 'string', default: 'onnx' },
      'state-dir': { type: 'string' },
      duration: { type: 'string', default: '60s' },
      model: { type: 'string', default: 'sensor-health' },
      'run-id': { type: 'string' },
      'source-addresses': { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      `usage: edgefleet-sim --server URL --token ADMIN --enroll-token T --devices N [--scenario ${Object.keys(SCENARIOS).join('|')}] ` +
        '[--hw-mix jetson:30,rpi5:70] [--sites a,b,c] [--data reference|drifted] [--runtime onnx|fake] ' +
        '[--state-dir D] [--duration 60s] [--model NAME] [--run-id ID] [--source-addresses K]\n',
    );
    return 0;
  }
  if (!values.server || !values['enroll-token']) {
    throw new UsageError('--server and --enroll-token are required');
  }
  const scenarioName = values.scenario;
  const scenario = scenarioName === undefined ? undefined : SCENARIOS[scenarioName];
  if (scenarioName !== undefined && scenario === undefined) {
    throw new UsageError(
      `unknown scenario ${scenarioName}: one of ${Object.keys(SCENARIOS).join(', ')}`,
    );
  }
  if (scenario && !values.token)
    throw new UsageError('--scenario needs --token (an admin or deployer token)');
  const devices = Number(values.devices);
  if (!Number.isInteger(devices) || devices < 1)
    throw new UsageError('--devices: a positive integer');
  if (values.data !== 'reference' && values.data !== 'drifted') {
    throw new UsageError('--data: reference or drifted');
  }
  const data: DataMode = values.data;
  if (values.runtime !== 'onnx' && values.runtime !== 'fake') {
    throw new UsageError('--runtime: onnx or fake');
  }
  const sourceAddresses = Number(values['source-addresses']);
  if (!Number.isInteger(sourceAddresses) || sourceAddresses < 1 || sourceAddresses > 254) {
    throw new UsageError('--source-addresses: 1..254');
  }
  const durationMs = parseDuration(values.duration);
  const runId = values['run-id'] ?? `s${Date.now().toString(36)}`;
  const ownDir = values['state-dir'] === undefined;
  const stateDir = values['state-dir']
    ? resolve(values['state-dir'])
    : await mkdtemp(join(tmpdir(), 'edgefleet-sim-'));
  const started = performance.now();
  let lastShown = 0;
  say(`enrolling ${devices} devices (run ${runId}) at ${values.server}`);
  const sim = await startSimFleet({
    apiUrl: values.server.replace(/\/$/, ''),
    enrollToken: values['enroll-token'],
    devices,
    stateDir,
    runId,
    hwMix: parseMix(values['hw-mix']),
    sites: values.sites.split(',').filter((s) => s !== ''),
    runtime: values.runtime,
    clockLagMs:
      scenarioName !== undefined && NEEDS_LAGGING_CLOCK.has(scenarioName) ? 30 * 60_000 : 0,
    ...(sourceAddresses > 1 ? { mqttConnectFor: spreadSourceAddresses(sourceAddresses) } : {}),
    onProgress: (phase, done, total) => {
      if (done === total || performance.now() - lastShown > 1000) {
        lastShown = performance.now();
        say(`${phase} ${done}/${total}`);
      }
    },
  });
  let result: ScenarioResult | undefined;
  const traffic = { ok: 0, failed: 0, noModel: 0 };
  try {
    if (scenario && scenarioName) {
      say(`scenario ${scenarioName}`);
      result = await scenario({
        api: new ControlPlaneHttp(values.server.replace(/\/$/, ''), values.token!),
        fleet: sim.fleet,
        selector: sim.selector,
        model: values.model,
        clock: sim.clock,
        faults: sim.faults,
        log: say,
        timeoutMs: Math.max(75_000, durationMs),
      });
    } else {
      const until = Date.now() + durationMs;
      while (Date.now() < until) {
        const t = await sim.fleet.traffic({ batches: 1, rows: 8, modeFor: () => data });
        traffic.ok += t.ok;
        traffic.failed += t.failed;
        traffic.noModel += t.noModel;
        await pause(500);
      }
      await sim.fleet.flushTelemetry();
    }
    const connected = sim.fleet.devices.filter((d) => d.agent.connected).length;
    const summary = {
      runId,
      selector: sim.selector,
      devices,
      connected,
      versions: versionCounts(sim.fleet.devices),
      ...(result ? { scenario: result } : { traffic }),
      wallMs: Math.round(performance.now() - started),
    };
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    return result === undefined || result.ok ? 0 : 1;
  } finally {
    say('stopping agents');
    await sim.close();
    if (ownDir) await rm(stateDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`edgefleet-sim: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
