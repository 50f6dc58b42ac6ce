/**
 * The control plane's keys and trust root.
 *
 * First start: a 1-of-1 root key, a release key and a deploy key are generated into `<dataDir>/keys/`
 * (mode 0600), root version 1 is signed and stored. That is convenient for a demo and a single site,
 * but production roots belong offline: create an m-of-n root with `edgefleet keys init`, sign root N+1
 * with `edgefleet keys sign-root` and upload it (`POST /v1/trust/root`); the online root key is then
 * no longer part of the root role. Release and deploy keys stay online: they sign every release and
 * every per-device directive. Public halves are recorded in the database; private keys never are.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  canonicalize,
  decodeSigningKeyFile,
  EdgefleetError,
  encodeSigningKeyFile,
  generateSigningKey,
  initTrustState,
  createRoot,
  signRoot,
  updateRoot,
  type Root,
  type TrustRoleName,
  type SigningKey,
} from '@edgefleet/protocol';
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import {
  addSigningKey,
  appendTrustRoot,
  latestTrustRoot,
  listSigningKeys,
  retireSigningKey,
} from '../db/trust.js';

const KEYS_DIR = 'keys';
const DAY_MS = 86_400_000;
/** Lifetime of a root the control plane signs itself. */
export const ROOT_LIFETIME_MS = 365 * DAY_MS;

/**
 * What `rotate` did: published root N+1 (the root keys are held here), or, with an offline root,
 * created the new key and drafted root N+1 for the offline key holders to sign.
 */
export type RotationResult =
  | { readonly published: true; readonly version: number; readonly keyid: string }
  | {
      readonly published: false;
      readonly version: number;
      readonly keyid: string;
      /** Root N+1, unsigned: `edgefleet keys sign-root --draft` signs it, `trust push` uploads it. */
      readonly draft: Root;
    };

export interface CurrentRoot {
  readonly version: number;
  /** The signed envelope, canonical JSON text (what devices pin and verify). */
  readonly text: string;
  readonly root: Root;
}

export interface KeyringOptions {
  readonly db: Database;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly now?: () => Date;
}

function keyFileName(role: TrustRoleName, key: SigningKey): string {
  return `${role}-${key.keyid.slice(0, 16)}.json`;
}

export class Keyring {
  private current!: CurrentRoot;
  /** Private keys this control plane holds, by keyid. */
  private readonly held = new Map<string, SigningKey>();

  private constructor(private readonly options: KeyringOptions) {}

