/**
 * Desired-state reconciliation on the device (ARCHITECTURE §4, §5 step 5): verify a `desired`
 * message, then drive its deployment through
 *
 *     assigned -> downloading -> verifying -> staged -> activating -> soaking -> succeeded
 *
 * reporting every transition (checked with `canTransition`) and ending in `failed(reason)` before
 * the switch or `rolled_back(reason)` after it.
 *
 * Concurrency: one install runs at a time. A verified directive is recorded as `queued` and
 * reported `assigned` at once; a newer one replaces a queued one, which is then reported
 * `failed(superseded)` (it had been reported `assigned`). The install in flight is never
 * interrupted: it finishes (or fails) first, then the queued one starts.
 *
 * Durability (the journal is written ahead of every report, the trust state before any action):
 * - accept: journal record, `assigned`, then the advanced trust state (directive counter, time
 *   floor), all before the next message is handled or the install starts. The journal record is
 *   the point of no return: after a crash before the trust state is written, `recover` re-verifies
 *   the journaled documents and persists the counter before anything else is received, so a
 *   replayed directive is refused (or, if the documents expired meanwhile, the deployment is
 *   reported `failed(expired)`).
 * - an install starts from documents verified on acceptance: their signatures are not checked a
 *   second time in the same process unless the trusted root or the model's installed release
 *   changed since; expiry is checked again (a queued install may have waited). After a restart
 *   everything journaled is verified again.
 * - the same `desired` delivered again (it is retained: every reconnect re-sends it) is recognised
 *   by the sha256 of its directive and ignored, so it is neither refused as a replay nor reinstalled.
 * - crash before the switch: the slot store discards the half-staged slot on start; the deployment
 *   resumes from the download, reporting only states it had not reported yet.
 * - crash while `activating`: if the switch had not happened the deployment ends
 *   `rolled_back(internal)` with the previous release still active.
 * - crash while soaking (policy): the new release stays active and the soak starts over from zero
 *   with the previous release loaded beside it, at most `maxSoakRestarts` times (default 1); a
 *   release that keeps the agent from finishing its soak is then rolled back
 *   (`rolled_back(soak_failed)`), which ends a crash loop caused by the model itself.
 * - `succeeded` is reported after `recordInstalled` is persisted (the rollback floor of the model).
 */
import {
  canTransition,
  DEPLOYMENT_REASONS,
  DEPLOYMENT_STATES,
  fail,
  isTerminal,
  ok,
  openEnvelope,
  reasonOf,
  recordInstalled,
  checkNotExpired,
  verifyDesired,
  verifyRelease,
  type DeploymentReason,
  type DeploymentState,
  type DesiredMessage,
  type DeviceFacts,
  type Directive,
  type Failure,
  type ReleaseDocument,
  type Result,
  type Root,
  type TrustRootMessage,
  type TrustState,
} from '@edgefleet/protocol';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { InferenceEvent } from '../api/local-api.js';
import { PRIVATE_FILE_MODE } from '../config/agent-config.js';
import type { TrustStore } from '../config/trust-store.js';
import type { AgentClock } from '../core/clock.js';
import type { ModelHost, ServingModel } from '../core/model-host.js';
import { describeError, errorMessage, writeFileAtomic } from '../store/atomic-file.js';
import type { SlotName, SlotStore } from '../store/slots.js';
import { releaseBytes } from '../download/release-download.js';
import type { DeploymentJournal, MutableRecord } from './deployment-journal.js';
import { runHealthCheck } from './health-check.js';
import { judgeSoak, soakPolicy, type SoakPolicy } from './soak.js';
import { applyTrustRoot, type RotationOutcome } from './trust-rotation.js';

/** One report on `status`. */
export interface StatusReport {
  readonly releaseId: string;
  readonly directiveCounter: number;
  readonly state: DeploymentState;
  readonly reason?: DeploymentReason;
  readonly detail?: string;
  readonly progress?: { readonly bytes: number; readonly total: number };
  readonly soak?: {
    readonly inferences: number;
    readonly errors: number;
    readonly elapsedSec: number;
  };
}

/** Downloads a release's files into a slot directory. */
export type ReleaseFetcher = (
  release: ReleaseDocument,
  dir: string,
  options: { signal: AbortSignal; onProgress: (bytes: number, total: number) => void },
) => Promise<Result<void>>;

