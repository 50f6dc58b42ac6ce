/**
 * The store suite: every case runs against PGlite (in memory, always) and against PostgreSQL when
 * DATABASE_URL is set (in a fresh `ef_test_<random>` database on that server, dropped afterwards).
 * Cases share one database per backend and keep apart by unique names, as concurrent requests would.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgefleetError } from '@edgefleet/protocol';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordArtifact, getArtifact } from './artifacts.js';
import { appendAudit, listAudit } from './audit.js';
import type { Database } from './database.js';
import {
  countDevices,
  createDevice,
  decommissionDevice,
  enrollDevice,
  getDevice,
  listDevices,
  nextDirectiveCounter,
  nextDirectiveCounters,
  setDeviceLabels,
  touchDevice,
} from './devices.js';
import { sqlStateOf } from './errors.js';
import { getMeta, setMeta, setMetaIfAbsent } from './meta.js';
import {
  createModel,
  createModelVersion,
  getModelVersion,
  listModels,
  listModelVersions,
} from './models.js';
import { MIGRATIONS_FOLDER, openDatabase, type OpenedDatabase } from './open.js';
import { createRelease, latestRelease, listReleases, nextReleaseCounter } from './releases.js';
import { modelVersions, type LabelPredicate, type Labels } from './schema.js';
import {
  addDeviceToken,
  consumeEnrollmentToken,
  createEnrollmentToken,
  createOperatorToken,
  findActiveOperatorToken,
  getEnrollmentToken,
  hashToken,
  listActiveDeviceTokens,
  revokeEnrollmentToken,
  revokeOperatorToken,
} from './tokens.js';
import {
  addSigningKey,
  appendTrustRoot,
  listSigningKeys,
  listTrustRoots,
  retireSigningKey,
} from './trust.js';
import { createScratchDatabase } from './scratch-database.test-support.js';

const DATABASE_URL = process.env.DATABASE_URL;

const uid = (): string => randomBytes(5).toString('hex');
const sha = (seed: string): string => hashToken(seed);
const HOUR = 3_600_000;

/** Resolve to the rejection of `p` (fails the test if it fulfils). */
async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function journalLength(): Promise<number> {
  const journal = JSON.parse(
    await readFile(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8'),
  ) as { entries: unknown[] };
  return journal.entries.length;
}

async function appliedMigrations(db: Database): Promise<number> {
  return db.$count(sql`drizzle.__drizzle_migrations`);
}

async function seedModelVersion(db: Database, model: string, version = '1.0.0') {
  const artifact = await recordArtifact(db, {
    sha256: sha(`${model}@${version}`),
    length: 1234,
    mediaType: 'application/onnx',
  });
  return createModelVersion(db, {
    modelName: model,
    version,
    artifactSha256: artifact.sha256,
    inspection: { opset: 17, inputs: [{ name: 'x', type: 'float32', shape: [1, 4] }] },
    metadata: { framework: 'sklearn', metrics: { accuracy: 0.97 }, notes: 'first' },
  });
}

function newDevice(id: string, labels: Labels = {}) {
  return {
    id,
    hardwareClass: 'rpi4',
    os: 'linux',
    arch: 'arm64',
    ortVersion: '1.20.0',
    executionProviders: ['cpu'],
    labels,
  };
}

interface SuiteDatabase {
  store: OpenedDatabase;
  dispose: () => Promise<void>;
}

/** The store cases, against whatever database `open` gives. */
function storeSuite(open: () => Promise<SuiteDatabase>) {
  let store: OpenedDatabase;
  let dispose: () => Promise<void> = () => Promise.resolve();
  const db = (): Database => store.db;

  beforeAll(async () => {
    ({ store, dispose } = await open());
  });
  afterAll(async () => {
    await dispose();
  });

  it('applies every migration exactly once, and re-applying is a no-op', async () => {
    const expected = await journalLength();
    expect(await appliedMigrations(db())).toBe(expected);
    await store.migrate();
    await store.migrate();
    expect(await appliedMigrations(db())).toBe(expected);
    expect(await countDevices(db(), { status: 'all' })).toBeGreaterThanOrEqual(0);
  });

  it('keeps model versions immutable', async () => {
    const model = `m-${uid()}`;
    const v1 = await seedModelVersion(db(), model);
    expect(v1.metadata).toEqual({
      framework: 'sklearn',
      metrics: { accuracy: 0.97 },
      notes: 'first',
    });

    const again = await rejectionOf(seedModelVersion(db(), model));
    expect(again).toBeInstanceOf(EdgefleetError);
    expect(again).toMatchObject({ code: 'EF_CONFLICT', details: { model, version: '1.0.0' } });

    const update = await rejectionOf(
      db()
        .update(modelVersions)
        .set({ metadata: { notes: 'rewritten' } })
        .where(eq(modelVersions.modelName, model)),
    );
    expect(sqlStateOf(update)).toBe('55000');
    expect((await getModelVersion(db(), model, '1.0.0'))?.metadata.notes).toBe('first');

    expect((await listModelVersions(db(), model)).map((v) => v.version)).toEqual(['1.0.0']);
    expect((await listModels(db())).map((m) => m.name)).toContain(model);
    await expect(createModel(db(), { name: model })).rejects.toMatchObject({
      code: 'EF_CONFLICT',
    });
    await expect(listModelVersions(db(), `missing-${uid()}`)).rejects.toMatchObject({
      code: 'EF_NOT_FOUND',
    });
  });

  it('refuses a model version whose artifact was never recorded', async () => {
    await expect(
      createModelVersion(db(), {
        modelName: `m-${uid()}`,
        version: '1',
        artifactSha256: sha(uid()),
        inspection: {},
      }),
    ).rejects.toMatchObject({ code: 'EF_NOT_FOUND' });
  });

  it('records artifacts idempotently by sha256', async () => {
    const hash = sha(uid());
    const first = await recordArtifact(db(), { sha256: hash, length: 10, mediaType: 'x' });
    const second = await recordArtifact(db(), { sha256: hash, length: 10, mediaType: 'x' });
    expect(second).toEqual(first);
    expect(await getArtifact(db(), hash)).toEqual(first);
    await expect(
      recordArtifact(db(), { sha256: hash, length: 11, mediaType: 'x' }),
    ).rejects.toMatchObject({ code: 'EF_CONFLICT' });
    await expect(
      recordArtifact(db(), { sha256: 'NOT-A-HASH', length: 1, mediaType: 'x' }),
    ).rejects.toMatchObject({ code: 'EF_BAD_REQUEST' });
  });

  it('hands out unique, increasing release counters to 20 concurrent callers', async () => {
    const model = `m-${uid()}`;
    await seedModelVersion(db(), model);
    const create = (tag: string) =>
      createRelease(db(), {
        modelName: model,
        modelVersion: '1.0.0',
        build: (counter) => ({
          releaseId: `${model}-${tag}-${counter}`,
          envelope: JSON.stringify({ signed: { releaseCounter: counter }, signatures: [] }),
          sha256: sha(`${model}-${counter}`),
          expiresAt: new Date(Date.now() + HOUR),
        }),
      });

    const created = await Promise.all(Array.from({ length: 20 }, (_, i) => create(`r${i}`)));
    const counters = created.map((r) => r.releaseCounter).sort((a, b) => a - b);
    expect(counters).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    const listed = await listReleases(db(), { modelName: model });
    expect(listed.map((r) => r.releaseCounter)).toEqual([...counters].reverse());
    expect((await latestRelease(db(), model))?.releaseCounter).toBe(20);

    const allocated = await Promise.all(
      Array.from({ length: 20 }, () => nextReleaseCounter(db(), model)),
    );
    expect(new Set(allocated).size).toBe(20);
    expect(Math.min(...allocated)).toBe(21);
    expect(Math.max(...allocated)).toBe(40);

    // A release that fails to build does not spend its counter.
    await expect(
      createRelease(db(), {
        modelName: model,
        modelVersion: '1.0.0',
        build: () => {
          throw new Error('signing failed');
        },
      }),
    ).rejects.toThrow('signing failed');
    expect((await create('after')).releaseCounter).toBe(41);

    await expect(
      createRelease(db(), {
        modelName: model,
        modelVersion: '9.9.9',
        build: (counter) => ({
          releaseId: `${model}-missing-${counter}`,
          envelope: '{}',
          sha256: sha('x'),
          expiresAt: new Date(),
        }),
      }),
    ).rejects.toMatchObject({ code: 'EF_NOT_FOUND' });
  });

  it('never lets an enrollment token exceed its max uses under concurrency', async () => {
    const token = `enroll-${uid()}`;
    const suite = uid();
    await createEnrollmentToken(db(), {
      id: `et-${suite}`,
      tokenHash: hashToken(token),
      labels: { suite, site: 'lab' },
      maxUses: 5,
      expiresAt: new Date(Date.now() + HOUR),
    });

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        enrollDevice(db(), {
          enrollmentTokenHash: hashToken(token),
          device: newDevice(`dev-${suite}-${i}`, { site: 'home', mine: 'yes' }),
          deviceTokenHash: `$7$101$salt${i}$hash${i}`,
        }),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    expect(results.flatMap((r) => (r.ok ? [] : [r.reason]))).toEqual(
      Array.from({ length: 15 }, () => 'exhausted'),
    );
    expect((await getEnrollmentToken(db(), `et-${suite}`))?.uses).toBe(5);

    const enrolled = await listDevices(db(), {
      selector: [{ key: 'suite', op: '=', values: [suite] }],
    });
    expect(enrolled).toHaveLength(5);
    // The token's labels win over the ones the device brings.
    expect(enrolled[0]!.labels).toEqual({ suite, site: 'lab', mine: 'yes' });
    expect(await listActiveDeviceTokens(db(), enrolled[0]!.id)).toHaveLength(1);
  });

  it('does not spend an enrollment use when enrolling fails', async () => {
    const token = `enroll-${uid()}`;
    const id = `et-${uid()}`;
    const deviceId = `dev-${uid()}`;
    await createDevice(db(), newDevice(deviceId));
    await createEnrollmentToken(db(), {
      id,
      tokenHash: hashToken(token),
      maxUses: 1,
      expiresAt: new Date(Date.now() + HOUR),
    });
    await expect(
      enrollDevice(db(), {
        enrollmentTokenHash: hashToken(token),
        device: newDevice(deviceId),
        deviceTokenHash: '$7$x',
      }),
    ).rejects.toMatchObject({ code: 'EF_CONFLICT' });
    expect((await getEnrollmentToken(db(), id))?.uses).toBe(0);
  });

  it('says why an enrollment token cannot be used', async () => {
    const now = new Date();
    const expired = `t-${uid()}`;
    const revoked = `t-${uid()}`;
    await createEnrollmentToken(db(), {
      id: expired,
      tokenHash: hashToken(expired),
      maxUses: 3,
      expiresAt: new Date(now.getTime() - 1000),
    });
    await createEnrollmentToken(db(), {
      id: revoked,
      tokenHash: hashToken(revoked),
      maxUses: 3,
      expiresAt: new Date(now.getTime() + HOUR),
    });
    await revokeEnrollmentToken(db(), revoked);
    expect(await consumeEnrollmentToken(db(), hashToken(expired), now)).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(await consumeEnrollmentToken(db(), hashToken(revoked), now)).toEqual({
      ok: false,
      reason: 'revoked',
    });
    expect(await consumeEnrollmentToken(db(), hashToken(uid()), now)).toEqual({
      ok: false,
      reason: 'unknown',
    });
  });

  it('filters devices by label selector (=, !=, in, notin, exists, !exists)', async () => {
    const suite = uid();
    const d = (n: number) => `sel-${suite}-${n}`;
    await createDevice(db(), newDevice(d(1), { suite, env: 'prod', region: 'eu' }));
    await createDevice(db(), newDevice(d(2), { suite, env: 'prod', region: 'us' }));
    await createDevice(db(), newDevice(d(3), { suite, env: 'staging', region: 'eu', canary: 'y' }));
    await createDevice(db(), newDevice(d(4), { suite, region: 'ap', "team/o'brien": 'a"b' }));

    const ids = async (...terms: LabelPredicate[]) => {
      const selector = [{ key: 'suite', op: '=' as const, values: [suite] }, ...terms];
      const found = (await listDevices(db(), { selector })).map((x) => x.id);
      expect(await countDevices(db(), { selector })).toBe(found.length);
      return found;
    };
    const sel = (key: string, op: LabelPredicate['op'], ...values: string[]): LabelPredicate => ({
      key,
      op,
      values,
    });

    expect(await ids()).toEqual([d(1), d(2), d(3), d(4)]);
    expect(await ids(sel('env', '=', 'prod'))).toEqual([d(1), d(2)]);
    expect(await ids(sel('env', '!=', 'prod'))).toEqual([d(3), d(4)]);
    expect(await ids(sel('region', 'in', 'eu', 'ap'))).toEqual([d(1), d(3), d(4)]);
    expect(await ids(sel('region', 'notin', 'eu'))).toEqual([d(2), d(4)]);
    expect(await ids(sel('env', 'notin', 'prod', 'staging'))).toEqual([d(4)]);
    expect(await ids(sel('canary', 'exists'))).toEqual([d(3)]);
    expect(await ids(sel('canary', '!exists'))).toEqual([d(1), d(2), d(4)]);
    expect(await ids(sel('env', '=', 'prod'), sel('region', '=', 'eu'))).toEqual([d(1)]);
    expect(await ids(sel('region', 'in'))).toEqual([]);
    expect(await ids(sel("team/o'brien", '=', 'a"b'))).toEqual([d(4)]);

    await expect(ids(sel('env', '=', 'a', 'b'))).rejects.toMatchObject({ code: 'EF_BAD_REQUEST' });

    await setDeviceLabels(db(), d(4), { suite, env: 'prod' });
    expect(await ids(sel('env', '=', 'prod'))).toEqual([d(1), d(2), d(4)]);
    await expect(setDeviceLabels(db(), `nope-${suite}`, {})).rejects.toMatchObject({
      code: 'EF_NOT_FOUND',
    });

    const page = await listDevices(db(), { selector: [sel('suite', '=', suite)], limit: 2 });
    expect(page.map((x) => x.id)).toEqual([d(1), d(2)]);
    const next = await listDevices(db(), {
      selector: [sel('suite', '=', suite)],
      after: page[1]!.id,
      limit: 2,
    });
    expect(next.map((x) => x.id)).toEqual([d(3), d(4)]);
  });

  it('refuses device ids that could reach an MQTT topic as wildcards', async () => {
    await expect(createDevice(db(), newDevice('a/+/#'))).rejects.toMatchObject({
      code: 'EF_BAD_REQUEST',
    });
  });

  it('decommissions a device: out of selectors, offline, credentials revoked', async () => {
    const id = `dec-${uid()}`;
    await createDevice(db(), { ...newDevice(id, { decom: id }), online: true });
    await addDeviceToken(db(), id, '$7$101$a$b');
    const at = new Date('2030-01-02T03:04:05.678Z');

    const gone = await decommissionDevice(db(), id, at);
    expect(gone).toMatchObject({ status: 'decommissioned', online: false, decommissionedAt: at });
    expect(await listActiveDeviceTokens(db(), id)).toEqual([]);
    const selector = [{ key: 'decom', op: '=' as const, values: [id] }];
    expect(await listDevices(db(), { selector })).toEqual([]);
    expect((await listDevices(db(), { selector, status: 'all' })).map((x) => x.id)).toEqual([id]);
    expect(await touchDevice(db(), id, { online: true })).toBe(false);
    expect((await getDevice(db(), id))?.online).toBe(false);

    const again = await decommissionDevice(db(), id, new Date('2031-01-01T00:00:00Z'));
    expect(again.decommissionedAt).toEqual(at);
    await expect(decommissionDevice(db(), `nope-${uid()}`)).rejects.toMatchObject({
      code: 'EF_NOT_FOUND',
    });
  });

  it('keeps last-seen monotonic and tracks presence', async () => {
    const id = `seen-${uid()}`;
    await createDevice(db(), newDevice(id));
    const t2 = new Date('2030-01-01T00:00:02Z');
    expect(await touchDevice(db(), id, { at: t2, online: true })).toBe(true);
    await touchDevice(db(), id, { at: new Date('2030-01-01T00:00:01Z') });
    expect(await getDevice(db(), id)).toMatchObject({ lastSeenAt: t2, online: true });
  });

  it('hands out per-device directive counters atomically', async () => {
    const id = `dir-${uid()}`;
    await createDevice(db(), newDevice(id));
    const counters = await Promise.all(
      Array.from({ length: 10 }, () => nextDirectiveCounter(db(), id)),
    );
    expect([...counters].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    await expect(nextDirectiveCounter(db(), `nope-${uid()}`)).rejects.toMatchObject({
      code: 'EF_NOT_FOUND',
    });
  });

  it('hands out the next directive counters of many devices in one call', async () => {
    const a = `dirs-a-${uid()}`;
    const b = `dirs-b-${uid()}`;
    await createDevice(db(), newDevice(a));
    await createDevice(db(), newDevice(b));
    await nextDirectiveCounter(db(), a);
    await nextDirectiveCounter(db(), a);
    expect(await nextDirectiveCounters(db(), [a, b, a])).toEqual(
      new Map([
        [a, 3],
        [b, 1],
      ]),
    );
    // Bulk and single calls share one sequence per device.
    expect(await nextDirectiveCounter(db(), b)).toBe(2);
    expect(await nextDirectiveCounters(db(), [])).toEqual(new Map());
    await expect(nextDirectiveCounters(db(), [a, `nope-${uid()}`])).rejects.toMatchObject({
      code: 'EF_NOT_FOUND',
    });
  });

  it('pages the audit log newest first', async () => {
    const actor = `op-${uid()}`;
    for (let i = 0; i < 25; i++) {
      await appendAudit(db(), {
        actor,
        action: 'devices.relabel',
        target: `devices/d${i}`,
        outcome: i % 5 === 0 ? 'denied' : 'success',
        details: { i },
      });
    }
    const seen: number[] = [];
    let before: number | undefined;
    const sizes: number[] = [];
    do {
      const page = await listAudit(db(), { actor, limit: 10, before });
      sizes.push(page.entries.length);
      seen.push(...page.entries.map((e) => e.details.i as number));
      before = page.nextBefore;
    } while (before !== undefined);
    expect(sizes).toEqual([10, 10, 5]);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => 24 - i));
    const denied = await listAudit(db(), { actor, target: 'devices/d5' });
    expect(denied.entries).toMatchObject([{ outcome: 'denied', action: 'devices.relabel' }]);
    expect(denied.nextBefore).toBeUndefined();
  });

  it('stores operator tokens by hash and honours expiry and revocation', async () => {
    const secret = `efo_${uid()}`;
    const id = `ot-${uid()}`;
    const now = new Date();
    await createOperatorToken(db(), {
      id,
      tokenHash: hashToken(secret),
      name: 'ci',
      role: 'deployer',
      expiresAt: new Date(now.getTime() + HOUR),
    });
    expect(await findActiveOperatorToken(db(), hashToken(secret), now)).toMatchObject({
      id,
      role: 'deployer',
    });
    expect(
      await findActiveOperatorToken(db(), hashToken(secret), new Date(now.getTime() + 2 * HOUR)),
    ).toBeUndefined();
    await revokeOperatorToken(db(), id);
    expect(await findActiveOperatorToken(db(), hashToken(secret), now)).toBeUndefined();
  });

  it('appends trust roots only as N+1 and tracks signing keys', async () => {
    const latest = (await listTrustRoots(db())).at(-1)?.version ?? 0;
    await appendTrustRoot(db(), { version: latest + 1, envelope: '{"signed":{}}' });
    await expect(
      appendTrustRoot(db(), { version: latest + 3, envelope: '{}' }),
    ).rejects.toMatchObject({ code: 'EF_ROOT_VERSION_INVALID' });
    expect((await listTrustRoots(db(), latest)).map((r) => r.version)).toEqual([latest + 1]);

    const keyid = sha(uid());
    await addSigningKey(db(), {
      keyid,
      role: 'deploy',
      publicKey: { keytype: 'ed25519', keyval: { public: 'ab' } },
      privateKeyRef: `keys/${keyid}.json`,
    });
    await expect(
      addSigningKey(db(), { keyid, role: 'deploy', publicKey: {} }),
    ).rejects.toMatchObject({ code: 'EF_CONFLICT' });
    expect((await listSigningKeys(db(), { role: 'deploy' })).map((k) => k.keyid)).toContain(keyid);
    await retireSigningKey(db(), keyid);
    expect((await listSigningKeys(db(), { role: 'deploy' })).map((k) => k.keyid)).not.toContain(
      keyid,
    );
  });

  it('keeps meta values, first writer wins with setMetaIfAbsent', async () => {
    const key = `k-${uid()}`;
    expect(await setMetaIfAbsent(db(), key, { a: 1 })).toBe(true);
    expect(await setMetaIfAbsent(db(), key, { a: 2 })).toBe(false);
    expect(await getMeta(db(), key)).toEqual({ a: 1 });
    await setMeta(db(), key, [1, 'two']);
    expect(await getMeta(db(), key)).toEqual([1, 'two']);
  });
}

