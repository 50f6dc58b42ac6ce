import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  aclFileText,
  mosquittoConfText,
  passwordFileText,
  writeMosquittoConfig,
  type MosquittoConfigOptions,
  type MosquittoFiles,
} from './mosquitto-config.js';
import { hashToken, verifyToken } from './password.js';

const FILES: MosquittoFiles = {
  config: '/etc/edgefleet/mosquitto.conf',
  devicePasswords: '/etc/edgefleet/passwords',
  controlPlanePasswords: '/etc/edgefleet/control-plane.passwords',
  acl: '/etc/edgefleet/acl',
};

/** Non-comment lines, to compare settings without the explanations. */
const settings = (text: string): string[] =>
  text.split('\n').filter((line) => line.length > 0 && !line.startsWith('#'));

describe('aclFileText', () => {
  it('gives devices their own topics by pattern and the control plane the namespace', () => {
    expect(settings(aclFileText('cp'))).toEqual([
      'pattern read edgefleet/v1/d/%u/desired',
      'pattern read edgefleet/v1/d/%u/cmd',
      'pattern read edgefleet/v1/trust/root',
      'pattern write edgefleet/v1/d/%u/status',
      'pattern write edgefleet/v1/d/%u/state',
      'pattern write edgefleet/v1/d/%u/telemetry',
      'pattern write edgefleet/v1/d/%u/presence',
      'user cp',
      'topic readwrite edgefleet/v1/#',
    ]);
  });

  it('refuses a control-plane username that would break the file', () => {
    expect(() => aclFileText('cp user')).toThrow(TypeError);
    expect(() => aclFileText('cp\nuser x')).toThrow(TypeError);
  });
});

describe('mosquittoConfText', () => {
  it('writes a device listener and a loopback control-plane listener with their own settings', () => {
    const text = mosquittoConfText(
      { deviceListener: { port: 8883 }, controlPlaneListener: { port: 1884 } },
      FILES,
    );
    expect(settings(text)).toEqual([
      'per_listener_settings true',
      'max_packet_size 262144',
      'listener 8883',
      'allow_anonymous false',
      'password_file /etc/edgefleet/passwords',
      'acl_file /etc/edgefleet/acl',
      'max_qos 1',
      'use_username_as_clientid true',
      'listener 1884 127.0.0.1',
      'allow_anonymous false',
      'password_file /etc/edgefleet/control-plane.passwords',
      'acl_file /etc/edgefleet/acl',
    ]);
    // Global in Mosquitto 2.0: it would take retain away from the control plane too.
    expect(text).not.toMatch(/^retain_available/m);
  });

  it('adds TLS files, a bind address, the packet cap and the user when given', () => {
    const text = mosquittoConfText(
      {
        deviceListener: {
          port: 8883,
          host: '0.0.0.0',
          tls: { certfile: '/tls/cert.pem', keyfile: '/tls/key.pem', cafile: '/tls/ca.pem' },
        },
        controlPlaneListener: { port: 1884, host: '10.0.0.5' },
        maxPacketBytes: 65_536,
        user: 'mosquitto',
      },
      FILES,
    );
    const lines = settings(text);
    expect(lines).toContain('listener 8883 0.0.0.0');
    expect(lines).toContain('listener 1884 10.0.0.5');
    expect(lines).toContain('max_packet_size 65536');
    expect(lines).toContain('user mosquitto');
    expect(lines.slice(lines.indexOf('use_username_as_clientid true') + 1, -4)).toEqual([
      'certfile /tls/cert.pem',
      'keyfile /tls/key.pem',
      'cafile /tls/ca.pem',
    ]);
  });

  it.each([
    [{ deviceListener: { port: 0 }, controlPlaneListener: { port: 1884 } }],
    [{ deviceListener: { port: 70_000 }, controlPlaneListener: { port: 1884 } }],
    [{ deviceListener: { port: 1, host: 'a b' }, controlPlaneListener: { port: 1884 } }],
    [{ deviceListener: { port: 1 }, controlPlaneListener: { port: 2 }, maxPacketBytes: 10 }],
  ])('refuses invalid settings: %j', (options) => {
    expect(() => mosquittoConfText(options, FILES)).toThrow(TypeError);
  });

  it('refuses a path with spaces (Mosquitto would cut it)', () => {
    expect(() =>
      mosquittoConfText(
        { deviceListener: { port: 1 }, controlPlaneListener: { port: 2 } },
        { ...FILES, acl: '/my dir/acl' },
      ),
    ).toThrow(TypeError);
  });
});