export interface ReconcilerOptions {
  readonly device: DeviceFacts;
  readonly trust: TrustStore;
  readonly journal: DeploymentJournal;
  readonly slots: SlotStore;
  readonly models: ModelHost;
  readonly fetchRelease: ReleaseFetcher;
  /** Publish a status report (queued while offline); must not throw. */
  readonly report: (status: StatusReport) => void;
  /** Around every change of the serving model: `before` closes the telemetry window, `after` reports state. */
  readonly onModelChange: (phase: 'before' | 'after') => void;
  readonly clock: AgentClock;
  readonly logger: Logger;
  readonly soakDefaults: SoakPolicy;
  /** Restarts during one soak before the release is rolled back; default 1. */
  readonly maxSoakRestarts?: number;
  /** Least time between two download progress reports; default 5000 ms. */
  readonly progressIntervalMs?: number;
  /** fsync the release document written into a slot (default true); see `writeFileAtomic`. */
  readonly durableState?: boolean;
}

/** A deployment as the `state` report and `Agent.status()` show it. */
export interface DeploymentView {
  readonly releaseId: string;
  readonly directiveCounter: number;
  readonly state: DeploymentState;
  readonly reason?: DeploymentReason;
}

const RANK = new Map<DeploymentState, number>(DEPLOYMENT_STATES.map((s, i) => [s, i]));
const rank = (s: DeploymentState): number => RANK.get(s)!;
const ACTIVATING = rank('activating');
const REASONS: ReadonlySet<string> = new Set(DEPLOYMENT_REASONS);
const encoder = new TextEncoder();

/** The `reason` of a failure code; codes that are not deployment reasons are `internal`. */
export function deploymentReason(code: Failure['code']): DeploymentReason {
  const reason = reasonOf(code);
  return REASONS.has(reason) ? (reason as DeploymentReason) : 'internal';
}

/**
 * What `acceptNow` verified, for the install of the same record in this process: the parsed
 * documents, and the trusted root and installed-release entry (of the release's model) the release
 * was checked against. Trust states are replaced, never mutated, so identity means unchanged.
 */
interface Accepted {
  readonly directive: Directive;
  readonly release: ReleaseDocument;
  readonly root: Root;
  readonly installed: TrustState['releases'][string] | undefined;
}

function installedEntry(
  state: TrustState,
  release: ReleaseDocument,
): TrustState['releases'][string] | undefined {
  const name = release.model.name;
  return Object.hasOwn(state.releases, name) ? state.releases[name] : undefined;
}

/**
 * `current` advanced to what accepting a directive verified against an earlier state (`next`): its
 * directive counter and time floor, never lower. Everything else stays as `current` holds it now:
 * an install that finished in between recorded its release (the model's rollback floor), which
 * `next`, computed before, does not know about and must not undo.
 */
export function advancedBy(current: TrustState, next: TrustState): TrustState {
  const directiveCounter = Math.max(current.directiveCounter, next.directiveCounter);
  const timeFloor = Math.max(current.timeFloor, next.timeFloor);
  if (directiveCounter === current.directiveCounter && timeFloor === current.timeFloor) {
    return current;
  }
  return { ...current, directiveCounter, timeFloor };
}

class Cancelled extends Error {
  constructor() {
    super('the agent is stopping');
  }
}

interface SoakOutcome {
  readonly verdict: 'passed' | 'failed' | 'cancelled';
  readonly inferences: number;
  readonly errors: number;
  readonly elapsedSec: number;
}

/** One soak: counts the served inferences of a release and decides with `judgeSoak`. */
class SoakRun {
  inferences = 0;
  errors = 0;
  readonly done: Promise<SoakOutcome>;
  private readonly started: number;
  private finish: (verdict: SoakOutcome['verdict']) => void = () => undefined;
  private timer: object | undefined;

  constructor(
    readonly releaseId: string,
    private readonly policy: SoakPolicy,
    private readonly clock: AgentClock,
  ) {
    this.started = clock.now();
    this.done = new Promise((resolve) => {
      let settled = false;
      this.finish = (verdict) => {
        if (settled) return;
        settled = true;
        if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
        resolve({ verdict, ...this.progress() });
      };
    });
    if (policy.durationSec > 0) {
      this.timer = clock.setTimeout(() => {
        this.timer = undefined;
        this.evaluate();
      }, policy.durationSec * 1000);
    }
    this.evaluate();
  }

