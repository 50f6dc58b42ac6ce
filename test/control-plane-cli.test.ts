/**
 * The operator CLI against a real `edgefleet server` (in-process, free ports, temp data dir). The CLI
 * runs as a child process from the built dist/ (`npm test` builds first), as an operator would run it.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadServerConfig, startServer, type RunningServer } from '@edgefleet/control-plane';
import { linearClassifier } from '@edgefleet/protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI,
  SHARED_MODELS,
  SHARED_MODELS_AVAILABLE,
  SHARED_MODELS_SKIP,
} from './support/paths.js';

const exec = promisify(execFile);
let dir: string;
let server: RunningServer;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ef-cli-'));
  server = await startServer(
    loadServerConfig({ dataDir: join(dir, 'data'), httpPort: 0, mqttPort: 0 }, {}),
    { logger: pino({ level: 'silent' }) },
  );
  env = {
    PATH: process.env.PATH,
    EDGEFLEET_SERVER: server.httpUrl,
    EDGEFLEET_TOKEN: server.adminToken,
    EDGEFLEET_CONFIG: join(dir, 'cli-config.json'),
  };
}, 60_000);

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [CLI, ...args], { env, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('edgefleet CLI', () => {
  describe.skipIf(!SHARED_MODELS_AVAILABLE)(
    SHARED_MODELS_AVAILABLE ? 'with ../shared/models' : SHARED_MODELS_SKIP,
    () => {
      it('pushes mnist-cnn.onnx and shows its inputs and outputs', async () => {
        const r = await cli('models', 'push', 'mnist', join(SHARED_MODELS, 'mnist-cnn.onnx'));
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/input\s+float32\s+\[batch_size, 1, 28, 28\]/);
        expect(r.stdout).toMatch(/output\s+float32\s+\[batch_size, 10\]/);
        expect(r.stderr).toContain('100%');
      });
    },
  );

  it('pushes a model with a reference dataset and signs a release (--json)', async () => {
    const model = join(dir, 'sensor.onnx');
    await writeFile(model, linearClassifier({ features: 2, classes: 3 }));
    const csv = join(dir, 'ref.csv');
    await writeFile(
      csv,
      'a,b\n' + Array.from({ length: 50 }, (_, i) => `${i},${i % 7}`).join('\n'),
    );
    const pushed = await cli(
      'models',
      'push',
      'sensor',
      model,
      '--reference',
      csv,
      '--version',
      '2026.1',
      '--json',
    );
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(JSON.parse(pushed.stdout)).toMatchObject({
      model: 'sensor',
      version: '2026.1',
      referenceRows: 50,
    });
    const rel = await cli(
      'releases',
      'create',
      '--model',
      'sensor',
      '--version',
      '2026.1',
      '--hw',
      'rpi5,jetson',
      '--json',
    );
    expect(rel.code, rel.stderr).toBe(0);
    expect(JSON.parse(rel.stdout)).toMatchObject({
      releaseId: 'sensor@2026.1-r1',
      releaseCounter: 1,
    });
  });

  it('answers a corrupt model with EF_INVALID_MODEL, a hint and exit code 1', async () => {
    const bad = join(dir, 'bad.onnx');
    await writeFile(bad, 'definitely not a model');
    const r = await cli('models', 'push', 'bad', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error EF_INVALID_MODEL');
    expect(r.stderr).toContain('hint:');
  });

  it('creates tokens, enrollment tokens and lists devices', async () => {
    const t = await cli('tokens', 'create', '--name', 'ci', '--role', 'viewer', '--json');
    expect(t.code).toBe(0);
    const viewer = (JSON.parse(t.stdout) as { token: string }).token;
    const e = await cli(
      'enrollment-tokens',
      'create',
      '--label',
      'site=berlin',
      '--max-uses',
      '3',
      '--json',
    );
    expect(JSON.parse(e.stdout)).toMatchObject({ maxUses: 3, labels: { site: 'berlin' } });
    const denied = await cli('--token', viewer, 'enrollment-tokens', 'create');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('EF_FORBIDDEN');
    const list = await cli('--token', viewer, 'devices', 'list', '--selector', 'site=berlin');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('0 of 0 devices');
  });

  it('explains usage mistakes with exit code 2', async () => {
    const r = await cli('releases', 'create', '--model', 'x');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--version is required');
  });

  it('saves the server and token with login (mode 0600)', async () => {
    const r = await cli('login', '--server', server.httpUrl, '--token', String(server.adminToken));
    expect(r.code).toBe(0);
    const saved = JSON.parse(await readFile(join(dir, 'cli-config.json'), 'utf8')) as {
      server: string;
    };
    expect(saved.server).toBe(server.httpUrl);
  });

  it('moves the trust root offline: keys init, sign-root with the old and a threshold of new keys, trust push', async () => {
    const keysDir = join(dir, 'offline');
    expect(
      (await cli('keys', 'init', '--threshold', '2', '--keys', '3', '--out', keysDir)).code,
    ).toBe(0);
    const current = join(dir, 'root-1.json');
    await writeFile(current, server.services.keyring.currentRoot().text);
    const oldRootKey = join(
      dir,
      'data',
      'keys',
      (await readdir(join(dir, 'data', 'keys'))).find((f) => f.startsWith('root-'))!,
    );
    const draft = join(dir, 'root-2.json');
    const signed = await cli(
      'keys',
      'sign-root',
      '--current',
      current,
      '--root-keys',
      join(keysDir, 'root-keys.pub.json'),
      '--key',
      oldRootKey,
      '--key',
      join(keysDir, 'root-key-1.json'),
      '--out',
      draft,
    );
    expect(signed.code, signed.stderr).toBe(0);
    // One new key is below the new threshold of 2: refused.
    const refused = await cli('trust', 'push', draft);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('EF_SIGNATURE_INVALID');
    expect(
      (
        await cli(
          'keys',
          'sign-root',
          '--draft',
          draft,
          '--key',
          join(keysDir, 'root-key-3.json'),
          '--out',
          draft,
        )
      ).code,
    ).toBe(0);
    const pushed = await cli('trust', 'push', draft);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(server.services.keyring.currentRoot().version).toBe(2);

    // The hash devices pin at enrollment (edgefleet-agent enroll --root-sha256).
    const hash = await cli('trust', 'root', '--sha256');
    expect(hash.stdout.trim()).toBe(
      createHash('sha256').update(server.services.keyring.currentRoot().text).digest('hex'),
    );

    // With the root offline, rotating the deploy key writes root 3 unsigned for the key holders.
    const draft3 = join(dir, 'root-3.draft.json');
    const rotated = await cli('trust', 'rotate', '--role', 'deploy', '--out', draft3);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain('keys sign-root --draft');
    const root3 = join(dir, 'root-3.json');
    for (const [from, key] of [
      [draft3, 'root-key-1.json'],
      [root3, 'root-key-2.json'],
    ] as const) {
      const s = await cli(
        'keys',
        'sign-root',
        '--draft',
        from,
        '--key',
        join(keysDir, key),
        '--out',
        root3,
      );
      expect(s.code, s.stderr).toBe(0);
    }
    const deployBefore = server.services.keyring.currentRoot().root.roles.deploy.keyids;
    const pushed3 = await cli('trust', 'push', root3);
    expect(pushed3.code, pushed3.stderr).toBe(0);
    const after = server.services.keyring.currentRoot();
    expect(after.version).toBe(3);
    expect(after.root.roles.deploy.keyids).not.toEqual(deployBefore);
    expect(server.services.keyring.signingKeys('deploy').map((k) => k.keyid)).toEqual(
      after.root.roles.deploy.keyids,
    );
  });
});
