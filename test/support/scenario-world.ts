/**
 * A real control plane (in-process, free ports, temp dir) and a simulated fleet enrolled into it: the
 * world each fleet-sim scenario test runs in.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServerConfig, startServer, type RunningServer } from '@edgefleet/control-plane';
import {
  ControlPlaneHttp,
  startSimFleet,
  type ScenarioContext,
  type SimFleet,
} from '@edgefleet/fleet-sim';
import pino from 'pino';

export interface ScenarioWorld {
  readonly server: RunningServer;
  readonly sim: SimFleet;
  readonly ctx: ScenarioContext;
  /** What the scenario logged so far (`ctx.log`), for a failure report. */
  readonly lines: readonly string[];
  close(): Promise<void>;
}

export async function startScenarioWorld(options: {
  devices: number;
  clockLagMs?: number;
}): Promise<ScenarioWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-scenario-'));
  const server = await startServer(
    loadServerConfig({ dataDir: join(dir, 'cp'), httpPort: 0, mqttPort: 0 }, {}),
    { logger: pino({ level: 'silent' }) },
  );
  const api = new ControlPlaneHttp(server.httpUrl, server.adminToken!);
  const enroll = await api.json<{ token: string }>('POST', '/v1/enrollment-tokens', {
    maxUses: options.devices,
  });
  const sim = await startSimFleet({
    apiUrl: server.httpUrl,
    enrollToken: enroll.token,
    devices: options.devices,
    stateDir: join(dir, 'devices'),
    runId: 't1',
    ...(options.clockLagMs === undefined ? {} : { clockLagMs: options.clockLagMs }),
  });
  const lines: string[] = [];
  return {
    server,
    sim,
    lines,
    ctx: {
      api,
      fleet: sim.fleet,
      selector: sim.selector,
      model: 'sensor-health',
      clock: sim.clock,
      faults: sim.faults,
      log: (line) => {
        lines.push(line);
        if (process.env.EF_SCENARIO_LOG) process.stderr.write(line + '\n');
      },
      timeoutMs: 45_000,
    },
    close: async () => {
      await sim.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