  progress(): { inferences: number; errors: number; elapsedSec: number } {
    return {
      inferences: this.inferences,
      errors: this.errors,
      elapsedSec: Math.max(0, this.clock.now() - this.started) / 1000,
    };
  }

  observe(event: InferenceEvent): void {
    if (event.releaseId !== this.releaseId) return;
    this.inferences++;
    // The caller's own bad tensors say nothing about the model.
    if (event.error !== undefined && event.error.code !== 'EF_BAD_REQUEST') this.errors++;
    this.evaluate();
  }

  cancel(): void {
    this.finish('cancelled');
  }

  private evaluate(): void {
    const verdict = judgeSoak(
      {
        inferences: this.inferences,
        errors: this.errors,
        elapsedMs: this.clock.now() - this.started,
      },
      this.policy,
    );
    if (verdict !== 'continue') this.finish(verdict);
  }
}

export class Reconciler {
  private readonly abort = new AbortController();
  private worker: Promise<void> | undefined;
  private control: Promise<unknown> = Promise.resolve();
  private kicks = 0;
  private wake: (() => void) | undefined;
  private soak: SoakRun | undefined;
  /** Directive hash of the last refused `desired`: its retained copy is not refused again and again. */
  private lastRefused: string | undefined;
  private refusedMessage: DesiredMessage | undefined;
  private readonly maxSoakRestarts: number;
  private readonly progressIntervalMs: number;
  /** Verified on acceptance, not installed yet (see `Accepted`). */
  private readonly accepted = new WeakMap<MutableRecord, Accepted>();

  constructor(private readonly o: ReconcilerOptions) {
    this.maxSoakRestarts = o.maxSoakRestarts ?? 1;
    this.progressIntervalMs = o.progressIntervalMs ?? 5000;
  }

  /** The current (or last) deployment and the queued one. */
  view(): { current: DeploymentView | null; queued: DeploymentView | null } {
    const v = (r: MutableRecord | null): DeploymentView | null =>
      r === null
        ? null
        : {
            releaseId: r.releaseId,
            directiveCounter: r.directiveCounter,
            state: r.state,
            ...(r.reason !== undefined ? { reason: r.reason } : {}),
          };
    return { current: v(this.o.journal.current), queued: v(this.o.journal.queued) };
  }

  /** Progress of the soak running now, if any. */
  soakProgress(): { releaseId: string; inferences: number; errors: number } | undefined {
    const soak = this.soak;
    return soak && { releaseId: soak.releaseId, inferences: soak.inferences, errors: soak.errors };
  }

  /**
   * After a restart, before anything is received: make the trust state agree with the journal,
   * settle a deployment that was switching or soaking, and load the models to serve.
   */
  async recover(): Promise<void> {
    const { journal, trust, slots } = this.o;
    for (const rec of [journal.current, journal.queued]) {
      if (rec === null || isTerminal(rec.state)) continue;
      if (rec.directiveCounter <= trust.state.directiveCounter) continue;
      // Crashed between the journal and the trust state: persist the counter now.
      const verified = await trust.update((s) => {
        const v = verifyDesired(s, documentsOf(rec), this.o.device, this.o.clock.now());
        return v.ok ? ok(v.value.nextState) : v;
      });
      if (!verified.ok) {
        if (rec === journal.queued) journal.queued = null;
        await this.transition(rec, 'failed', failureDetail(verified));
      }
    }
    const current = journal.current;
    if (current?.state === 'succeeded') {
      const release = releaseOf(current);
      await trust.update((s) => ok(installedAlready(s, release) ? s : recordInstalled(s, release)));
    }

    if (current !== null && (current.state === 'activating' || current.state === 'soaking')) {
      if (slots.state.activeRelease !== current.releaseId) {
        await this.loadFromSlots(false);
        await this.transition(current, 'rolled_back', {
          reason: 'internal',
          detail: 'the agent restarted while switching; the previous release stays active',
        });
        return;
      }
      current.soakRestarts++;
      if (current.soakRestarts > this.maxSoakRestarts) {
        await this.revertSlots();
        await this.loadFromSlots(false);
        await this.transition(current, 'rolled_back', {
          reason: 'soak_failed',
          detail: `the agent restarted ${current.soakRestarts} times while this release was soaking`,
        });
        return;
      }
      await journal.save();
      const loaded = await this.loadFromSlots(true);
      if (!loaded.ok) {
        await this.revertSlots();
        await this.loadFromSlots(false);
        await this.transition(current, 'rolled_back', failureDetail(loaded));
      }
      return;
    }
    await this.loadFromSlots(false);
  }

