/**
 * Two model slots (A/B) under the agent's state directory, so a new release is staged beside the
 * running one and the switch between them is a single atomic file replacement.
 *
 * Layout:
 *
 *     <stateDir>/state.json              which slot is active; written atomically (the switch)
 *     <stateDir>/slots/a/files/<name>    the release files of slot a (model.onnx, profile, ...)
 *     <stateDir>/slots/a/complete.json   the marker: release id + each file's sha256 and length,
 *                                        written last, only after the files were verified
 *     <stateDir>/slots/b/...
 *
 * Invariants (ARCHITECTURE §5 step 5: a crash at any point leaves a verified model active):
 * - the active slot is never written to; new releases go to the inactive slot;
 * - a slot without a valid marker is an unfinished install and is discarded on start;
 * - `state.json` only names a slot whose marker was verified before the switch, and start-up checks
 *   the active slot again (file hashes by default) and falls back to the previous release if the
 *   active one is damaged.
 *
 * The store expects one caller at a time (the deployment reconciler serialises its steps).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fail, ok, type Failure, type Result } from '@edgefleet/protocol';
import { z } from 'zod';
import {
  errorMessage,
  fsyncDirectory,
  isErrno,
  readJsonFile,
  writeJsonFileAtomic,
} from './atomic-file.js';
import { checkDiskSpace, type DiskSpaceCheckOptions } from './disk-space.js';

export const SLOT_NAMES = ['a', 'b'] as const;
export type SlotName = (typeof SLOT_NAMES)[number];

const releaseId = z.string().min(1).max(128);
// Separators, C0 controls and DEL (the same rule as the protocol's checkFilePath).
// eslint-disable-next-line no-control-regex
const NOT_PLAIN = /[/\\\u0000-\u001f\u007f]/;
const fileName = z
  .string()
  .min(1)
  .max(128)
  .refine((s) => s !== '.' && s !== '..' && !NOT_PLAIN.test(s), {
    error: 'must be a plain file name',
  });
const fileEntry = z.strictObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  length: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
});

/** `state.json`. */
export const SlotStateSchema = z.strictObject({
  v: z.literal(1),
  /** The slot serving inference, or null before the first install. */
  activeSlot: z.enum(SLOT_NAMES).nullable(),
  activeRelease: releaseId.nullable(),
  /** The release kept complete in the other slot for a local revert, or null. */
  previousRelease: releaseId.nullable(),
  updatedAt: z.iso.datetime({ offset: true }),
});
export type SlotState = z.infer<typeof SlotStateSchema>;

/** `complete.json`: proof that a slot holds a whole, verified install of one release. */
export const CompleteMarkerSchema = z.strictObject({
  v: z.literal(1),
  releaseId,
  files: z.record(fileName, fileEntry),
  completedAt: z.iso.datetime({ offset: true }),
});
export type CompleteMarker = z.infer<typeof CompleteMarkerSchema>;

export type ReleaseFiles = Readonly<
  Record<string, { readonly sha256: string; readonly length: number }>
>;

/** What start-up recovery found and did, for the log and the `state` report. */
export type RecoveryAction =
  | { readonly type: 'state_created' }
  /** `state.json` could not be read; it was rebuilt from the slots' markers. */
  | { readonly type: 'state_rebuilt'; readonly reason: string }
  /** The active slot failed verification and there was no previous release to fall back to. */
  | { readonly type: 'active_invalid'; readonly slot: SlotName; readonly reason: string }
  /** The active slot failed verification; the previous release in the other slot became active. */
  | {
      readonly type: 'reverted_to_previous';
      readonly slot: SlotName;
      readonly releaseId: string;
      readonly reason: string;
    }
  /** An inactive slot that did not hold the previous release (a half-written install) was wiped. */
  | { readonly type: 'discarded_slot'; readonly slot: SlotName; readonly reason: string }
  /**
   * An unsealed slot with its release document (a download cut by a restart) was kept, so the same
   * release resumes where it stopped; its files are only trusted once their signed hashes match.
   */
  | { readonly type: 'kept_partial_download'; readonly slot: SlotName };

export interface SlotStoreOptions {
  /**
   * How start-up checks the active and previous slots: `'hashes'` (default) re-reads every file and
   * compares sha256 and length with the marker; `'lengths'` only compares lengths (faster on slow
   * flash with big models, still catches truncation).
   */
  readonly verify?: 'hashes' | 'lengths';
  /** Options of the free-space check in `prepareInactiveSlot` (inject a probe to fake a full disk). */
  readonly diskSpace?: DiskSpaceCheckOptions;
  /** Clock for `updatedAt` / `completedAt`; default `() => new Date()`. */
  readonly now?: () => Date;
  /**
   * fsync files and directories (default true). False keeps every write atomic (temp file and
   * rename) but lets a power cut lose recent ones: for state directories that need not survive the
   * machine (the fleet simulator's).
   */
  readonly durable?: boolean;
}

