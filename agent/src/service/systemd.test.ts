import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { renderInstallInstructions, renderSystemdUnit } from './systemd.js';

const options = {
  execPath: '/usr/local/bin/edgefleet-agent',
  configPath: '/etc/edgefleet/agent.json',
  stateDir: '/var/lib/edgefleet',
};

/** `Key=value` lines of a section, in order. */
function section(unit: string, name: string): [string, string][] {
  const lines = unit.split('\n');
  const start = lines.indexOf(`[${name}]`);
  expect(start).toBeGreaterThanOrEqual(0);
  const out: [string, string][] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('[')) break;
    if (line === '') continue;
    const eq = line.indexOf('=');
    out.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return out;
}

describe('renderSystemdUnit', () => {
  const unit = renderSystemdUnit(options);
  const service = new Map(section(unit, 'Service'));

  it('orders the agent after the network is online', () => {
    expect(section(unit, 'Unit')).toEqual(
      expect.arrayContaining([
        ['After', 'network-online.target'],
        ['Wants', 'network-online.target'],
      ]),
    );
  });

  it('starts the agent with its config and restarts it always', () => {
    expect(service.get('ExecStart')).toBe(
      '/usr/local/bin/edgefleet-agent --config /etc/edgefleet/agent.json',
    );
    expect(service.get('Restart')).toBe('always');
    expect(service.get('RestartSec')).toBe('5');
  });

  it('puts execArgs (node flags, the CLI script, its command) between the executable and --config', () => {
    const viaNode = new Map(
      section(
        renderSystemdUnit({
          ...options,
          execPath: '/usr/bin/node',
          execArgs: ['--max-semi-space-size=2', '/opt/edgefleet/agent/dist/cli/main.js', 'run'],
        }),
        'Service',
      ),
    );
    expect(viaNode.get('ExecStart')).toBe(
      '/usr/bin/node --max-semi-space-size=2 /opt/edgefleet/agent/dist/cli/main.js run --config /etc/edgefleet/agent.json',
    );
    expect(() =>
      renderSystemdUnit({ ...options, execArgs: ['run\nExecStartPre=/bin/sh'] }),
    ).toThrow(/execArgs/);
  });

  it('runs as a dedicated user and group', () => {
    expect(service.get('User')).toBe('edgefleet');
    expect(service.get('Group')).toBe('edgefleet');
  });

  it('sandboxes the agent', () => {
    expect(service.get('NoNewPrivileges')).toBe('yes');
    expect(service.get('ProtectSystem')).toBe('strict');
    expect(service.get('ProtectHome')).toBe('yes');
    expect(service.get('PrivateTmp')).toBe('yes');
  });

  it('makes the state directory writable and nothing else', () => {
    const writable = section(unit, 'Service').filter(([key]) =>
      [
        'ReadWritePaths',
        'StateDirectory',
        'CacheDirectory',
        'LogsDirectory',
        'RuntimeDirectory',
        'ConfigurationDirectory',
        'BindPaths',
      ].includes(key),
    );
    expect(writable).toEqual([['ReadWritePaths', '/var/lib/edgefleet']]);
    expect(service.get('ProtectSystem')).toBe('strict'); // everything else read-only
  });

  it('limits resources', () => {
    expect(service.get('LimitNOFILE')).toBe('65536');
    expect(service.get('MemoryMax')).toBe('1G');
    const custom = new Map(
      section(renderSystemdUnit({ ...options, memoryMax: '256M', limitNofile: 4096 }), 'Service'),
    );
    expect(custom.get('MemoryMax')).toBe('256M');
    expect(custom.get('LimitNOFILE')).toBe('4096');
  });

  it('is wanted by multi-user.target', () => {
    expect(section(unit, 'Install')).toEqual([['WantedBy', 'multi-user.target']]);
  });

  it('quotes paths with spaces and escapes % specifiers', () => {
    const odd = renderSystemdUnit({ ...options, stateDir: '/srv/edge fleet/100%' });
    expect(new Map(section(odd, 'Service')).get('ReadWritePaths')).toBe('"/srv/edge fleet/100%%"');
  });

  it('refuses options that would give a broken or unsafe unit', () => {
    expect(() => renderSystemdUnit({ ...options, stateDir: 'state' })).toThrow(/absolute/);
    expect(() =>
      renderSystemdUnit({ ...options, execPath: '/bin/x\nExecStartPre=/bin/sh' }),
    ).toThrow(/control character/);
    expect(() => renderSystemdUnit({ ...options, user: 'root; rm' })).toThrow(/user/);
    expect(() => renderSystemdUnit({ ...options, memoryMax: 'lots' })).toThrow(/memoryMax/);
  });

  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
  it.skipIf(analyze === undefined)(
    'passes systemd-analyze verify (skipped: systemd-analyze is not installed)',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ef-unit-'));
      try {
        const config = join(dir, 'agent.json');
        await writeFile(config, '{}');
        const file = join(dir, 'edgefleet-agent.service');
        await writeFile(
          file,
          renderSystemdUnit({ execPath: process.execPath, configPath: config, stateDir: dir }),
        );
        const result = await promisify(execFile)(analyze!, ['verify', file], {
          env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' },
        }).catch((error: unknown) => error as { stderr: string; code: number });
        const stderr = 'stderr' in result ? result.stderr : '';
        // Lines about this unit only: the host's own units may carry unrelated warnings.
        const ours = stderr.split('\n').filter((l) => l.includes('edgefleet-agent'));
        expect(ours).toEqual([]);
        expect('code' in result ? result.code : 0).toBe(0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('renderInstallInstructions', () => {
  it('creates the system user, the state directory and enables the unit', () => {
    const text = renderInstallInstructions(options);
    expect(text).toContain(
      'useradd --system --user-group --no-create-home --shell /usr/sbin/nologin edgefleet',
    );
    expect(text).toContain('install -d -o edgefleet -g edgefleet -m 0750 /var/lib/edgefleet');
    expect(text).toContain(
      'systemctl daemon-reload && sudo systemctl enable --now edgefleet-agent',
    );
  });

  it('gives the configuration to the service user and copies the unit only when it is elsewhere', () => {
    const elsewhere = renderInstallInstructions({ ...options, unitPath: '/tmp/u/agent.service' });
    expect(elsewhere).toContain('sudo chown edgefleet:edgefleet /etc/edgefleet/agent.json');
    // enroll (as root) makes the directory 0700: the service user must be able to enter it.
    expect(elsewhere).toContain(
      'sudo chown root:edgefleet /etc/edgefleet && sudo chmod 0750 /etc/edgefleet',
    );
    expect(elsewhere).toContain(
      'sudo cp /tmp/u/agent.service /etc/systemd/system/edgefleet-agent.service',
    );
    const inPlace = renderInstallInstructions({
      ...options,
      unitPath: '/etc/systemd/system/edgefleet-agent.service',
    });
    expect(inPlace).not.toContain('sudo cp');
    expect(inPlace).toContain('The unit file is in place');
  });
});
