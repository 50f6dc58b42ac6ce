/**
 * The deployment journal (`deployment.json`, mode 0600, written atomically): the deployment in
 * flight (or the last one, once terminal) and the one queued behind it, each with the exact signed
 * documents it was accepted with and the last state reported for it.
 *
 * It is a write-ahead log: a record is written before its directive counter is persisted in the
 * trust state and before each state is reported, so after a crash the agent knows what it had
 * accepted and how far it got (see reconciler.ts for what it then does).
 */
import {
  DEPLOYMENT_REASONS,
  DEPLOYMENT_STATES,
  type DeploymentReason,
  type DeploymentState,
} from '@edgefleet/protocol';
import { z } from 'zod';
import { PRIVATE_FILE_MODE } from '../config/agent-config.js';
import { readJsonFile, writeJsonFileAtomic } from '../store/atomic-file.js';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const DeploymentRecordSchema = z.strictObject({
  /** sha256 of the directive envelope bytes: recognises the same `desired` delivered again. */
  directiveSha256: sha256,
  directiveCounter: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  releaseId: z.string().min(1).max(128),
  releaseSha256: sha256,
  /** The directive and release envelopes, as received (canonical JSON text). */
  directive: z.string().max(16 * 1024),
  release: z.string().max(256 * 1024),
  /** The last state reported (or being reported). */
  state: z.enum(DEPLOYMENT_STATES),
  reason: z.enum(DEPLOYMENT_REASONS).optional(),
  detail: z.string().max(1024).optional(),
  /** Times the agent restarted while this deployment was soaking. */
  soakRestarts: z.int().min(0).max(1_000_000).default(0),
  updatedAt: z.iso.datetime({ offset: true }),
});

export type DeploymentRecord = z.infer<typeof DeploymentRecordSchema>;

export const JournalSchema = z.strictObject({
  v: z.literal(1),
  /** The deployment being installed, or the last one (terminal). */
  current: DeploymentRecordSchema.nullable(),
  /** Accepted (reported `assigned`) and waiting for the current one to finish. */
  queued: DeploymentRecordSchema.nullable(),
});

export type JournalContent = z.infer<typeof JournalSchema>;

/** Mutable records; `save()` writes a snapshot of them. */
export interface MutableRecord extends Omit<DeploymentRecord, 'state' | 'reason' | 'detail'> {
  state: DeploymentState;
  reason?: DeploymentReason;
  detail?: string;
  soakRestarts: number;
  updatedAt: string;
}

export class DeploymentJournal {
  current: MutableRecord | null;
  queued: MutableRecord | null;
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly path: string,
    content: JournalContent,
    private readonly durable: boolean,
  ) {
    this.current = content.current === null ? null : { ...content.current };
    this.queued = content.queued === null ? null : { ...content.queued };
  }

  /**
   * Open the journal. A missing file is an empty journal; an unreadable one is logged by the caller
   * and treated as empty (the trust state still refuses replays; the slots still hold a verified
   * model), so `problem` says why.
   */
  static async open(
    path: string,
    options: { readonly durable?: boolean } = {},
  ): Promise<{ journal: DeploymentJournal; problem?: string }> {
    const durable = options.durable ?? true;
    const read = await readJsonFile(path, JournalSchema, { maxBytes: 2 * 1024 * 1024 });
    if (read.ok) return { journal: new DeploymentJournal(path, read.value, durable) };
    const empty: JournalContent = { v: 1, current: null, queued: null };
    return {
      journal: new DeploymentJournal(path, empty, durable),
      ...(read.code === 'EF_NOT_FOUND' ? {} : { problem: read.message }),
    };
  }

  /** Persist the records as they are now. Saves run one at a time, in call order. */
  save(): Promise<void> {
    const snapshot: JournalContent = {
      v: 1,
      current: this.current === null ? null : { ...this.current },
      queued: this.queued === null ? null : { ...this.queued },
    };
    const run = this.tail.then(() =>
      writeJsonFileAtomic(this.path, snapshot, { mode: PRIVATE_FILE_MODE, durable: this.durable }),
    );
    this.tail = run.catch(() => undefined);
    return run;
  }
}
