/**
 * Rollouts driven through the operator CLI (a child process from the built dist/, as an operator runs
 * it) against an in-process control plane and enrolled agents: a scripted rollout with an approval gate
 * completes every wave, and a canary that fails its health check ends with every device on the old
 * model (issue #6, Done-when).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_V1, MODEL_V2, RolloutHarness, sha256 } from './rollout-harness.test-support.js';
import { CLI } from './support/paths.js';

const exec = promisify(execFile);
let h: RolloutHarness;
let env: NodeJS.ProcessEnv;

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(...args: string[]): Promise<CliRun> {
  try {
    const r = await exec(process.execPath, [CLI, ...args], { env, timeout: 80_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

async function cliJson<T>(...args: string[]): Promise<T> {
  const r = await cli(...args, '--json');
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** Run `rollouts status ID --watch` while the test drives the fleet, until the watch exits. */
async function watchWhileDriving(id: string): Promise<CliRun> {
  let finished: CliRun | undefined;
  const watching = cli('rollouts', 'status', id, '--watch', '--interval', '200').then((r) => {
    finished = r;
    return r;
  });
  await h.drive(() => finished !== undefined, { timeoutMs: 80_000 });
  return watching;
}

beforeAll(async () => {
  h = await RolloutHarness.start();
  env = {
    PATH: process.env.PATH,
    EDGEFLEET_SERVER: h.server.httpUrl,
    EDGEFLEET_TOKEN: h.server.adminToken,
    EDGEFLEET_CONFIG: '/nonexistent/edgefleet-config.json',
  };
  await h.addFleet({ prefix: 'rpi', devices: 3, hwMix: { rpi5: 1 } });
  await h.addFleet({ prefix: 'jet', devices: 3, hwMix: { jetson: 1 }, poisoned: true });
  h.poisoned.add(sha256(MODEL_V2));
}, 120_000);

afterAll(async () => {
  await h.close();
});

describe('edgefleet rollouts', () => {
  it('creates a rollout with an approval gate, approves it and watches all its waves complete', async () => {
    const release = await h.release('sensor', '1');
    const created = await cliJson<{ id: string; state: string }>(
      'rollouts',
      'create',
      '--release',
      release.releaseId,
      '--waves',
      '1,50%,100%',
      '--min-inferences',
      '2',
      '--rate',
      '600',
      '--budget',
      '10',
      '--timeout',
      '10m',
      '--on-failure',
      'pause',
      '--approval',
      'first',
    );
    expect(created.state).toBe('awaiting_approval');

    const listed = await cli('rollouts', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${created.id}\\s+awaiting_approval\\s+deploy`));

    const approved = await cli('rollouts', 'approve', created.id);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`approve: rollout ${created.id} is now running`);

    const watched = await watchWhileDriving(created.id);
    expect(watched.code, watched.stderr + watched.stdout).toBe(0);
    expect(watched.stdout).toContain('COMPLETED');
    expect(watched.stdout).toMatch(/1 canary\s+\[#+\] 1\/1 passed\s+succeeded=1/);
    expect(watched.stdout).toMatch(/3 wave-3\s+\[#+\] 3\/3 passed\s+succeeded=3/);
    expect(watched.stdout).toContain('gate evaluations:');
    expect(watched.stdout).toMatch(/wave_gate wave 1: passed; success_ratio=1\.000/);
    expect([...new Set(h.activeReleases().values())]).toEqual([release.releaseId]);

    const status = await cliJson<{ state: string; counts: Record<string, number> }>(
      'rollouts',
      'status',
      created.id,
    );
    expect(status).toMatchObject({ state: 'completed', counts: { succeeded: 6 } });
  }, 90_000);

  it('a canary that fails its health check aborts and every device ends on the old model', async () => {
    const old = await h.getRelease([...h.activeReleases().values()][0]!);
    const bad = await h.release('sensor', '2');
    const created = await cliJson<{ id: string }>(
      'rollouts',
      'create',
      '--release',
      bad.releaseId,
      '--waves',
      '2,100%',
      // One canary per hardware class: the jetson one fails its health check.
      '--spread-by',
      'hardwareClass',
      '--min-inferences',
      '2',
      '--rate',
      '600',
      '--on-failure',
      'abort',
    );
    const watched = await watchWhileDriving(created.id);
    expect(watched.code).toBe(1);
    expect(watched.stdout).toContain('ABORTED');
    expect(watched.stdout).toMatch(
      /wave_gate wave 1: FAILED; success_ratio=0\.500 \(limit 0\.95\) FAIL/,
    );

    // The fleet rollback rollout, followed through the CLI too.
    let rollbackId: string | undefined;
    await h.drive(async () => {
      const r = await cliJson<{ rollouts: { id: string; rollbackOf: string | null }[] }>(
        'rollouts',
        'list',
      );
      rollbackId = r.rollouts.find((x) => x.rollbackOf === created.id)?.id;
      return rollbackId !== undefined;
    });
    expect(rollbackId).toBeDefined();
    const rolledBack = await watchWhileDriving(rollbackId!);
    expect(rolledBack.code, rolledBack.stdout).toBe(0);
    expect(rolledBack.stdout).toContain(`fleet rollback of ${created.id}`);

    const oldSha = old.document.signed.files[old.document.signed.modelFile]!.sha256;
    expect(oldSha).toBe(sha256(MODEL_V1));
    for (const [deviceId, releaseId] of h.activeReleases()) {
      const r = await h.getRelease(releaseId);
      expect(r.document.signed.files[r.document.signed.modelFile]!.sha256, deviceId).toBe(oldSha);
      if (releaseId !== old.releaseId) expect(r.releaseCounter).toBeGreaterThan(bad.releaseCounter);
    }
  }, 90_000);
});