/** The release about to be staged, so a partial download of the very same release is resumed. */
export interface ResumeCandidate {
  /** The signed release document's text, as written to `releaseDocumentPath` by the last attempt. */
  readonly releaseDocument: string;
  /** The file names the release lists (anything else in the slot is removed). */
  readonly files: readonly string[];
}

export interface InstalledSlot {
  readonly slot: SlotName;
  readonly releaseId: string;
  /** Directory holding the release files. */
  readonly dir: string;
  readonly files: ReleaseFiles;
}

/** The A/B slot store. Create with `SlotStore.open`, which runs recovery. */
export class SlotStore {
  private current: SlotState;
  private readonly durable: boolean;

  private constructor(
    readonly stateDir: string,
    private readonly options: SlotStoreOptions,
    state: SlotState,
    /** What `open` found and repaired. */
    readonly recovery: readonly RecoveryAction[],
  ) {
    this.current = state;
    this.durable = options.durable ?? true;
  }

  /** Open (creating if needed) the slots under `stateDir` and recover from any interrupted step. */
  static async open(stateDir: string, options: SlotStoreOptions = {}): Promise<SlotStore> {
    for (const slot of SLOT_NAMES) await mkdir(filesDirOf(stateDir, slot), { recursive: true });
    await removeTempFiles(stateDir);
    const { state, actions } = await recover(stateDir, options);
    return new SlotStore(stateDir, options, state, actions);
  }

  get state(): SlotState {
    return this.current;
  }

  /** The slot a new release is staged into: the one that is not active (`a` on a fresh device). */
  get inactiveSlot(): SlotName {
    return this.current.activeSlot === 'a' ? 'b' : 'a';
  }

  /** Directory of the release files of `slot`. */
  filesDir(slot: SlotName): string {
    return filesDirOf(this.stateDir, slot);
  }

  /** Path of release file `name` in `slot`; throws on a name that is not a plain file name. */
  filePath(slot: SlotName, name: string): string {
    if (!fileName.safeParse(name).success) {
      throw new TypeError(`${JSON.stringify(name)} is not a plain file name`);
    }
    return join(this.filesDir(slot), name);
  }

  /**
   * Where the signed release document of `slot` is kept: beside its files, outside `files/` (so it
   * is not an extraneous file of the install), and wiped with the slot.
   */
  releaseDocumentPath(slot: SlotName): string {
    return join(slotDirOf(this.stateDir, slot), 'release.json');
  }

  /** The active install, or undefined before the first one. */
  async activeInstall(): Promise<InstalledSlot | undefined> {
    const slot = this.current.activeSlot;
    if (slot === null) return undefined;
    const marker = await readMarker(this.stateDir, slot);
    if (!marker.ok) return undefined;
    return {
      slot,
      releaseId: marker.value.releaseId,
      dir: this.filesDir(slot),
      files: marker.value.files,
    };
  }

  /**
   * Empty the inactive slot for a new release of `neededBytes`, after checking that they fit (the
   * space the slot's old files occupy counts as free). On `EF_DISK_FULL` nothing is touched, so the
   * previous release stays available. Otherwise the previous release is forgotten first (state
   * written), then its files are removed.
   */
  async prepareInactiveSlot(
    neededBytes: number,
    resume?: ResumeCandidate,
  ): Promise<Result<{ slot: SlotName; dir: string; resumed: boolean }>> {
    const slot = this.inactiveSlot;
    const dir = this.filesDir(slot);
    const space = await checkDiskSpace(dir, neededBytes, {
      ...this.options.diskSpace,
      reclaimableBytes: await directorySize(slotDirOf(this.stateDir, slot)),
    });
    if (!space.ok) return space;
    if (this.current.previousRelease !== null) {
      await this.writeState({ ...this.current, previousRelease: null });
    }
    if (resume !== undefined && (await this.holdsPartial(slot, resume))) {
      // The same release was being downloaded here: keep its files (the download continues each
      // one with a Range request and checks the whole file's signed hash at the end).
      const keep = new Set(resume.files);
      for (const name of await readdir(dir)) {
        if (!keep.has(name)) await rm(join(dir, name), { recursive: true, force: true });
      }
      return ok({ slot, dir, resumed: true });
    }
    await wipeSlot(this.stateDir, slot, this.durable);
    return ok({ slot, dir, resumed: false });
  }

