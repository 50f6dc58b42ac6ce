import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  canonicalize,
  createRoot,
  decodeMessage,
  generateSigningKey,
  initTrustState,
  signRoot,
  TRUST_ROOT_TOPIC,
  updateRoot,
  type Root,
  type SigningKey,
} from '@edgefleet/protocol';
import { readdir, readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeSigningKeyFile } from '@edgefleet/protocol';
import { createTestApi, type TestApi } from './services.test-support.js';
import { tokenRoutes } from './tokens.js';
import { trustRoutes } from './trust.js';

let api: TestApi;
beforeEach(async () => {
  api = await createTestApi((s) => [...tokenRoutes(s), ...trustRoutes(s)]);
});
afterEach(async () => {
  await api.close();
});

const enc = (s: string) => new TextEncoder().encode(s);

/** The private keys the keyring wrote to its data dir, by role. */
async function heldKeys(dataDir: string): Promise<Record<string, SigningKey[]>> {
  const dir = join(dataDir, 'keys');
  const out: Record<string, SigningKey[]> = {};
  for (const f of await readdir(dir)) {
    const k = decodeSigningKeyFile(await readFile(join(dir, f), 'utf8'));
    if (!k.ok) throw new Error(k.message);
    (out[f.split('-')[0]!] ??= []).push(k.value);
  }
  return out;
}

function dataDirOf(): string {
  // The artifact store lives at <dataDir>/artifacts.
  return join(api.services.artifacts.path('0'.repeat(64)), '..', '..', '..');
}

describe('trust root', () => {
  it('creates a verifiable 1-of-1 root on first start, with private keys in 0600 files', async () => {
    const r = await api.call('GET', '/v1/trust/root');
    expect(r.status).toBe(200);
    const text = await r.text();
    const state = initTrustState(enc(text));
    expect(state.ok).toBe(true);
    const dir = join(dataDirOf(), 'keys');
    for (const f of await readdir(dir)) expect((await stat(join(dir, f))).mode & 0o777).toBe(0o600);
  });

  it('accepts root N+1 signed by the old root key and a threshold of new offline keys, and publishes it retained', async () => {
    const held = await heldKeys(dataDirOf());
    const current = api.services.keyring.currentRoot().root;
    const offline = [generateSigningKey(), generateSigningKey(), generateSigningKey()];
    const next = createRoot({
      version: 2,
      expires: '2099-01-01T00:00:00Z',
      roles: {
        root: { keys: offline.map((k) => k.publicKey), threshold: 2 },
        release: {
          keys: current.roles.release.keyids.map((id) => current.keys[id]!),
          threshold: 1,
        },
        deploy: { keys: current.roles.deploy.keyids.map((id) => current.keys[id]!), threshold: 1 },
      },
    });
    const signed = canonicalize(signRoot(next, [...held.root!, offline[0]!, offline[2]!]));
    const r = await api.call('POST', '/v1/trust/root', { token: api.adminToken, body: signed });
    expect(r.status, await r.clone().text()).toBe(200);
    expect(await r.json()).toEqual({ version: 2 });
    expect(api.services.keyring.currentRoot().version).toBe(2);
    const msg = api.published.find((p) => p.topic === TRUST_ROOT_TOPIC)!;
    expect(msg.retain).toBe(true);
    const decoded = decodeMessage('trust_root', enc(msg.payload));
    expect(decoded.ok && decoded.value.roots).toEqual([signed]);

    // The root is offline now: rotating the deploy key drafts root 3 for the offline holders to sign.
    const rotate = await api.call('POST', '/v1/trust/rotate', {
      token: api.adminToken,
      body: { role: 'deploy' },
    });
    expect(rotate.status).toBe(200);
    const drafted = (await rotate.json()) as {
      version: number;
      keyid: string;
      published: boolean;
      draft: { signed: Root; signatures: unknown[] };
    };
    expect(drafted).toMatchObject({ version: 3, published: false, draft: { signatures: [] } });
    expect(drafted.draft.signed.roles.deploy.keyids).toEqual([drafted.keyid]);
    expect(api.services.keyring.currentRoot().version).toBe(2); // nothing published yet
    const root3 = canonicalize(signRoot(drafted.draft.signed, [offline[0]!, offline[1]!]));
    const pushed = await api.call('POST', '/v1/trust/root', { token: api.adminToken, body: root3 });
    expect(pushed.status, await pushed.clone().text()).toBe(200);
    // The control plane holds the new deploy key and signs with it.
    expect(api.services.keyring.signingKeys('deploy').map((k) => k.keyid)).toEqual([drafted.keyid]);
  });

  it('refuses root N+1 that the new keys did not sign (422), and non-canonical bytes (400)', async () => {
    const held = await heldKeys(dataDirOf());
    const current = api.services.keyring.currentRoot().root;
    const offline = [generateSigningKey(), generateSigningKey()];
    const next = createRoot({
      version: 2,
      expires: '2099-01-01T00:00:00Z',
      roles: {
        root: { keys: offline.map((k) => k.publicKey), threshold: 2 },
        release: {
          keys: current.roles.release.keyids.map((id) => current.keys[id]!),
          threshold: 1,
        },
        deploy: { keys: current.roles.deploy.keyids.map((id) => current.keys[id]!), threshold: 1 },
      },
    });
    const onlyOld = canonicalize(signRoot(next, held.root!));
    const r = await api.call('POST', '/v1/trust/root', { token: api.adminToken, body: onlyOld });
    expect(r.status).toBe(422);
    expect(await r.json()).toMatchObject({ error: { code: 'EF_SIGNATURE_INVALID' } });
    const pretty = JSON.stringify(signRoot(next, [...held.root!, ...offline]), null, 2);
    expect(
      (await api.call('POST', '/v1/trust/root', { token: api.adminToken, body: pretty })).status,
    ).toBe(400);
    expect(api.services.keyring.currentRoot().version).toBe(1);
  });

  it('refuses a root upload from a deployer (403)', async () => {
    const t = await api.call('POST', '/v1/tokens', {
      token: api.adminToken,
      body: { name: 'd', role: 'deployer' },
    });
    const { token } = (await t.json()) as { token: string };
    expect((await api.call('POST', '/v1/trust/root', { token, body: '{}' })).status).toBe(403);
  });

  it('rotates the deploy key: devices walking the chain accept the new root and reset their directive counter', async () => {
    const before = api.services.keyring.currentRoot();
    const device = initTrustState(enc(before.text));
    if (!device.ok) throw new Error(device.message);
    const advanced = { ...device.value, directiveCounter: 41 };
    const r = await api.call('POST', '/v1/trust/rotate', {
      token: api.adminToken,
      body: { role: 'deploy' },
    });
    expect(r.status).toBe(200);
    const after = api.services.keyring.currentRoot();
    expect(after.version).toBe(2);
    expect(after.root.roles.deploy.keyids).not.toEqual(before.root.roles.deploy.keyids);
    const walked = updateRoot(advanced, enc(after.text), Date.now());
    expect(walked.ok && walked.value.directiveCounter).toBe(0);
    expect(api.services.keyring.signingKeys('deploy')[0]!.keyid).toBe(
      after.root.roles.deploy.keyids[0],
    );
  });
});