describe('passwordFileText', () => {
  it('writes one username:hash line per user', async () => {
    const hash = await hashToken('t');
    expect(passwordFileText([{ username: 'dev-1', hash }])).toBe(`dev-1:${hash}\n`);
    expect(passwordFileText([])).toBe('');
  });

  it('refuses a duplicate user or a hash that is not $7$', async () => {
    const hash = await hashToken('t');
    expect(() =>
      passwordFileText([
        { username: 'a', hash },
        { username: 'a', hash },
      ]),
    ).toThrow(TypeError);
    expect(() => passwordFileText([{ username: 'a', hash: 'plain' }])).toThrow(TypeError);
  });
});

describe('writeMosquittoConfig', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgefleet-mosquitto-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const options = async (): Promise<MosquittoConfigOptions> => ({
    outDir: join(dir, 'out'),
    devices: [
      { id: 'dev-1', tokenHash: await hashToken('t1') },
      { id: 'dev-2', tokenHash: await hashToken('t2') },
    ],
    controlPlane: { username: 'edgefleet-cp', password: 'cp-secret' },
    deviceListener: { port: 8883 },
    controlPlaneListener: { port: 1884 },
  });

  it('writes the four files, password files readable by their owner only', async () => {
    const files = await writeMosquittoConfig(await options());
    expect((await readdir(join(dir, 'out'))).sort()).toEqual([
      'acl',
      'control-plane.passwords',
      'mosquitto.conf',
      'passwords',
    ]);
    expect((await stat(files.devicePasswords)).mode & 0o777).toBe(0o600);
    expect((await stat(files.controlPlanePasswords)).mode & 0o777).toBe(0o600);
    const conf = await readFile(files.config, 'utf8');
    expect(conf).toContain(`password_file ${files.devicePasswords}\n`);
    expect(conf).toContain(`password_file ${files.controlPlanePasswords}\n`);
    expect(conf).toContain(`acl_file ${files.acl}\n`);
  });

  it('keeps device and control-plane credentials in separate files, the plain password hashed', async () => {
    const files = await writeMosquittoConfig(await options());
    const devices = await readFile(files.devicePasswords, 'utf8');
    expect(devices.split('\n').map((l) => l.split(':')[0])).toEqual(['dev-1', 'dev-2', '']);
    const [cpLine] = (await readFile(files.controlPlanePasswords, 'utf8')).split('\n');
    const [user, hash] = cpLine!.split(':');
    expect(user).toBe('edgefleet-cp');
    expect(await verifyToken('cp-secret', hash!)).toBe(true);
  });

  it('takes a control-plane password hash as is', async () => {
    const passwordHash = await hashToken('cp-secret');
    const files = await writeMosquittoConfig({
      ...(await options()),
      controlPlane: { username: 'edgefleet-cp', passwordHash },
    });
    expect(await readFile(files.controlPlanePasswords, 'utf8')).toBe(
      `edgefleet-cp:${passwordHash}\n`,
    );
  });

  it('refuses invalid input before writing anything', async () => {
    const base = await options();
    const tokenHash = await hashToken('t');
    for (const bad of [
      { ...base, devices: [{ id: 'dev/1', tokenHash }] },
      { ...base, devices: [{ id: '+', tokenHash }] },
      { ...base, devices: [{ id: 'edgefleet-cp', tokenHash }] },
      { ...base, devices: [{ id: 'dev-1', tokenHash: 'plain' }] },
      { ...base, controlPlane: { username: 'cp:x', password: 'p' } },
    ]) {
      await expect(writeMosquittoConfig(bad)).rejects.toThrow(TypeError);
    }
    await expect(readdir(join(dir, 'out'))).rejects.toThrow();
  });
});