  /** Whether `slot` is unsealed and its release document is exactly `resume.releaseDocument`. */
  private async holdsPartial(slot: SlotName, resume: ResumeCandidate): Promise<boolean> {
    if ((await readMarker(this.stateDir, slot)).ok) return false;
    try {
      return (await readFile(this.releaseDocumentPath(slot), 'utf8')) === resume.releaseDocument;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    }
  }

  /**
   * Seal `slot` as a complete install of `releaseId`: every listed file must be in the slot with the
   * signed length and sha256 and no other file may be there (EF_LENGTH_MISMATCH, EF_HASH_MISMATCH,
   * EF_EXTRANEOUS_FILE); the files and the directory are fsynced, then `complete.json` is written
   * atomically, last. Refuses the active slot.
   */
  async completeSlot(
    slot: SlotName,
    releaseId: string,
    files: ReleaseFiles,
  ): Promise<Result<CompleteMarker>> {
    if (slot === this.current.activeSlot) {
      return fail('EF_CONFLICT', `slot ${slot} is active and cannot be rewritten`);
    }
    const dir = this.filesDir(slot);
    for (const name of await readdir(dir)) {
      if (!Object.hasOwn(files, name)) {
        return fail(
          'EF_EXTRANEOUS_FILE',
          `slot ${slot} holds ${name}, which the release does not list`,
          {
            path: name,
          },
        );
      }
    }
    for (const [name, expected] of Object.entries(files)) {
      const checked = await verifyFile(join(dir, name), name, expected, 'hashes');
      if (!checked.ok) return checked;
      if (this.durable) await fsyncFile(join(dir, name));
    }
    if (this.durable) await fsyncDirectory(dir);
    const marker: CompleteMarker = {
      v: 1,
      releaseId,
      files: Object.fromEntries(
        Object.entries(files).map(([k, f]) => [k, { sha256: f.sha256, length: f.length }]),
      ),
      completedAt: this.now().toISOString(),
    };
    await writeJsonFileAtomic(markerPath(this.stateDir, slot), marker, { durable: this.durable });
    return ok(marker);
  }

  /**
   * Make `slot` active (the atomic switch): its marker must be valid. The release that was active
   * becomes the previous release. Returns the new state.
   */
  async activate(slot: SlotName): Promise<Result<SlotState>> {
    const marker = await readMarker(this.stateDir, slot);
    if (!marker.ok) {
      return fail('EF_CONFLICT', `slot ${slot} holds no complete install: ${marker.message}`);
    }
    if (slot === this.current.activeSlot) return ok(this.current);
    const next: SlotState = {
      ...this.current,
      activeSlot: slot,
      activeRelease: marker.value.releaseId,
      previousRelease: this.current.activeRelease,
    };
    await this.writeState(next);
    return ok(this.current);
  }

  /**
   * Go back to the previous release (the agent's local revert after a failed health check or soak;
   * needs no new signature). Fails with EF_CONFLICT when no previous release is kept.
   */
  async revertToPrevious(): Promise<Result<SlotState>> {
    const previous = this.current.previousRelease;
    if (previous === null) return fail('EF_CONFLICT', 'no previous release is kept to revert to');
    const slot = this.inactiveSlot;
    const marker = await readMarker(this.stateDir, slot);
    if (!marker.ok || marker.value.releaseId !== previous) {
      return fail('EF_CONFLICT', `slot ${slot} no longer holds release ${previous}`);
    }
    // The failed release stays in its slot but is not kept as "previous": it must not be reverted to.
    await this.writeState({
      ...this.current,
      activeSlot: slot,
      activeRelease: previous,
      previousRelease: null,
    });
    return ok(this.current);
  }

  /**
   * Leave no release active (the local revert of a first install that failed after the switch:
   * there is nothing to go back to). Start-up recovery later discards the slot.
   */
  async deactivate(): Promise<SlotState> {
    await this.writeState({
      ...this.current,
      activeSlot: null,
      activeRelease: null,
      previousRelease: null,
    });
    return this.current;
  }

  private now(): Date {
    return (this.options.now ?? (() => new Date()))();
  }

  private async writeState(state: SlotState): Promise<void> {
    const next = { ...state, updatedAt: this.now().toISOString() };
    await writeJsonFileAtomic(statePath(this.stateDir), next, { durable: this.durable });
    this.current = next;
  }
}

