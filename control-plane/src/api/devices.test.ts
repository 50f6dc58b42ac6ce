import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { artifactRoutes } from './artifacts.js';
import { deviceRoutes } from './devices.js';
import { createTestApi, type TestApi } from './services.test-support.js';
import { tokenRoutes } from './tokens.js';

let api: TestApi;
beforeEach(async () => {
  api = await createTestApi((s) => [...tokenRoutes(s), ...deviceRoutes(s), ...artifactRoutes(s)]);
});
afterEach(async () => {
  await api.close();
});

const facts = { hardwareClass: 'rpi5', os: 'linux', arch: 'arm64', ortVersion: '1.30.0' };

async function json<T = Record<string, unknown>>(r: Response | Promise<Response>): Promise<T> {
  return (await (await r).json()) as T;
}

async function operator(role: 'viewer' | 'deployer' | 'admin'): Promise<string> {
  const r = await api.call('POST', '/v1/tokens', {
    token: api.adminToken,
    body: { name: role, role },
  });
  expect(r.status).toBe(201);
  return (await json<{ token: string }>(r)).token;
}

async function enrollmentToken(body: object = {}): Promise<string> {
  const r = await api.call('POST', '/v1/enrollment-tokens', { token: api.adminToken, body });
  expect(r.status).toBe(201);
  return (await json<{ token: string }>(r)).token;
}

async function enroll(token: string, extra: object = {}) {
  return api.call('POST', '/v1/devices/enroll', { body: { token, ...facts, ...extra } });
}

describe('operator tokens', () => {
  it('creates role tokens whose secret works once shown and is never listed', async () => {
    const viewer = await operator('viewer');
    expect((await api.call('GET', '/v1/devices', { token: viewer })).status).toBe(200);
    const list = await api.call('GET', '/v1/tokens', { token: api.adminToken });
    expect(JSON.stringify(await list.json())).not.toContain(viewer);
  });

  it('refuses a viewer creating tokens (403) and answers 401 after revocation', async () => {
    const viewer = await operator('viewer');
    const denied = await api.call('POST', '/v1/tokens', {
      token: viewer,
      body: { name: 'x', role: 'admin' },
    });
    expect(denied.status).toBe(403);
    const { tokens } = await json<{ tokens: { id: string; name: string }[] }>(
      api.call('GET', '/v1/tokens', { token: api.adminToken }),
    );
    const id = tokens.find((t) => t.name === 'viewer')!.id;
    expect((await api.call('DELETE', `/v1/tokens/${id}`, { token: api.adminToken })).status).toBe(
      200,
    );
    expect((await api.call('GET', '/v1/devices', { token: viewer })).status).toBe(401);
  });

  it('expires tokens created with expiresIn', async () => {
    let now = new Date('2026-01-01T00:00:00Z');
    await api.close();
    api = await createTestApi((s) => [...tokenRoutes(s), ...deviceRoutes(s)], { now: () => now });
    const r = await api.call('POST', '/v1/tokens', {
      token: api.adminToken,
      body: { name: 'short', role: 'viewer', expiresIn: '1h' },
    });
    const { token } = await json<{ token: string }>(r);
    expect((await api.call('GET', '/v1/devices', { token })).status).toBe(200);
    now = new Date('2026-01-01T01:00:01Z');
    expect((await api.call('GET', '/v1/devices', { token })).status).toBe(401);
  });

  it('audits changes and denied attempts', async () => {
    const viewer = await operator('viewer');
    await api.call('POST', '/v1/tokens', { token: viewer, body: { name: 'x', role: 'admin' } });
    const { entries } = await json<{
      entries: { action: string; outcome: string; actor: string }[];
    }>(api.call('GET', '/v1/audit', { token: api.adminToken }));
    expect(entries.map((e) => [e.action, e.outcome, e.actor])).toEqual([
      ['tokens.create', 'denied', 'operator:viewer'],
      ['tokens.create', 'success', 'operator:bootstrap admin'],
    ]);
  });
});

describe('enrollment', () => {
  it('enrolls a device with the token labels and returns credentials and the trust root', async () => {
    const t = await enrollmentToken({ labels: { site: 'berlin' }, maxUses: 2 });
    const r = await enroll(t, { labels: { site: 'paris', hw: 'rpi5' }, deviceId: 'cam-001' });
    expect(r.status).toBe(201);
    const body = await json<{
      deviceId: string;
      deviceToken: string;
      labels: object;
      trustRoot: string;
      mqttUrl: string;
    }>(r);
    expect(body.deviceId).toBe('cam-001');
    expect(body.labels).toEqual({ site: 'berlin', hw: 'rpi5' });
    expect(body.trustRoot).toBe(api.services.keyring.currentRoot().text);
    expect(body.mqttUrl).toMatch(/^mqtt:/);
    expect(await api.services.authenticator.verifyDevice('cam-001', body.deviceToken)).toBe(true);
    expect(await api.services.authenticator.verifyDevice('cam-001', 'wrong')).toBe(false);
  });

  it('refuses unknown, exhausted and expired tokens with 401 and a reason', async () => {
    expect((await enroll('efe_nope_nope_nope')).status).toBe(401);
    const once = await enrollmentToken({ maxUses: 1 });
    expect((await enroll(once)).status).toBe(201);
    const again = await enroll(once);
    expect(again.status).toBe(401);
    expect(await json(again)).toMatchObject({
      error: { code: 'EF_UNAUTHORIZED', details: { reason: 'exhausted' } },
    });
  });

  it('rejects device ids that could break topics or ACL files', async () => {
    const t = await enrollmentToken({ maxUses: 10 });
    for (const deviceId of ['a/b', 'a+b', '#', '$SYS', 'x'.repeat(65), 'with space']) {
      const r = await enroll(t, { deviceId });
      expect(r.status, deviceId).toBe(400);
    }
  });

  it('rejects a second device with the same id (409) without spending a token use', async () => {
    const t = await enrollmentToken({ maxUses: 2 });
    expect((await enroll(t, { deviceId: 'dup' })).status).toBe(201);
    expect((await enroll(t, { deviceId: 'dup' })).status).toBe(409);
    expect((await enroll(t, { deviceId: 'other' })).status).toBe(201);
  });
});