  /** Start the install worker (resumes a journaled deployment). */
  start(): void {
    this.worker ??= this.runWorker();
  }

  /** Stop: cancel the download or soak in flight (resumed on the next start) and wait for it. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.soak?.cancel();
    this.wake?.();
    await this.worker;
    await this.control;
  }

  /** Count a served inference toward the soak in progress. */
  observe(event: InferenceEvent): void {
    this.soak?.observe(event);
  }

  /** Handle a decoded `desired` message: verify, record, queue, report. Never rejects. */
  accept(message: DesiredMessage): Promise<void> {
    return this.exclusive(() => this.acceptNow(message)).catch((error: unknown) => {
      this.o.logger.error({ err: error }, 'handling a desired state failed');
    });
  }

  /**
   * Apply a `trust_root` message, in arrival order with `desired` messages (so a directive signed
   * with rotated keys that follows it is checked against the new root). A `desired` refused before
   * a rotation is tried again after it.
   */
  applyTrustRoot(message: TrustRootMessage): Promise<Result<RotationOutcome>> {
    return this.exclusive(async () => {
      const rotated = await applyTrustRoot(this.o.trust, message, this.o.clock.now());
      if (rotated.ok && rotated.value.to !== rotated.value.from) {
        this.o.logger.info(rotated.value, 'trusted root rotated');
        const retry = this.refusedMessage;
        this.lastRefused = undefined;
        this.refusedMessage = undefined;
        if (retry !== undefined) await this.acceptNow(retry);
      }
      return rotated;
    });
  }

  private async acceptNow(message: DesiredMessage): Promise<void> {
    const { journal } = this.o;
    const directiveBytes = encoder.encode(message.directive);
    const releaseBytesOf = encoder.encode(message.release);
    const sha = createHash('sha256').update(directiveBytes).digest('hex');
    if (
      sha === journal.current?.directiveSha256 ||
      sha === journal.queued?.directiveSha256 ||
      sha === this.lastRefused
    ) {
      this.o.logger.debug({ directiveSha256: sha }, 'desired state already handled');
      return;
    }
    const verified = verifyDesired(
      this.o.trust.state,
      { directiveBytes, releaseBytes: releaseBytesOf },
      this.o.device,
      this.o.clock.now(),
    );
    if (!verified.ok) {
      this.lastRefused = sha;
      this.refusedMessage = message;
      this.refuse(directiveBytes, verified);
      return;
    }
    const v = verified.value;
    const record: MutableRecord = {
      directiveSha256: sha,
      directiveCounter: v.directive.directiveCounter,
      releaseId: v.release.releaseId,
      releaseSha256: v.releaseSha256,
      directive: message.directive,
      release: message.release,
      state: 'assigned',
      soakRestarts: 0,
      updatedAt: this.iso(),
    };
    const dropped = journal.queued;
    journal.queued = record;
    try {
      await journal.save();
    } catch (error) {
      // Not accepted: nothing was recorded, so say why on `status` (as for a refusal) instead of
      // staying silent; a redelivery of the same `desired` (every reconnect) is tried again.
      journal.queued = dropped;
      const detail = `cannot journal the deployment: ${describeError(error)}`;
      this.o.logger.error(
        { err: error, releaseId: record.releaseId, detail },
        'desired state not accepted',
      );
      record.state = 'failed';
      this.report(record, { reason: 'internal', detail });
      return;
    }
    // Journaled: accepted for good (see the module comment), so report it now; the trust state is
    // persisted before this exclusive step ends, so before anything acts on the directive.
    if (dropped !== null) {
      dropped.state = 'failed';
      this.report(dropped, {
        reason: 'superseded',
        detail: `superseded by directive ${record.directiveCounter}`,
      });
    }
    this.report(record, {});
    this.o.logger.info(
      { releaseId: record.releaseId, directiveCounter: record.directiveCounter },
      'deployment assigned',
    );
    let persisted: Result<TrustState>;
    try {
      persisted = await this.o.trust.update((current) => ok(advancedBy(current, v.nextState)));
    } catch (error) {
      persisted = fail('EF_INTERNAL', `cannot persist the trust state: ${describeError(error)}`);
    }
    if (!persisted.ok) {
      // Never acted on without its counter persisted: the deployment ends here, reported.
      this.o.logger.error(
        { releaseId: record.releaseId, err: persisted.message },
        'deployment failed',
      );
      await this.transition(record, 'failed', failureDetail(persisted)).catch((error: unknown) => {
        this.o.logger.error({ err: error }, 'journaling the failure failed');
        this.report(record, failureDetail(persisted));
      });
      this.kick(); // the worker clears the failed record from the queue
      return;
    }
    this.accepted.set(record, {
      directive: v.directive,
      release: v.release,
      root: persisted.value.root,
      installed: installedEntry(persisted.value, v.release),
    });
    this.kick();
  }