/** Where the slot store keeps its files under `stateDir` (for read-only inspection: status, tests). */
export function slotStorePaths(stateDir: string): {
  readonly state: string;
  slot(slot: SlotName): {
    readonly dir: string;
    readonly files: string;
    readonly marker: string;
    readonly release: string;
  };
} {
  return {
    state: statePath(stateDir),
    slot: (slot) => ({
      dir: slotDirOf(stateDir, slot),
      files: filesDirOf(stateDir, slot),
      marker: markerPath(stateDir, slot),
      release: join(slotDirOf(stateDir, slot), 'release.json'),
    }),
  };
}

function statePath(stateDir: string): string {
  return join(stateDir, 'state.json');
}
function slotDirOf(stateDir: string, slot: SlotName): string {
  return join(stateDir, 'slots', slot);
}
function filesDirOf(stateDir: string, slot: SlotName): string {
  return join(slotDirOf(stateDir, slot), 'files');
}
function markerPath(stateDir: string, slot: SlotName): string {
  return join(slotDirOf(stateDir, slot), 'complete.json');
}

function readMarker(stateDir: string, slot: SlotName): Promise<Result<CompleteMarker>> {
  return readJsonFile(markerPath(stateDir, slot), CompleteMarkerSchema);
}

async function recover(
  stateDir: string,
  options: SlotStoreOptions,
): Promise<{ state: SlotState; actions: RecoveryAction[] }> {
  const now = () => (options.now ?? (() => new Date()))().toISOString();
  const mode = options.verify ?? 'hashes';
  const durable = options.durable ?? true;
  const actions: RecoveryAction[] = [];
  const read = await readJsonFile(statePath(stateDir), SlotStateSchema);
  let state: SlotState;
  if (read.ok) {
    state = read.value;
  } else if (read.code === 'EF_NOT_FOUND') {
    state = {
      v: 1,
      activeSlot: null,
      activeRelease: null,
      previousRelease: null,
      updatedAt: now(),
    };
    actions.push({ type: 'state_created' });
  } else {
    state = await rebuildState(stateDir, mode, now());
    actions.push({ type: 'state_rebuilt', reason: read.message });
  }

  const active = state.activeSlot;
  if (active !== null) {
    const checked = await verifySlot(stateDir, active, state.activeRelease, mode);
    if (!checked.ok) {
      const other = active === 'a' ? 'b' : 'a';
      const fallback =
        state.previousRelease === null
          ? undefined
          : await verifySlot(stateDir, other, state.previousRelease, mode);
      if (fallback?.ok === true && state.previousRelease !== null) {
        actions.push({
          type: 'reverted_to_previous',
          slot: other,
          releaseId: state.previousRelease,
          reason: checked.message,
        });
        state = {
          ...state,
          activeSlot: other,
          activeRelease: state.previousRelease,
          previousRelease: null,
        };
      } else {
        actions.push({ type: 'active_invalid', slot: active, reason: checked.message });
        state = { ...state, activeSlot: null, activeRelease: null, previousRelease: null };
      }
    }
  }

  // Every slot that is not active must hold the previous release; anything else is discarded.
  for (const slot of SLOT_NAMES) {
    if (slot === state.activeSlot) continue;
    let reason: string;
    if (state.previousRelease !== null) {
      const keep = await verifySlot(stateDir, slot, state.previousRelease, mode);
      if (keep.ok) continue;
      reason = keep.message;
      state = { ...state, previousRelease: null };
    } else {
      const marker = await readMarker(stateDir, slot);
      if (!marker.ok && (await exists(join(slotDirOf(stateDir, slot), 'release.json')))) {
        actions.push({ type: 'kept_partial_download', slot });
        continue;
      }
      reason = marker.ok
        ? `slot ${slot} holds release ${marker.value.releaseId}, staged but never activated`
        : `slot ${slot} holds an unfinished install (${marker.message})`;
    }
    if (await hasEntries(slot)) {
      actions.push({ type: 'discarded_slot', slot, reason });
      await wipeSlot(stateDir, slot, durable);
    }
  }

  if (!read.ok || actions.length > 0 || JSON.stringify(state) !== JSON.stringify(read.value)) {
    state = { ...state, updatedAt: now() };
    await writeJsonFileAtomic(statePath(stateDir), state, { durable });
  }
  return { state, actions };

  async function hasEntries(slot: SlotName): Promise<boolean> {
    const entries = await readdir(slotDirOf(stateDir, slot));
    const files = await readdir(filesDirOf(stateDir, slot));
    return files.length > 0 || entries.some((e) => e !== 'files');
  }
}

