import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalBytes, createRoot, signEnvelope } from '@edgefleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testKey } from '../../../protocol/src/trust/fixtures.test-support.js';
import {
  configFileModeProblem,
  parseAgentConfig,
  readAgentConfig,
  writeAgentConfig,
  type AgentConfigInput,
} from './agent-config.js';
import { statePaths } from './state-dir.js';
import { TrustStore } from './trust-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ef-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const minimal = (): AgentConfigInput => ({
  deviceId: 'dev-001',
  deviceToken: 'secret-token',
  mqttUrl: 'mqtt://127.0.0.1:1883',
  apiUrl: 'http://127.0.0.1:8080',
  hardwareClass: 'x86-64',
  stateDir: dir,
});

describe('agent config', () => {
  it('applies the documented defaults', () => {
    expect(parseAgentConfig(minimal())).toEqual({
      ...minimal(),
      labels: {},
      executionProviders: ['cpu'],
      localApi: null,
      telemetryIntervalSec: 10,
      spoolMaxBytes: 64 * 1024 * 1024,
      soakDefaults: { minInferences: 10, durationSec: 60, maxErrorRate: 0.05 },
      mqttKeepaliveSec: 30,
      logLevel: 'info',
    });
  });

  it('refuses a relative state dir, a bad device id and a non-MQTT broker URL', () => {
    expect(() => parseAgentConfig({ ...minimal(), stateDir: 'state' })).toThrow(/absolute/);
    expect(() => parseAgentConfig({ ...minimal(), deviceId: 'a/b' })).toThrow(/device id/);
    expect(() => parseAgentConfig({ ...minimal(), mqttUrl: 'http://x' })).toThrow(/scheme/);
  });

  it('is written with mode 0600 and read back; a looser mode is reported', async () => {
    const path = join(dir, 'agent.json');
    await writeAgentConfig(path, { ...minimal(), localApi: { port: 0 } });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await configFileModeProblem(path)).toBeUndefined();
    const read = await readAgentConfig(path);
    expect(read.ok && read.value.localApi).toEqual({ host: '127.0.0.1', port: 0 });
    await chmod(path, 0o644);
    expect(await configFileModeProblem(path)).toMatch(/should be 0600/);
  });
});

describe('TrustStore', () => {
  const rootKeys = [testKey(1), testKey(2)];
  const root = createRoot({
    version: 1,
    expires: '2031-01-01T00:00:00Z',
    roles: {
      root: { keys: rootKeys, threshold: 2 },
      release: { keys: [testKey(11)], threshold: 1 },
      deploy: { keys: [testKey(21)], threshold: 1 },
    },
  });
  const rootBytes = canonicalBytes(signEnvelope(root, rootKeys));

  it('pins the root on first start, persists updates (mode 0600) and reads them back', async () => {
    const paths = statePaths(dir);
    await expect(TrustStore.open(paths)).rejects.toThrow(/enroll/);
    const store = await TrustStore.open(paths, { pinnedRoot: rootBytes });
    expect(store.state).toMatchObject({ rootVersion: 1, directiveCounter: 0 });
    expect(new Uint8Array(await readFile(paths.pinnedRoot))).toEqual(rootBytes);
    await store.update((s) => ({ ok: true, value: { ...s, directiveCounter: 12 } }));
    for (const path of [paths.pinnedRoot, paths.trustState]) {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    }
    const reopened = await TrustStore.open(paths);
    expect(reopened.state.directiveCounter).toBe(12);
  });

  it('refuses to start over from the pinned root when the trust state is damaged', async () => {
    const paths = statePaths(dir);
    await TrustStore.open(paths, { pinnedRoot: rootBytes });
    await writeFile(paths.trustState, '{"root":');
    await expect(TrustStore.open(paths, { pinnedRoot: rootBytes })).rejects.toThrow(
      /forget the counters/,
    );
  });
});