  /** Open the keyring; on first start create the keys and root version 1. */
  static async open(options: KeyringOptions): Promise<Keyring> {
    const k = new Keyring(options);
    await mkdir(join(options.dataDir, KEYS_DIR), { recursive: true, mode: 0o700 });
    if ((await latestTrustRoot(options.db)) === undefined) await k.bootstrap();
    await k.load();
    return k;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private async storeKey(role: TrustRoleName, key: SigningKey): Promise<void> {
    const file = keyFileName(role, key);
    await writeFile(join(this.options.dataDir, KEYS_DIR, file), encodeSigningKeyFile(key) + '\n', {
      mode: 0o600,
      flag: 'wx',
    });
    await addSigningKey(this.options.db, {
      keyid: key.keyid,
      role,
      publicKey: key.publicKey,
      privateKeyRef: file,
    });
    this.held.set(key.keyid, key);
  }

  private async bootstrap(): Promise<void> {
    const rootKey = generateSigningKey();
    const releaseKey = generateSigningKey();
    const deployKey = generateSigningKey();
    for (const [role, key] of [
      ['root', rootKey],
      ['release', releaseKey],
      ['deploy', deployKey],
    ] as const) {
      await this.storeKey(role, key);
    }
    const root = createRoot({
      version: 1,
      expires: new Date(this.now().getTime() + ROOT_LIFETIME_MS).toISOString(),
      roles: {
        root: { keys: [rootKey], threshold: 1 },
        release: { keys: [releaseKey], threshold: 1 },
        deploy: { keys: [deployKey], threshold: 1 },
      },
    });
    await appendTrustRoot(this.options.db, {
      version: 1,
      envelope: canonicalize(signRoot(root, [rootKey])),
    });
    this.options.logger.warn(
      { keysDir: join(this.options.dataDir, KEYS_DIR) },
      'created a 1-of-1 root key on this machine: fine for a demo, but production roots belong offline ' +
        '(edgefleet keys init --threshold 2 --keys 3 --out DIR, then edgefleet keys sign-root)',
    );
  }

  private async load(): Promise<void> {
    const latest = await latestTrustRoot(this.options.db);
    if (!latest) throw new EdgefleetError('EF_INTERNAL', 'no trust root in the database');
    const state = initTrustState(new TextEncoder().encode(latest.envelope));
    if (!state.ok) {
      throw new EdgefleetError(
        'EF_INTERNAL',
        `the stored trust root does not verify: ${state.message}`,
      );
    }
    this.current = { version: latest.version, text: latest.envelope, root: state.value.root };
    for (const row of await listSigningKeys(this.options.db)) {
      if (row.privateKeyRef === null || this.held.has(row.keyid)) continue;
      const text = await readFile(
        join(this.options.dataDir, KEYS_DIR, row.privateKeyRef),
        'utf8',
      ).catch(() => undefined);
      if (text === undefined) continue;
      const key = decodeSigningKeyFile(text);
      if (key.ok && key.value.keyid === row.keyid) this.held.set(row.keyid, key.value);
    }
  }

  currentRoot(): CurrentRoot {
    return this.current;
  }

  /** The held private keys of a role in the current root, enough to meet its threshold. */
  signingKeys(role: TrustRoleName): SigningKey[] {
    const r = this.current.root.roles[role];
    const keys = this.heldKeys(role);
    if (keys.length < r.threshold) {
      throw new EdgefleetError(
        'EF_SIGNATURE_INVALID',
        `this control plane holds ${keys.length} of the ${r.threshold} ${role} keys needed to sign; ` +
          `sign offline or add the keys to ${join(this.options.dataDir, KEYS_DIR)}`,
      );
    }
    return keys.slice(0, r.threshold);
  }

  /** Whether this control plane holds enough of `role`'s keys to sign for it. */
  canSign(role: TrustRoleName): boolean {
    return this.heldKeys(role).length >= this.current.root.roles[role].threshold;
  }

  private heldKeys(role: TrustRoleName): SigningKey[] {
    return this.current.root.roles[role].keyids.flatMap((id) => {
      const k = this.held.get(id);
      return k ? [k] : [];
    });
  }

  /**
   * Accept root N+1 (canonical bytes of its envelope): it must verify against the current root (a
   * threshold of the old root keys and of its own). Keys no longer in any role are retired.
   */
  async acceptRoot(bytes: Uint8Array): Promise<CurrentRoot> {
    const state = initTrustState(new TextEncoder().encode(this.current.text));
    if (!state.ok) throw EdgefleetError.fromFailure(state);
    const next = updateRoot(state.value, bytes, this.now().getTime());
    if (!next.ok) throw EdgefleetError.fromFailure(next);
    const text = new TextDecoder().decode(bytes);
    await appendTrustRoot(this.options.db, { version: next.value.rootVersion, envelope: text });
    const inUse = new Set(Object.values(next.value.root.roles).flatMap((r) => r.keyids));
    for (const row of await listSigningKeys(this.options.db)) {
      if (!inUse.has(row.keyid)) await retireSigningKey(this.options.db, row.keyid, this.now());
    }
    for (const [keyid, key] of Object.entries(next.value.root.keys)) {
      const known = await listSigningKeys(this.options.db, { includeRetired: true });
      if (!known.some((k) => k.keyid === keyid)) {
        const role = (['root', 'release', 'deploy'] as const).find((r) =>
          next.value.root.roles[r].keyids.includes(keyid),
        );
        await addSigningKey(this.options.db, {
          keyid,
          role: role ?? 'root',
          publicKey: key,
          privateKeyRef: null,
        });
      }
    }
    await this.load();
    this.options.logger.info({ version: this.current.version }, 'trust root rotated');
    return this.current;
  }

  /**
   * Rotate an online role (release or deploy) with the root keys this control plane holds: a new key,
   * root N+1 listing it, signed by the current root keys. The deploy-key rotation is the recovery from a
   * fast-forward attack: devices reset their directive counter when the deploy role changes.
   */
  async rotate(role: 'release' | 'deploy'): Promise<RotationResult> {
    const key = generateSigningKey();
    const old = this.current.root;
    const pub = (id: string) => old.keys[id]!;
    const roleKeys = (r: TrustRoleName) => ({
      keys: old.roles[r].keyids.map(pub),
      threshold: old.roles[r].threshold,
    });
    const next = createRoot({
      version: old.version + 1,
      expires: new Date(this.now().getTime() + ROOT_LIFETIME_MS).toISOString(),
      roles: {
        root: roleKeys('root'),
        release: role === 'release' ? { keys: [key], threshold: 1 } : roleKeys('release'),
        deploy: role === 'deploy' ? { keys: [key], threshold: 1 } : roleKeys('deploy'),
      },
    });
    await this.storeKey(role, key);
    if (!this.canSign('root')) {
      // The root is offline: the new key waits here (held, in no role yet) for root N+1 to be
      // signed offline and pushed; acceptRoot then starts signing with it.
      this.options.logger.info(
        { role, keyid: key.keyid, version: next.version },
        'new key created; root N+1 that lists it must be signed offline and pushed',
      );
      return { published: false, version: next.version, keyid: key.keyid, draft: next };
    }
    const accepted = await this.acceptRoot(
      new TextEncoder().encode(canonicalize(signRoot(next, this.signingKeys('root')))),
    );
    return { published: true, version: accepted.version, keyid: key.keyid };
  }
}