/** `state.json` was unreadable: trust the slots' markers, the most recently completed wins. */
async function rebuildState(
  stateDir: string,
  mode: 'hashes' | 'lengths',
  updatedAt: string,
): Promise<SlotState> {
  const complete: { slot: SlotName; marker: CompleteMarker }[] = [];
  for (const slot of SLOT_NAMES) {
    const marker = await readMarker(stateDir, slot);
    if (!marker.ok) continue;
    const checked = await verifySlot(stateDir, slot, marker.value.releaseId, mode);
    if (checked.ok) complete.push({ slot, marker: marker.value });
  }
  complete.sort((x, y) => y.marker.completedAt.localeCompare(x.marker.completedAt));
  const [newest, older] = complete;
  return {
    v: 1,
    activeSlot: newest?.slot ?? null,
    activeRelease: newest?.marker.releaseId ?? null,
    previousRelease: older?.marker.releaseId ?? null,
    updatedAt,
  };
}

/** Check that `slot` holds a complete install of `releaseId` (marker and files). */
async function verifySlot(
  stateDir: string,
  slot: SlotName,
  releaseId: string | null,
  mode: 'hashes' | 'lengths',
): Promise<Result<CompleteMarker>> {
  const marker = await readMarker(stateDir, slot);
  if (!marker.ok) return fail(marker.code, `slot ${slot}: ${marker.message}`);
  if (releaseId !== null && marker.value.releaseId !== releaseId) {
    return fail(
      'EF_CONFLICT',
      `slot ${slot} holds release ${marker.value.releaseId}, not ${releaseId}`,
    );
  }
  for (const [name, expected] of Object.entries(marker.value.files)) {
    const checked = await verifyFile(join(filesDirOf(stateDir, slot), name), name, expected, mode);
    if (!checked.ok) return fail(checked.code, `slot ${slot}: ${checked.message}`);
  }
  return marker;
}

async function verifyFile(
  path: string,
  name: string,
  expected: { readonly sha256: string; readonly length: number },
  mode: 'hashes' | 'lengths',
): Promise<Result<void>> {
  let length: number;
  try {
    length = (await stat(path)).size;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return fail('EF_LENGTH_MISMATCH', `${name} is missing`);
    return fail('EF_INTERNAL', `cannot read ${name}: ${errorMessage(error)}`);
  }
  if (length !== expected.length) {
    return fail(
      'EF_LENGTH_MISMATCH',
      `${name} is ${length} bytes, the release says ${expected.length}`,
    );
  }
  if (mode === 'lengths') return ok(undefined);
  const hash = createHash('sha256');
  try {
    await pipeline(createReadStream(path), hash);
  } catch (error) {
    return fail('EF_INTERNAL', `cannot read ${name}: ${errorMessage(error)}`);
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== expected.sha256) {
    return hashMismatch(name, sha256, expected.sha256);
  }
  return ok(undefined);
}

function hashMismatch(name: string, actual: string, expected: string): Failure {
  return fail('EF_HASH_MISMATCH', `${name} has sha256 ${actual}, the release says ${expected}`, {
    path: name,
    expected,
    actual,
  });
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Remove a slot entirely (marker first, so a crash mid-way leaves an unmarked, discardable slot). */
async function wipeSlot(stateDir: string, slot: SlotName, durable: boolean): Promise<void> {
  await rm(markerPath(stateDir, slot), { force: true });
  if (durable) await fsyncDirectory(slotDirOf(stateDir, slot));
  await rm(slotDirOf(stateDir, slot), { recursive: true, force: true });
  await mkdir(filesDirOf(stateDir, slot), { recursive: true });
  if (durable) await fsyncDirectory(join(stateDir, 'slots'));
}

/** Total size of the regular files under `dir` (0 if it does not exist). */
async function directorySize(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return 0;
    throw error;
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    try {
      total += (await stat(join(entry.parentPath, entry.name))).size;
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
    }
  }
  return total;
}

/** Leftover temp files of interrupted atomic writes (`.<name>.<random>.tmp`). */
async function removeTempFiles(stateDir: string): Promise<void> {
  const dirs = [stateDir, ...SLOT_NAMES.map((slot) => slotDirOf(stateDir, slot))];
  for (const dir of dirs) {
    for (const name of await readdir(dir)) {
      if (name.startsWith('.') && name.endsWith('.tmp')) await rm(join(dir, name), { force: true });
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}
