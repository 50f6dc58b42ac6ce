import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkDiskSpace, type DiskSpaceProbe } from './disk-space.js';
import { SlotStore, type ReleaseFiles, type SlotName } from './slots.js';

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'ef-slots-'));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

let tick = 0;
const clock = () => new Date(Date.UTC(2026, 0, 1, 0, 0, tick++));
const plentyOfSpace: DiskSpaceProbe = () =>
  Promise.resolve({ availableBytes: 1e12, totalBytes: 2e12 });
const open = (options: Parameters<typeof SlotStore.open>[1] = {}) =>
  SlotStore.open(stateDir, { now: clock, diskSpace: { probe: plentyOfSpace }, ...options });

function describeFiles(contents: Record<string, string>): ReleaseFiles {
  return Object.fromEntries(
    Object.entries(contents).map(([name, text]) => [
      name,
      {
        sha256: createHash('sha256').update(text).digest('hex'),
        length: Buffer.byteLength(text),
      },
    ]),
  );
}

/** Stage and activate a release the way the reconciler does; returns its slot. */
async function install(
  store: SlotStore,
  releaseId: string,
  contents: Record<string, string>,
): Promise<SlotName> {
  const prepared = await store.prepareInactiveSlot(100);
  if (!prepared.ok) throw new Error(prepared.message);
  for (const [name, text] of Object.entries(contents)) {
    await writeFile(store.filePath(prepared.value.slot, name), text);
  }
  const sealed = await store.completeSlot(prepared.value.slot, releaseId, describeFiles(contents));
  if (!sealed.ok) throw new Error(sealed.message);
  const activated = await store.activate(prepared.value.slot);
  if (!activated.ok) throw new Error(activated.message);
  return prepared.value.slot;
}