  private refuse(directiveBytes: Uint8Array, failure: Failure): void {
    const reason = deploymentReason(failure.code);
    const id = directiveIdentity(directiveBytes);
    this.o.logger.warn(
      { code: failure.code, reason, err: failure.message, ...id },
      'desired state refused',
    );
    if (id === undefined) return; // nothing to name it by on `status`
    this.o.report({ ...id, state: 'failed', reason, detail: truncate(failure.message) });
  }

  private kick(): void {
    this.kicks++;
    this.wake?.();
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.control.then(fn, fn);
    this.control = run.catch(() => undefined);
    return run;
  }

  private async runWorker(): Promise<void> {
    const { journal } = this.o;
    while (!this.abort.signal.aborted) {
      const seen = this.kicks;
      const next = await this.exclusive(async () => {
        const current = journal.current;
        if (current !== null && !isTerminal(current.state)) return current;
        if (journal.queued === null) return undefined;
        if (isTerminal(journal.queued.state)) {
          journal.queued = null;
          await journal.save();
          return undefined;
        }
        // Not saved here: the install's first step journals its outcome (`downloading` or
        // `failed`) with nothing done in between, and a crash before that finds the record still
        // queued, which is then promoted the same way.
        journal.current = journal.queued;
        journal.queued = null;
        return journal.current;
      });
      if (next === undefined) {
        if (this.kicks === seen && !this.isStopping()) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          this.wake = undefined;
        }
        continue;
      }
      await this.run(next);
    }
  }

  private async run(rec: MutableRecord): Promise<void> {
    try {
      await this.install(rec);
    } catch (error) {
      if (error instanceof Cancelled || this.abort.signal.aborted) return;
      const detail = describeError(error);
      this.o.logger.error(
        { err: error, releaseId: rec.releaseId, state: rec.state, detail },
        'deployment failed unexpectedly',
      );
      if (isTerminal(rec.state)) {
        // `transition` sets the state before it journals it: the journal write of this terminal
        // state failed, so the state was never reported.
        this.reportUnjournaled(
          rec,
          rec.reason ?? 'internal',
          `${rec.detail ?? rec.state}; ${detail}`,
        );
        return;
      }
      try {
        await this.failWith(rec, fail('EF_INTERNAL', detail));
      } catch (again) {
        if (again instanceof Cancelled || this.isStopping()) return;
        this.reportUnjournaled(
          rec,
          'internal',
          `${detail}; the failure cannot be journaled either: ${describeError(again)}`,
        );
      }
    }
  }

  /**
   * The journal cannot be written (descriptors or space exhausted, a broken state directory):
   * report the deployment's end anyway, so it does not hang in its last reported state for the
   * control plane. The record is terminal in memory, so the worker moves on; a restart resumes from
   * what the journal last held.
   */
  private reportUnjournaled(rec: MutableRecord, reason: DeploymentReason, detail: string): void {
    this.o.logger.error(
      { releaseId: rec.releaseId, reason, detail },
      'deployment failed; not journaled',
    );
    if (!isTerminal(rec.state))
      rec.state = rank(rec.state) >= ACTIVATING ? 'rolled_back' : 'failed';
    rec.reason = reason;
    rec.detail = truncate(detail);
    rec.updatedAt = this.iso();
    this.report(rec, { reason, detail });
  }

  private async install(rec: MutableRecord): Promise<void> {
    const accepted = this.accepted.get(rec);
    this.accepted.delete(rec);
    const release = accepted?.release ?? releaseOf(rec);
    const directive = accepted?.directive ?? directiveOf(rec);
    if (rank(rec.state) < ACTIVATING) {
      // The rollback floor may have moved since the directive was accepted (a queued install).
      const fresh = this.recheckRelease(rec, accepted);
      if (!fresh.ok) return this.failWith(rec, fresh);
      const staged = await this.stage(rec, release);
      if (!staged.ok) return this.failWith(rec, staged);
      try {
        await this.advance(rec, 'activating');
      } catch (error) {
        await staged.value.loaded.dispose().catch(() => undefined);
        throw error;
      }
      const switched = await this.activate(staged.value);
      if (!switched.ok) {
        await staged.value.loaded.dispose().catch(() => undefined);
        return this.failWith(rec, switched);
      }
    } else if (this.o.models.active?.releaseId !== rec.releaseId) {
      return this.failWith(rec, fail('EF_INTERNAL', 'the release to soak is not the active one'));
    }

    await this.advance(rec, 'soaking', { soak: { inferences: 0, errors: 0, elapsedSec: 0 } });
    const policy = soakPolicy(directive.soak, this.o.soakDefaults);
    const soak = new SoakRun(rec.releaseId, policy, this.o.clock);
    this.soak = soak;
    let outcome: SoakOutcome;
    try {
      outcome = await soak.done;
    } finally {
      this.soak = undefined;
    }
    const progress = {
      inferences: outcome.inferences,
      errors: outcome.errors,
      elapsedSec: outcome.elapsedSec,
    };
    if (outcome.verdict === 'cancelled') throw new Cancelled();
    if (outcome.verdict === 'passed') {
      const recorded = await this.o.trust.update((s) => ok(recordInstalled(s, release)));
      if (!recorded.ok) throw new Error(recorded.message);
      await this.o.models.commit();
      await this.transition(rec, 'succeeded', { soak: progress });
      this.o.onModelChange('after');
      this.o.logger.info({ releaseId: rec.releaseId, ...progress }, 'deployment succeeded');
      return;
    }
    await this.rollBack(rec, {
      reason: 'soak_failed',
      detail: `${outcome.errors} of ${outcome.inferences} inferences failed (limit ${policy.maxErrorRate})`,
      soak: progress,
    });
  }

  /**
   * `verifyRelease` against the trust state of now. When the release was verified on acceptance
   * against the same root and the same installed release of its model, the signature and counter
   * checks would give the same answer, so only expiry (time moved on) is checked again.
   */
  private recheckRelease(rec: MutableRecord, accepted: Accepted | undefined): Result<void> {
    const state = this.o.trust.state;
    const now = this.o.clock.now();
    if (
      accepted !== undefined &&
      state.root === accepted.root &&
      installedEntry(state, accepted.release) === accepted.installed
    ) {
      return checkNotExpired('release', accepted.release.expires, now, state.timeFloor);
    }
    const verified = verifyRelease(state, encoder.encode(rec.release), now);
    return verified.ok ? ok(undefined) : verified;
  }

  /** downloading -> verifying -> staged: the release loaded from the inactive slot, health-checked. */
  private async stage(rec: MutableRecord, release: ReleaseDocument): Promise<Result<ServingModel>> {
    const { slots, models } = this.o;
    const total = releaseBytes(release);
    await this.advance(rec, 'downloading', { progress: { bytes: 0, total } });
    // A download of this very release cut by a restart continues from the bytes on disk.
    const prepared = await slots.prepareInactiveSlot(total, {
      releaseDocument: rec.release,
      files: Object.keys(release.files),
    });
    if (!prepared.ok) return prepared;
    const { slot, dir, resumed } = prepared.value;
    if (resumed) {
      this.o.logger.info({ releaseId: rec.releaseId, slot }, 'resuming the interrupted download');
    } else {
      await writeFileAtomic(slots.releaseDocumentPath(slot), rec.release, {
        mode: PRIVATE_FILE_MODE,
        durable: this.o.durableState ?? true,
      });
    }
    let lastProgress = this.o.clock.now();
    const downloaded = await this.o.fetchRelease(release, dir, {
      signal: this.abort.signal,
      onProgress: (bytes, all) => {
        const now = this.o.clock.now();
        if (now - lastProgress < this.progressIntervalMs) return;
        lastProgress = now;
        this.report(rec, { progress: { bytes, total: all } });
      },
    });
    this.throwIfStopping();
    if (!downloaded.ok) return downloaded;

    await this.advance(rec, 'verifying');
    const complete = await slots.completeSlot(slot, release.releaseId, release.files);
    if (!complete.ok) return complete;
    let serving: ServingModel;
    try {
      serving = await models.load(release, dir, slot);
    } catch (error) {
      return fail('EF_LOAD_FAILED', `the model does not load: ${errorMessage(error)}`);
    }
    let handedOver = false;
    try {
      const checked = await runHealthCheck(serving.loaded, release, dir);
      this.throwIfStopping();
      if (!checked.ok) return checked;
      await this.advance(rec, 'staged');
      handedOver = true;
      return ok(serving);
    } finally {
      if (!handedOver) await serving.loaded.dispose().catch(() => undefined);
    }
  }

  /** The atomic switch: the slot store first (durable), then the serving pointer. */
  private async activate(next: ServingModel): Promise<Result<void>> {
    this.o.onModelChange('before');
    const switched = await this.o.slots.activate(next.slot);
    if (!switched.ok) return switched;
    await this.o.models.switchTo(next);
    this.o.onModelChange('after');
    return ok(undefined);
  }

  /** Local revert, no signature needed: back to the previous release, or to none on a first install. */
  private async rollBack(
    rec: MutableRecord,
    outcome: { reason: DeploymentReason; detail?: string; soak?: StatusReport['soak'] },
  ): Promise<void> {
    // Only a switch that happened is undone: a failed switch left the previous release active.
    if (this.o.slots.state.activeRelease === rec.releaseId) {
      this.o.onModelChange('before');
      const reverted = await this.revertSlots();
      const { models } = this.o;
      if (reverted && models.previous !== undefined && models.active?.releaseId === rec.releaseId) {
        await models.revert();
      } else {
        await this.loadFromSlots(false);
      }
      this.o.onModelChange('after');
    }
    await this.transition(rec, 'rolled_back', outcome);
    this.o.logger.warn(
      { releaseId: rec.releaseId, reason: outcome.reason, detail: outcome.detail },
      'deployment rolled back',
    );
  }

  /** Point the slot store back at the previous release (or at none). True if there was one. */
  private async revertSlots(): Promise<boolean> {
    const { slots } = this.o;
    if (slots.state.previousRelease !== null) {
      const reverted = await slots.revertToPrevious();
      if (reverted.ok) return true;
      this.o.logger.error({ err: reverted.message }, 'cannot revert to the previous release');
    }
    await slots.deactivate();
    return false;
  }

  /**
   * Serve what the slot store says is active (and with `withPrevious`, load the previous release
   * beside it for a soak). A release that cannot be loaded leaves nothing serving.
   */
  private async loadFromSlots(withPrevious: boolean): Promise<Result<void>> {
    const { slots, models } = this.o;
    const state = slots.state;
    const activeSlot = state.activeSlot;
    if (activeSlot === null) {
      await models.setActive(undefined);
      return ok(undefined);
    }
    const active = await this.loadSlot(activeSlot);
    if (!active.ok) {
      this.o.logger.error(
        { err: active.message, slot: activeSlot },
        'cannot serve the active release',
      );
      await models.setActive(undefined);
      return active;
    }
    let previous: ServingModel | undefined;
    if (withPrevious && state.previousRelease !== null) {
      const other: SlotName = activeSlot === 'a' ? 'b' : 'a';
      const loaded = await this.loadSlot(other);
      if (loaded.ok) previous = loaded.value;
      else this.o.logger.warn({ err: loaded.message }, 'cannot load the previous release');
    }
    await models.setActive(active.value, previous);
    return ok(undefined);
  }

  private async loadSlot(slot: SlotName): Promise<Result<ServingModel>> {
    const { slots } = this.o;
    let text: string;
    try {
      text = await readFile(slots.releaseDocumentPath(slot), 'utf8');
    } catch (error) {
      return fail('EF_LOAD_FAILED', `slot ${slot} has no release document: ${errorMessage(error)}`);
    }
    const opened = openEnvelope(encoder.encode(text), 'release');
    if (!opened.ok) return opened;
    try {
      return ok(await this.o.models.load(opened.value.signed, slots.filesDir(slot), slot));
    } catch (error) {
      return fail('EF_LOAD_FAILED', errorMessage(error));
    }
  }

  private async failWith(rec: MutableRecord, failure: Failure): Promise<void> {
    const outcome = failureDetail(failure);
    if (rank(rec.state) >= ACTIVATING) {
      await this.rollBack(rec, outcome);
      return;
    }
    await this.transition(rec, 'failed', outcome);
    this.o.logger.warn(
      { releaseId: rec.releaseId, reason: outcome.reason, detail: outcome.detail },
      'deployment failed',
    );
  }

  /** Report `to` unless an earlier run (before a restart) already got there. */
  private async advance(
    rec: MutableRecord,
    to: DeploymentState,
    extra: Omit<StatusReport, 'releaseId' | 'directiveCounter' | 'state'> = {},
  ): Promise<void> {
    this.throwIfStopping();
    if (rank(rec.state) >= rank(to)) return;
    await this.transition(rec, to, extra);
  }

  private async transition(
    rec: MutableRecord,
    to: DeploymentState,
    extra: Omit<StatusReport, 'releaseId' | 'directiveCounter' | 'state'> = {},
  ): Promise<void> {
    if (!canTransition(rec.state, to)) {
      throw new Error(`deployment ${rec.releaseId}: ${rec.state} -> ${to} is not a transition`);
    }
    rec.state = to;
    rec.updatedAt = this.iso();
    if (extra.reason !== undefined) rec.reason = extra.reason;
    else delete rec.reason;
    if (extra.detail !== undefined) rec.detail = truncate(extra.detail);
    else delete rec.detail;
    await this.o.journal.save();
    this.report(rec, extra);
  }

  private report(
    rec: MutableRecord,
    extra: Omit<StatusReport, 'releaseId' | 'directiveCounter' | 'state'>,
  ): void {
    this.o.report({
      releaseId: rec.releaseId,
      directiveCounter: rec.directiveCounter,
      state: rec.state,
      ...extra,
      ...(extra.detail !== undefined ? { detail: truncate(extra.detail) } : {}),
    });
  }

  private throwIfStopping(): void {
    if (this.isStopping()) throw new Cancelled();
  }

  private isStopping(): boolean {
    return this.abort.signal.aborted;
  }

  private iso(): string {
    return new Date(this.o.clock.now()).toISOString();
  }
}

