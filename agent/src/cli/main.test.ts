import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyValueFlags, parseFlags } from './args.js';
import type { CliIo } from './io.js';
import { main } from './main.js';

function capture(env: NodeJS.ProcessEnv = {}, cwd = '/') {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    env,
    cwd,
    out: (t) => out.push(t),
    err: (t) => err.push(t),
  };
  return { io, out, err };
}

describe('edgefleet-agent main', () => {
  it('prints the usage for help and for no command, exit 0', async () => {
    for (const argv of [[], ['help'], ['--help']]) {
      const c = capture();
      expect(await main(argv, c.io)).toBe(0);
      expect(c.out.join('\n')).toContain('edgefleet-agent run [--config F]');
    }
  });

  it('answers an unknown command with EF_USAGE, a hint and exit code 2', async () => {
    const c = capture();
    expect(await main(['upgrade'], c.io)).toBe(2);
    expect(c.err).toEqual([
      'error EF_USAGE: unknown command "upgrade"',
      'hint: the commands are enroll, run, status and install-service (`edgefleet-agent help`)',
    ]);
  });

  it('refuses a flag a command does not know (exit 2), and prints a command’s own help', async () => {
    const c = capture();
    expect(await main(['status', '--jsn'], c.io)).toBe(2);
    expect(c.err[0]).toMatch(/^error EF_USAGE: status: Unknown option '--jsn'/);
    const help = capture();
    expect(await main(['install-service', '--help'], help.io)).toBe(0);
    expect(help.out.join('\n')).toContain('--user U');
  });

  it('reports a missing configuration with EF_NOT_FOUND and a hint to enroll (exit 1)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ef-cli-main-'));
    try {
      const c = capture({ EDGEFLEET_AGENT_CONFIG: join(dir, 'agent.json') });
      expect(await main(['status'], c.io)).toBe(1);
      expect(c.err[0]).toBe(
        `error EF_NOT_FOUND: no agent configuration at ${join(dir, 'agent.json')}`,
      );
      expect(c.err[1]).toMatch(/^hint: enroll the device first/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes the enrollment token from EDGEFLEET_ENROLLMENT_TOKEN and checks flags before enrolling', async () => {
    const c = capture({ EDGEFLEET_ENROLLMENT_TOKEN: 'efe_x' });
    expect(
      await main(
        ['enroll', '--server', 'http://127.0.0.1:1', '--hardware-class', 'no spaces allowed'],
        c.io,
      ),
    ).toBe(2);
    expect(c.err[0]).toMatch(/^error EF_USAGE: enroll: --hardware-class: must start with/);
    const ftp = capture({ EDGEFLEET_ENROLLMENT_TOKEN: 'efe_x' });
    expect(await main(['enroll', '--server', 'ftp://fleet'], ftp.io)).toBe(2);
    expect(ftp.err[0]).toContain('--server must be an http(s) URL');
  });
});

describe('flag parsing', () => {
  it('collects repeated k=v labels and refuses a duplicate key', () => {
    const spec = { label: { type: 'string', multiple: true } } as const;
    const flags = parseFlags('enroll', ['--label', 'a=1', '--label', 'b=x=y'], spec);
    expect(keyValueFlags('enroll', flags, 'label')).toEqual({ a: '1', b: 'x=y' });
    const twice = parseFlags('enroll', ['--label', 'a=1', '--label', 'a=2'], spec);
    expect(() => keyValueFlags('enroll', twice, 'label')).toThrow(/given twice/);
  });

  it('refuses stray positional arguments', () => {
    expect(() => parseFlags('run', ['now'], {})).toThrow(/Unexpected argument 'now'/);
  });
});