describe('SlotStore', () => {
  it('starts empty on a fresh state directory, staging into slot a', async () => {
    const store = await open();
    expect(store.recovery).toEqual([{ type: 'state_created' }]);
    expect(store.state).toMatchObject({
      activeSlot: null,
      activeRelease: null,
      previousRelease: null,
    });
    expect(store.inactiveSlot).toBe('a');
    expect(JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8'))).toMatchObject({
      v: 1,
      activeSlot: null,
    });
  });

  it('installs into the inactive slot and switches atomically, keeping the previous release', async () => {
    const store = await open();
    expect(await install(store, 'r1', { 'model.onnx': 'one' })).toBe('a');
    expect(await install(store, 'r2', { 'model.onnx': 'two' })).toBe('b');
    expect(store.state).toMatchObject({
      activeSlot: 'b',
      activeRelease: 'r2',
      previousRelease: 'r1',
    });
    expect(await store.activeInstall()).toMatchObject({ slot: 'b', releaseId: 'r2' });
    const reopened = await open();
    expect(reopened.recovery).toEqual([]);
    expect(reopened.state).toEqual(store.state);
    expect(await readFile(reopened.filePath('a', 'model.onnx'), 'utf8')).toBe('one');
  });

  it('reverts to the previous release locally and does not keep the failed one as previous', async () => {
    const store = await open();
    await install(store, 'r1', { 'model.onnx': 'one' });
    await install(store, 'r2', { 'model.onnx': 'two' });
    const reverted = await store.revertToPrevious();
    expect(reverted).toMatchObject({
      ok: true,
      value: { activeSlot: 'a', activeRelease: 'r1', previousRelease: null },
    });
    expect(await store.revertToPrevious()).toMatchObject({ ok: false, code: 'EF_CONFLICT' });
  });

  it('refuses to seal a slot whose file does not match the signed hash', async () => {
    const store = await open();
    const prepared = await store.prepareInactiveSlot(10);
    if (!prepared.ok) throw new Error(prepared.message);
    await writeFile(store.filePath('a', 'model.onnx'), 'tampered');
    const files = describeFiles({ 'model.onnx': 'original' });
    expect(await store.completeSlot('a', 'r1', files)).toMatchObject({
      ok: false,
      code: 'EF_HASH_MISMATCH',
    });
    expect(await store.activate('a')).toMatchObject({ ok: false, code: 'EF_CONFLICT' });
  });

  it('refuses to seal a slot with a file of the wrong length or an unlisted file', async () => {
    const store = await open();
    await store.prepareInactiveSlot(10);
    await writeFile(store.filePath('a', 'model.onnx'), 'short');
    expect(
      await store.completeSlot('a', 'r1', describeFiles({ 'model.onnx': 'much longer' })),
    ).toMatchObject({ ok: false, code: 'EF_LENGTH_MISMATCH' });
    await writeFile(store.filePath('a', 'extra.bin'), 'x');
    expect(
      await store.completeSlot('a', 'r1', describeFiles({ 'model.onnx': 'short' })),
    ).toMatchObject({ ok: false, code: 'EF_EXTRANEOUS_FILE' });
  });

  it('refuses to rewrite the active slot', async () => {
    const store = await open();
    await install(store, 'r1', { 'model.onnx': 'one' });
    expect(await store.completeSlot('a', 'r9', {})).toMatchObject({
      ok: false,
      code: 'EF_CONFLICT',
    });
  });

  it('rejects file names that are not plain names', async () => {
    const store = await open();
    expect(() => store.filePath('a', '../state.json')).toThrow(TypeError);
    expect(() => store.filePath('a', '..')).toThrow(TypeError);
  });

  it('discards a half-written slot on start and keeps the active release', async () => {
    const store = await open();
    await install(store, 'r1', { 'model.onnx': 'one' });
    const prepared = await store.prepareInactiveSlot(10);
    if (!prepared.ok) throw new Error(prepared.message);
    await writeFile(store.filePath('b', 'model.onnx'), 'half of a mod'); // crash: no marker
    const reopened = await open();
    expect(reopened.recovery).toEqual([
      { type: 'discarded_slot', slot: 'b', reason: expect.stringContaining('slot b') },
    ]);
    expect(await readdir(reopened.filesDir('b'))).toEqual([]);
    expect(reopened.state).toMatchObject({ activeSlot: 'a', activeRelease: 'r1' });
  });

  it('keeps a download cut by a restart and resumes it for the same release only', async () => {
    const store = await open();
    await install(store, 'r1', { 'model.onnx': 'one' });
    const doc = '{"releaseId":"r2"}';
    const resume = { releaseDocument: doc, files: ['model.onnx', 'profile.json'] };
    const prepared = await store.prepareInactiveSlot(10, resume);
    if (!prepared.ok) throw new Error(prepared.message);
    expect(prepared.value).toMatchObject({ slot: 'b', resumed: false });
    await writeFile(store.releaseDocumentPath('b'), doc);
    await writeFile(store.filePath('b', 'model.onnx'), 'half of a mod'); // crash: no marker
    await writeFile(store.filePath('b', 'stray.bin'), 'not listed');

    const reopened = await open();
    expect(reopened.recovery).toEqual([{ type: 'kept_partial_download', slot: 'b' }]);
    expect(reopened.state).toMatchObject({ activeSlot: 'a', activeRelease: 'r1' });
    const again = await reopened.prepareInactiveSlot(10, resume);
    expect(again).toMatchObject({ ok: true, value: { slot: 'b', resumed: true } });
    // The partial file stays; what the release does not list goes.
    expect(await readdir(reopened.filesDir('b'))).toEqual(['model.onnx']);
    expect(await readFile(reopened.filePath('b', 'model.onnx'), 'utf8')).toBe('half of a mod');

    // Another release (a different document) starts from an empty slot.
    const other = await reopened.prepareInactiveSlot(10, { ...resume, releaseDocument: '{}' });
    expect(other).toMatchObject({ ok: true, value: { resumed: false } });
    expect(await readdir(reopened.filesDir('b'))).toEqual([]);
  });

  it('discards a sealed slot that was never activated (crash before the switch)', async () => {
    const store = await open();
    await install(store, 'r1', { 'model.onnx': 'one' });
    await store.prepareInactiveSlot(10);
    await writeFile(store.filePath('b', 'model.onnx'), 'two');
    await store.completeSlot('b', 'r2', describeFiles({ 'model.onnx': 'two' }));
    const reopened = await open();
    expect(reopened.recovery.map((a) => a.type)).toEqual(['discarded_slot']);
    expect(reopened.state).toMatchObject({ activeSlot: 'a', activeRelease: 'r1' });
  });

  it('falls back to the previous release when the active slot was damaged', async () => {
    const store = await open();
    await install(store, 'r1', { 'model.onnx': 'one' });
    await install(store, 'r2', { 'model.onnx': 'two' });
    await writeFile(store.filePath('b', 'model.onnx'), 'tw0'); // same length, other bytes
    const reopened = await open();
    expect(reopened.recovery[0]).toMatchObject({
      type: 'reverted_to_previous',
      slot: 'a',
      releaseId: 'r1',
      reason: expect.stringContaining('sha256'),
    });
    expect(reopened.recovery[1]).toMatchObject({ type: 'discarded_slot', slot: 'b' });
    expect(reopened.state).toMatchObject({
      activeSlot: 'a',
      activeRelease: 'r1',
      previousRelease: null,
    });
  });

  it('catches a truncated active file even when only lengths are verified', async () => {
    const store = await open();
    await install(store, 'r1', { 'model.onnx': 'one' });
    await writeFile(store.filePath('a', 'model.onnx'), 'on');
    const reopened = await open({ verify: 'lengths' });
    expect(reopened.recovery[0]).toMatchObject({ type: 'active_invalid', slot: 'a' });
    expect(reopened.state).toMatchObject({ activeSlot: null, activeRelease: null });
  });

  it('rebuilds an unreadable state.json from the slot markers, newest install active', async () => {
    const store = await open();
    await install(store, 'r1', { 'model.onnx': 'one' });
    await install(store, 'r2', { 'model.onnx': 'two' });
    await writeFile(join(stateDir, 'state.json'), '{"v":1,"activeSl');
    const reopened = await open();
    expect(reopened.recovery[0]).toMatchObject({ type: 'state_rebuilt' });
    expect(reopened.state).toMatchObject({
      activeSlot: 'b',
      activeRelease: 'r2',
      previousRelease: 'r1',
    });
  });

  it('removes temp files left by an interrupted atomic write', async () => {
    await open();
    await writeFile(join(stateDir, '.state.json.abc123.tmp'), 'partial');
    await open();
    expect((await readdir(stateDir)).sort()).toEqual(['slots', 'state.json']);
  });

  it('fails with EF_DISK_FULL without touching the previous release', async () => {
    let available = 1e12;
    const probe: DiskSpaceProbe = () =>
      Promise.resolve({ availableBytes: available, totalBytes: 1e9 });
    const store = await open({ diskSpace: { probe, marginBytes: 0, marginFraction: 0 } });
    await install(store, 'r1', { 'model.onnx': 'one' });
    await install(store, 'r2', { 'model.onnx': 'two' });
    available = 1_000;
    const full = await store.prepareInactiveSlot(5_000);
    expect(full).toMatchObject({
      ok: false,
      code: 'EF_DISK_FULL',
      details: { neededBytes: 5_000 },
    });
    expect(store.state.previousRelease).toBe('r1');
    expect(await readFile(store.filePath('a', 'model.onnx'), 'utf8')).toBe('one');
  });

  it('counts the files of the slot about to be wiped as free space', async () => {
    const store = await open({
      diskSpace: {
        probe: () => Promise.resolve({ availableBytes: 100, totalBytes: 1e9 }),
        marginBytes: 0,
        marginFraction: 0,
      },
    });
    await writeFile(store.filePath('a', 'old.bin'), 'x'.repeat(50));
    expect((await store.prepareInactiveSlot(140)).ok).toBe(true);
    expect(await store.prepareInactiveSlot(140)).toMatchObject({ code: 'EF_DISK_FULL' });
  });
});

describe('checkDiskSpace', () => {
  const probe: DiskSpaceProbe = () =>
    Promise.resolve({ availableBytes: 1_000_000, totalBytes: 10_000_000 });

  it('keeps the larger of the fixed and the proportional margin free', async () => {
    expect(
      await checkDiskSpace('/x', 700_000, { probe, marginBytes: 100_000, marginFraction: 0.005 }),
    ).toMatchObject({ ok: true, value: { requiredBytes: 800_000 } });
    expect(
      await checkDiskSpace('/x', 700_000, { probe, marginBytes: 100_000, marginFraction: 0.05 }),
    ).toMatchObject({ ok: false, code: 'EF_DISK_FULL', details: { requiredBytes: 1_200_000 } });
  });

  it('reports a failing probe as EF_INTERNAL', async () => {
    const broken: DiskSpaceProbe = () => Promise.reject(new Error('EIO'));
    expect(await checkDiskSpace('/x', 1, { probe: broken })).toMatchObject({
      ok: false,
      code: 'EF_INTERNAL',
    });
  });

  it('reads the real file system with statfs', async () => {
    const result = await checkDiskSpace(stateDir, 1, { marginBytes: 0, marginFraction: 0 });
    expect(result.ok).toBe(true);
  });
});