describe('devices', () => {
  async function fleet() {
    const t = await enrollmentToken({ maxUses: 10 });
    const made: Record<string, string> = {};
    for (const [id, labels] of [
      ['a', { site: 'berlin', hw: 'jetson' }],
      ['b', { site: 'berlin', hw: 'rpi5' }],
      ['c', { site: 'paris', hw: 'rpi5' }],
    ] as const) {
      const r = await json<{ deviceToken: string }>(enroll(t, { deviceId: id, labels }));
      made[id] = r.deviceToken;
    }
    return made;
  }

  it('lists devices by label selector', async () => {
    await fleet();
    const ids = async (selector: string) =>
      (
        await json<{ devices: { id: string }[]; total: number }>(
          api.call('GET', `/v1/devices?selector=${encodeURIComponent(selector)}`, {
            token: api.adminToken,
          }),
        )
      ).devices.map((d) => d.id);
    expect(await ids('site=berlin')).toEqual(['a', 'b']);
    expect(await ids('site=berlin,hw in (rpi5)')).toEqual(['b']);
    expect(await ids('hw notin (jetson)')).toEqual(['b', 'c']);
    const bad = await api.call('GET', '/v1/devices?selector=a%20b', { token: api.adminToken });
    expect(bad.status).toBe(400);
  });

  it('relabels a device', async () => {
    await fleet();
    const r = await api.call('PUT', '/v1/devices/c/labels', {
      token: api.adminToken,
      body: { labels: { site: 'berlin' } },
    });
    expect(r.status).toBe(200);
    expect((await json<{ labels: object }>(r)).labels).toEqual({ site: 'berlin' });
  });

  it('decommissions a device: its credentials stop working and its session is closed', async () => {
    const tokens = await fleet();
    expect(await api.services.authenticator.verifyDevice('a', tokens.a!)).toBe(true);
    const r = await api.call('POST', '/v1/devices/a/decommission', { token: api.adminToken });
    expect(r.status).toBe(200);
    expect(await api.services.authenticator.verifyDevice('a', tokens.a!)).toBe(false);
    expect(api.disconnected).toEqual(['a']);
    const list = await json<{ devices: { id: string }[] }>(
      api.call('GET', '/v1/devices', { token: api.adminToken }),
    );
    expect(list.devices.map((d) => d.id)).toEqual(['b', 'c']);
  });
});

describe('artifacts', () => {
  it('serves an artifact to a device with ETag, Range and HEAD', async () => {
    const t = await enrollmentToken();
    const { deviceId, deviceToken } = await json<{ deviceId: string; deviceToken: string }>(
      enroll(t),
    );
    const bytes = new TextEncoder().encode('0123456789abcdef');
    const { sha256 } = await api.services.artifacts.putBytes(bytes);
    expect(sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    const basic: [string, string] = [deviceId, deviceToken];

    const full = await api.call('GET', `/v1/artifacts/${sha256}`, { basic });
    expect(full.status).toBe(200);
    expect(full.headers.get('etag')).toBe(`"${sha256}"`);
    expect(await full.text()).toBe('0123456789abcdef');

    const part = await api.call('GET', `/v1/artifacts/${sha256}`, {
      basic,
      headers: { range: 'bytes=10-' },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 10-15/16');
    expect(await part.text()).toBe('abcdef');

    const head = await api.call('HEAD', `/v1/artifacts/${sha256}`, { basic });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('16');

    const outside = await api.call('GET', `/v1/artifacts/${sha256}`, {
      basic,
      headers: { range: 'bytes=16-' },
    });
    expect(outside.status).toBe(416);
  });

  it('refuses anonymous and wrong device credentials, and answers 404 for unknown hashes', async () => {
    const { sha256 } = await api.services.artifacts.putBytes(new Uint8Array([1, 2, 3]));
    expect((await api.call('GET', `/v1/artifacts/${sha256}`)).status).toBe(401);
    expect(
      (await api.call('GET', `/v1/artifacts/${sha256}`, { basic: ['ghost', 'nope'] })).status,
    ).toBe(401);
    expect(
      (await api.call('GET', `/v1/artifacts/${'0'.repeat(64)}`, { token: api.adminToken })).status,
    ).toBe(404);
    expect(
      (await api.call('GET', '/v1/artifacts/not-a-hash', { token: api.adminToken })).status,
    ).toBe(400);
  });
});