function failureDetail(failure: Failure): { reason: DeploymentReason; detail: string } {
  return { reason: deploymentReason(failure.code), detail: truncate(failure.message) };
}

function truncate(text: string): string {
  return text.length <= 1024 ? text : `${text.slice(0, 1021)}...`;
}

function documentsOf(rec: MutableRecord): { directiveBytes: Uint8Array; releaseBytes: Uint8Array } {
  return {
    directiveBytes: encoder.encode(rec.directive),
    releaseBytes: encoder.encode(rec.release),
  };
}

/** The documents of a journal record were verified on acceptance; parse them back. */
function releaseOf(rec: MutableRecord): ReleaseDocument {
  const opened = openEnvelope(encoder.encode(rec.release), 'release');
  if (!opened.ok) throw new Error(`journaled release of ${rec.releaseId}: ${opened.message}`);
  return opened.value.signed;
}

function directiveOf(rec: MutableRecord): Directive {
  const opened = openEnvelope(encoder.encode(rec.directive), 'directive');
  if (!opened.ok) throw new Error(`journaled directive of ${rec.releaseId}: ${opened.message}`);
  return opened.value.signed;
}

function installedAlready(state: TrustState, release: ReleaseDocument): boolean {
  const name = release.model.name;
  const installed = Object.hasOwn(state.releases, name) ? state.releases[name] : undefined;
  return installed !== undefined && installed.counter >= release.releaseCounter;
}

const NAME = /^.{1,128}$/s;

/**
 * The release id and directive counter a refused directive claims, read without trusting it, so
 * the refusal can be reported on `status`. Undefined when the bytes do not even say that.
 */
export function directiveIdentity(
  bytes: Uint8Array,
): { releaseId: string; directiveCounter: number } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  const signed = (value as { signed?: unknown } | null)?.signed as
    { releaseId?: unknown; directiveCounter?: unknown } | undefined;
  if (typeof signed !== 'object') return undefined;
  const { releaseId, directiveCounter } = signed;
  if (typeof releaseId !== 'string' || !NAME.test(releaseId)) return undefined;
  if (
    typeof directiveCounter !== 'number' ||
    !Number.isSafeInteger(directiveCounter) ||
    directiveCounter < 0
  ) {
    return undefined;
  }
  return { releaseId, directiveCounter };
}