describe('store on PGlite (in memory)', () => {
  storeSuite(async () => {
    const store = await openDatabase();
    expect(store.kind).toBe('pglite');
    return { store, dispose: () => store.close() };
  });
});

describe.skipIf(DATABASE_URL === undefined)(
  `store on PostgreSQL${DATABASE_URL === undefined ? ' (skipped: set DATABASE_URL to run)' : ''}`,
  () => {
    storeSuite(async () => {
      const scratch = await createScratchDatabase(DATABASE_URL!);
      // Two replicas starting together: the advisory lock lets the migrations run once.
      const [store, twin] = await Promise.all([
        openDatabase({ databaseUrl: scratch.url }),
        openDatabase({ databaseUrl: scratch.url }),
      ]);
      await twin.close();
      expect(store.kind).toBe('postgres');
      return {
        store,
        dispose: async () => {
          await store.close();
          await scratch.drop();
        },
      };
    });
  },
);

describe('openDatabase', () => {
  it('keeps PGlite data in <dataDir>/pgdata across reopen', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ef-db-'));
    try {
      const first = await openDatabase({ dataDir });
      try {
        await seedModelVersion(first.db, 'persisted');
        await expect(openDatabase({ dataDir })).rejects.toMatchObject({ code: 'EF_CONFLICT' });
      } finally {
        await first.close();
      }
      const second = await openDatabase({ dataDir });
      try {
        expect(await getModelVersion(second.db, 'persisted', '1.0.0')).toMatchObject({
          artifactSha256: sha('persisted@1.0.0'),
        });
        expect(await appliedMigrations(second.db)).toBe(await journalLength());
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('fails with EF_DATABASE_UNAVAILABLE (database_unreachable) when PostgreSQL cannot be reached', async () => {
    const err = await rejectionOf(
      openDatabase({
        databaseUrl: 'postgres://nobody:secret@127.0.0.1:1/edgefleet',
        connectTimeoutSeconds: 2,
      }),
    );
    expect(err).toBeInstanceOf(EdgefleetError);
    expect(err).toMatchObject({
      code: 'EF_DATABASE_UNAVAILABLE',
      details: { reason: 'database_unreachable', at: '127.0.0.1:1/edgefleet' },
    });
    expect((err as Error).message).not.toContain('secret');
  });
});
