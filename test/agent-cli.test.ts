/**
 * `edgefleet-agent` as an operator uses it on a device: enroll against a real control plane
 * (in-process, free ports), run until SIGTERM, status, install-service, and the errors of each.
 * The CLI runs as a child process from the built dist/ (`npm test` builds first).
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_CLI,
  agentCli,
  AgentProcess,
  ControlPlane,
  enrollWithCli,
  tempDir,
} from './agent-cli.test-support.js';

let dir: string;
let cp: ControlPlane;

beforeAll(async () => {
  dir = await tempDir('ef-agent-cli-');
  cp = await ControlPlane.start(join(dir, 'cp'));
}, 60_000);

afterAll(async () => {
  await AgentProcess.killAll();
  await cp.close();
  await rm(dir, { recursive: true, force: true });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('edgefleet-agent enroll', () => {
  it('enrolls over HTTP and writes the config (local API set), credentials and pinned root with mode 0600', async () => {
    const token = await cp.enrollmentToken({ site: 'lyon' });
    const stateDir = join(dir, 'enroll-1');
    const configPath = join(dir, 'etc', 'agent.json');
    const r = await agentCli([
      'enroll',
      '--server',
      cp.url,
      '--token',
      token,
      '--label',
      'role=camera',
      '--hardware-class',
      'jetson-orin',
      '--device-id',
      'cam-0001',
      '--state-dir',
      stateDir,
      '--config',
      configPath,
      '--local-api-port',
      '8282',
      '--execution-providers',
      'cuda,cpu',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      deviceId: 'cam-0001',
      configPath,
      stateDir,
      hardwareClass: 'jetson-orin',
      labels: { site: 'lyon', role: 'camera' },
      rootVersion: 1,
    });

    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      deviceId: 'cam-0001',
      apiUrl: cp.url,
      mqttUrl: cp.server.mqttUrl,
      hardwareClass: 'jetson-orin',
      labels: { site: 'lyon', role: 'camera' },
      executionProviders: ['cuda', 'cpu'],
      stateDir,
      localApi: { host: '127.0.0.1', port: 8282 },
    });
    expect(config.deviceToken).toMatch(/^efd_/);
    expect(await mode(configPath)).toBe(0o600);
    const root = await readFile(join(stateDir, 'root.json'), 'utf8');
    expect(root).toBe(cp.server.services.keyring.currentRoot().text);
    expect(await mode(join(stateDir, 'root.json'))).toBe(0o600);
    expect(await mode(stateDir)).toBe(0o700);

    expect(await cp.device('cam-0001')).toMatchObject({
      online: false,
      labels: { site: 'lyon', role: 'camera' },
    });
  });

  it('refuses to overwrite an existing configuration without --force, and starts over with it', async () => {
    const device = await enrollWithCli(cp, dir, { deviceId: 'again-1' });
    const before = JSON.parse(await readFile(device.configPath, 'utf8')) as { deviceToken: string };
    const token = await cp.enrollmentToken();
    const args = [
      'enroll',
      '--server',
      cp.url,
      '--token',
      token,
      '--device-id',
      'again-2',
      '--state-dir',
      device.stateDir,
      '--config',
      device.configPath,
    ];
    const refused = await agentCli(args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`error EF_CONFLICT: ${device.configPath} exists`);
    expect(refused.stderr).toMatch(/^hint: .*--force/m);
    const unchanged = JSON.parse(await readFile(device.configPath, 'utf8')) as {
      deviceToken: string;
    };
    expect(unchanged.deviceToken).toBe(before.deviceToken);

    const forced = await agentCli([...args, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('enrolled device again-2');
    const after = JSON.parse(await readFile(device.configPath, 'utf8')) as {
      deviceId: string;
      localApi: unknown;
    };
    expect(after.deviceId).toBe('again-2');
    // Written explicitly: the default loopback port.
    expect(after.localApi).toEqual({ host: '127.0.0.1', port: 8181 });
  });

  it('pins the root named by --root-sha256, and refuses another before using the token', async () => {
    const rootText = cp.server.services.keyring.currentRoot().text;
    const sha256 = createHash('sha256').update(rootText).digest('hex');
    const token = await cp.enrollmentToken({}, 1);
    const args = (stateDir: string, pin: string) => [
      'enroll',
      '--server',
      cp.url,
      '--token',
      token,
      '--state-dir',
      stateDir,
      // Never the default (/etc/edgefleet-agent/agent.json when the tests run as root).
      '--config',
      join(stateDir, 'agent.json'),
      '--root-sha256',
      pin,
    ];
    const wrong = await agentCli(args(join(dir, 'pin-wrong'), 'ab'.repeat(32)));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`error EF_ROOT_MISMATCH: the control plane at ${cp.url}`);
    expect(wrong.stderr).toContain(sha256);
    await expect(stat(join(dir, 'pin-wrong', 'root.json'))).rejects.toThrow(/ENOENT/);
    // The single use of the token is still there for the right pin (upper case is fine too).
    const right = await agentCli(args(join(dir, 'pin-right'), sha256.toUpperCase()));
    expect(right.code, right.stderr).toBe(0);
    expect(await readFile(join(dir, 'pin-right', 'root.json'), 'utf8')).toBe(rootText);
    const bad = await agentCli(args(join(dir, 'pin-bad'), 'not-hex'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--root-sha256 must be 64 hex digits');
  });

  it('answers an unknown enrollment token with EF_UNAUTHORIZED, a hint and exit code 1', async () => {
    const r = await agentCli([
      'enroll',
      '--server',
      cp.url,
      '--token',
      'efe_not-a-real-token',
      '--state-dir',
      join(dir, 'refused'),
      '--config',
      join(dir, 'refused', 'agent.json'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error EF_UNAUTHORIZED: enrollment refused');
    expect(r.stderr).toContain('hint: the enrollment token is unknown');
    await expect(stat(join(dir, 'refused', 'agent.json'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('answers an unreachable server with EF_UNREACHABLE', async () => {
    const r = await agentCli([
      'enroll',
      '--server',
      'http://127.0.0.1:1',
      '--token',
      'efe_whatever-token',
      '--state-dir',
      join(dir, 'unreachable'),
      '--config',
      join(dir, 'unreachable', 'agent.json'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error EF_UNREACHABLE: cannot reach the control plane');
    expect(r.stderr).toContain('hint: check --server');
  });

  it('explains command line mistakes with exit code 2', async () => {
    const missing = await agentCli(['enroll', '--token', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('error EF_USAGE: enroll: --server is required');
    const unknown = await agentCli([
      'enroll',
      '--server',
      cp.url,
      '--token',
      't',
      '--stat-dir',
      'x',
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--stat-dir'");
    const both = await agentCli([
      'enroll',
      '--server',
      cp.url,
      '--token',
      't',
      '--local-api-port',
      '1',
      '--no-local-api',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('choose one of --local-api-port');
    const badLabel = await agentCli(['enroll', '--server', cp.url, '--token', 't', '--label', 'x']);
    expect(badLabel.code).toBe(2);
    expect(badLabel.stderr).toContain('--label takes key=value');
    const command = await agentCli(['deploy']);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('error EF_USAGE: unknown command "deploy"');
    const help = await agentCli(['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('edgefleet-agent enroll --server URL --token T');
  });
});

describe('edgefleet-agent run and status', () => {
  it('runs until SIGTERM (online, local API answering, status read from the state files), then exits 0', async () => {
    const device = await enrollWithCli(cp, dir, { deviceId: 'run-1', labels: { site: 'oslo' } });
    const before = await agentCli(['status', '--config', device.configPath]);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/^active\s+none$/m);
    expect(before.stdout).toMatch(/^local API\s+.*not answering/m);

    const agent = AgentProcess.start(device.configPath, ['--runtime', 'in-process']);
    try {
      const running = await agent.running();
      expect(running).toMatchObject({
        deviceId: 'run-1',
        runtime: 'in-process',
        activeRelease: null,
      });
      const url = await agent.localApiUrl();
      const health = (await (await fetch(`${url}/healthz`)).json()) as { status: string };
      expect(health.status).toBe('ok');
      await cp.until(
        async () => ((await cp.device('run-1')).online ? true : undefined),
        'run-1 online',
      );

      const status = await agentCli(['status', '--config', device.configPath, '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({
        deviceId: 'run-1',
        labels: { site: 'oslo' },
        activeRelease: null,
        trust: { rootVersion: 1, directiveCounter: 0 },
        deployment: null,
        spool: { records: 0 },
        // The port 0 of the configuration resolved: the running agent says where it listens.
        localApi: {
          address: url,
          answering: true,
          model: null,
          error: expect.stringContaining('EF_NO_MODEL'),
        },
        problems: [],
      });

      // Not even --force pulls the state from under a running agent.
      const again = await agentCli([
        'enroll',
        '--server',
        cp.url,
        '--token',
        await cp.enrollmentToken(),
        '--state-dir',
        device.stateDir,
        '--config',
        device.configPath,
        '--force',
      ]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(
        `error EF_CONFLICT: an agent is running on ${device.stateDir}`,
      );
    } finally {
      const exit = await agent.kill('SIGTERM');
      expect(exit).toEqual({ code: 0, signal: null });
    }
    expect(agent.lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['stopping', 'agent stopped', 'edgefleet agent stopped']),
    );
    await cp.until(
      async () => ((await cp.device('run-1')).online ? undefined : true),
      'run-1 offline',
    );
  });

  it('refuses to run without a configuration, with a hint to enroll', async () => {
    const r = await agentCli(['run', '--config', join(dir, 'nowhere', 'agent.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error EF_NOT_FOUND: no agent configuration at');
    expect(r.stderr).toContain('hint: enroll the device first');
    const status = await agentCli(['status', '--config', join(dir, 'nowhere', 'agent.json')]);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain('error EF_NOT_FOUND');
  });

  it('exits 1 with EF_CONFLICT when the local API port is taken', async () => {
    const first = await enrollWithCli(cp, dir, { deviceId: 'port-1' });
    const agent = AgentProcess.start(first.configPath, ['--runtime', 'in-process']);
    try {
      const port = Number(new URL(await agent.localApiUrl()).port);
      const token = await cp.enrollmentToken();
      const config = join(dir, 'port-2', 'agent.json');
      const enrolled = await agentCli([
        'enroll',
        '--server',
        cp.url,
        '--token',
        token,
        '--device-id',
        'port-2',
        '--state-dir',
        join(dir, 'port-2'),
        '--config',
        config,
        '--local-api-port',
        String(port),
      ]);
      expect(enrolled.code, enrolled.stderr).toBe(0);
      const r = await agentCli(['run', '--config', config, '--runtime', 'in-process']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `error EF_CONFLICT: the local API address 127.0.0.1:${port} is in use`,
      );
      expect(r.stderr).toContain('hint: is another agent running?');
    } finally {
      await agent.kill('SIGTERM');
    }
  });
});

describe('edgefleet-agent install-service', () => {
  it('writes a unit that runs this node and this CLI with --config, and says how to enable it', async () => {
    const device = await enrollWithCli(cp, dir, { deviceId: 'svc-1' });
    const out = join(dir, 'units', 'edgefleet-agent.service');
    const r = await agentCli([
      'install-service',
      '--config',
      device.configPath,
      '--user',
      'edgeagent',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const unit = await readFile(out, 'utf8');
    const execStart = `${realpathSync(process.execPath)} --max-semi-space-size=2 ${realpathSync(AGENT_CLI)} run --config ${device.configPath}`;
    expect(unit).toContain(`\nExecStart=${execStart}\n`);
    for (const line of [
      '[Unit]',
      'After=network-online.target',
      '[Service]',
      'Restart=always',
      'User=edgeagent',
      'Group=edgeagent',
      `WorkingDirectory=${device.stateDir}`,
      'ProtectSystem=strict',
      `ReadWritePaths=${device.stateDir}`,
      '[Install]',
      'WantedBy=multi-user.target',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    expect(await mode(out)).toBe(0o644);
    expect(r.stdout).toContain(`wrote ${out}`);
    expect(r.stdout).toContain(`sudo cp ${out} /etc/systemd/system/edgefleet-agent.service`);
    expect(r.stdout).toContain(
      'sudo systemctl daemon-reload && sudo systemctl enable --now edgefleet-agent',
    );
    expect(r.stdout).toContain(`sudo chown edgeagent:edgeagent ${device.configPath}`);
  });

  it('refuses a user name systemd would not accept (exit 2)', async () => {
    const device = await enrollWithCli(cp, dir, { deviceId: 'svc-2' });
    const r = await agentCli([
      'install-service',
      '--config',
      device.configPath,
      '--user',
      'Bad User',
      '--out',
      join(dir, 'units', 'bad.service'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'error EF_USAGE: install-service: user "Bad User" is not a valid name',
    );
  });
});
