/**
 * The device's trust state on disk: the root pinned at enrollment (`root.json`) and the protocol
 * `TrustState` (`trust-state.json`), both mode 0600 and written atomically.
 *
 * Updates are serialised and persisted before they are returned, so a caller that acts on the new
 * state (installs a release after advancing the directive counter) knows it survives a crash: a
 * replayed directive after a restart is refused (Uptane: the counter is the device's memory).
 * A trust state that exists but cannot be read is an error, never a reason to start over from the
 * pinned root: that would forget the counters and accept replays.
 */
import { readFile } from 'node:fs/promises';
import {
  EdgefleetError,
  initTrustState,
  ok,
  TrustStateSchema,
  type Result,
  type TrustState,
} from '@edgefleet/protocol';
import {
  isErrno,
  readJsonFile,
  writeFileAtomic,
  writeJsonFileAtomic,
} from '../store/atomic-file.js';
import { PRIVATE_FILE_MODE } from './agent-config.js';
import type { StatePaths } from './state-dir.js';

export interface OpenTrustStoreOptions {
  /** Root to pin when the state directory has none yet (enrollment, tests). */
  readonly pinnedRoot?: Uint8Array;
  /** fsync every write (default true); see `writeFileAtomic`'s `durable`. */
  readonly durable?: boolean;
}

export class TrustStore {
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private current: TrustState,
    private readonly durable: boolean,
  ) {}

  /**
   * Open the trust state of `paths`: read `trust-state.json`, or on first start create it from the
   * pinned root (`root.json`, written from `options.pinnedRoot` if missing). Throws EdgefleetError:
   * EF_NOT_FOUND without any root, EF_MALFORMED for an unreadable state or root.
   */
  static async open(paths: StatePaths, options: OpenTrustStoreOptions = {}): Promise<TrustStore> {
    const read = await readJsonFile(paths.trustState, TrustStateSchema, {
      maxBytes: 4 * 1024 * 1024,
    });
    const durable = options.durable ?? true;
    if (read.ok) return new TrustStore(paths.trustState, read.value, durable);
    if (read.code !== 'EF_NOT_FOUND') {
      throw new EdgefleetError(
        read.code,
        `${read.message}; refusing to start from the pinned root again (that would forget the counters)`,
      );
    }
    let rootBytes: Uint8Array;
    try {
      rootBytes = await readFile(paths.pinnedRoot);
    } catch (error) {
      if (!isErrno(error, 'ENOENT') || options.pinnedRoot === undefined) {
        throw new EdgefleetError(
          'EF_NOT_FOUND',
          `no pinned root at ${paths.pinnedRoot}: enroll the device first`,
          { cause: error },
        );
      }
      rootBytes = options.pinnedRoot;
      await writePinnedRoot(paths, rootBytes, { durable });
    }
    const state = initTrustState(rootBytes);
    if (!state.ok) throw EdgefleetError.fromFailure(state);
    await writeJsonFileAtomic(paths.trustState, state.value, { mode: PRIVATE_FILE_MODE, durable });
    return new TrustStore(paths.trustState, state.value, durable);
  }

  get state(): TrustState {
    return this.current;
  }

  /**
   * Compute the next state from the current one and persist it before resolving. `next` returning
   * the same object (or a failure) writes nothing. Updates run one at a time, in call order.
   */
  update(next: (state: TrustState) => Result<TrustState>): Promise<Result<TrustState>> {
    const run = this.tail.then(async () => {
      const result = next(this.current);
      if (!result.ok || result.value === this.current) return result;
      await writeJsonFileAtomic(this.path, result.value, {
        mode: PRIVATE_FILE_MODE,
        durable: this.durable,
      });
      this.current = result.value;
      return ok(this.current);
    });
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** Pin `rootBytes` (checked: a well-formed root signed by its own root role) as the device's root. */
export async function writePinnedRoot(
  paths: StatePaths,
  rootBytes: Uint8Array,
  options: { readonly durable?: boolean } = {},
): Promise<void> {
  const state = initTrustState(rootBytes);
  if (!state.ok) throw EdgefleetError.fromFailure(state);
  await writeFileAtomic(paths.pinnedRoot, rootBytes, {
    mode: PRIVATE_FILE_MODE,
    durable: options.durable ?? true,
  });
}
