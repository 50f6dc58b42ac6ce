/**
 * That a real Mosquitto accepts hashes made by `hashToken` is shown in broker.test.ts, whose Mosquitto
 * suite connects every device with a password file written from `hashToken` output.
 */
import { execFile } from 'node:child_process';
import { access, constants, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hashToken, isTokenHash, verifyToken } from './password.js';

async function findMosquittoPasswd(): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d.length > 0);
  for (const candidate of [
    ...dirs.map((d) => join(d, 'mosquitto_passwd')),
    '/usr/bin/mosquitto_passwd',
  ]) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const mosquittoPasswd = await findMosquittoPasswd();

describe('hashToken / verifyToken', () => {
  it('writes the $7$ form: 101 iterations, 12-byte salt, 64-byte digest, base64', async () => {
    const hash = await hashToken('a-device-token');
    const [empty, seven, iterations, salt, digest] = hash.split('$');
    expect([empty, seven, iterations]).toEqual(['', '7', '101']);
    expect(Buffer.from(salt!, 'base64')).toHaveLength(12);
    expect(Buffer.from(digest!, 'base64')).toHaveLength(64);
    expect(isTokenHash(hash)).toBe(true);
  });

  it('uses a fresh salt every time', async () => {
    expect(await hashToken('same')).not.toBe(await hashToken('same'));
  });

  it('accepts the right token and refuses a wrong one', async () => {
    const hash = await hashToken('right-token');
    expect(await verifyToken('right-token', hash)).toBe(true);
    expect(await verifyToken('wrong-token', hash)).toBe(false);
    expect(await verifyToken('', hash)).toBe(false);
  });

  it('refuses malformed hashes instead of throwing', async () => {
    const good = await hashToken('t');
    for (const bad of [
      '',
      'plain',
      good.replace('$7$', '$6$'),
      good.replace('$101$', '$0$'),
      good.replace('$101$', '$9999999$'),
      good.slice(0, -4),
      `${good}$extra`,
      good.replace(/\$[^$]+$/, '$!!!!'),
    ]) {
      expect(isTokenHash(bad)).toBe(false);
      expect(await verifyToken('t', bad)).toBe(false);
    }
  });

  it('throws on an empty token', async () => {
    await expect(hashToken('')).rejects.toThrow(TypeError);
  });

  it.skipIf(mosquittoPasswd === undefined)(
    `verifies a hash written by mosquitto_passwd -b${mosquittoPasswd === undefined ? ' (skipped: mosquitto_passwd not found)' : ''}`,
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'edgefleet-passwd-'));
      try {
        const file = join(dir, 'passwords');
        await writeFile(file, '', { mode: 0o600 });
        await promisify(execFile)(mosquittoPasswd!, ['-b', file, 'dev-1', 'tök€n with spaces']);
        const line = (await readFile(file, 'utf8')).trim();
        const hash = line.slice('dev-1:'.length);
        expect(line.startsWith('dev-1:$7$101$')).toBe(true);
        expect(isTokenHash(hash)).toBe(true);
        expect(await verifyToken('tök€n with spaces', hash)).toBe(true);
        expect(await verifyToken('tök€n with space', hash)).toBe(false);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
