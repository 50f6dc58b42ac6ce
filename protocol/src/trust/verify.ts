/**
 * What a device checks before it acts on a `desired` message (ARCHITECTURE §3), in this order:
 *
 *   1. byte caps                    EF_TOO_LARGE
 *   2. canonical bytes              EF_NOT_CANONICAL, EF_MALFORMED
 *   3. schema                       EF_MALFORMED, EF_PATH_INVALID, EF_THRESHOLD_INVALID
 *   4. `_type`                      EF_WRONG_TYPE
 *   5. signature thresholds         EF_SIGNATURE_INVALID  (deploy role: directive; release role: release)
 *   6. expiry vs max(now, floor)    EF_EXPIRED            (freeze attack)
 *   7. counters                     EF_ROLLBACK_REFUSED   (rollback and replay)
 *   8. device binding               EF_WRONG_DEVICE
 *   9. directive names the release  EF_MIX_AND_MATCH
 *  10. compat                       EF_INCOMPATIBLE
 *
 * Each step runs for both documents before the next step starts. Files are checked later, while
 * they download (file-check.ts). Nothing here throws or changes the state it is given.
 */
import type { Envelope } from '../crypto/envelope.js';
import { fail, ok, type Result } from '../errors.js';
import { checkCompat, type DeviceFacts } from './compat.js';
import type { Directive } from './directive.js';
import { timestampMs } from './fields.js';
import { releaseSha256, type ReleaseDocument } from './release.js';
import {
  checkNotExpired,
  checkRoleSignatures,
  checkSize,
  openEnvelope,
} from './signed-document.js';
import type { TrustState } from './state.js';

export interface VerifyReleaseOptions {
  /**
   * The agent is reverting to its previous release on its own after a failed health check: a
   * release counter below the installed one is allowed (no new signature is needed for that).
   */
  readonly localRevert?: boolean;
}

export interface VerifiedDirective {
  readonly envelope: Envelope<Directive>;
  readonly directive: Directive;
  /** The state to persist once the directive is acted on: counter and time floor advanced. */
  readonly nextState: TrustState;
}

export interface VerifiedRelease {
  readonly envelope: Envelope<ReleaseDocument>;
  readonly release: ReleaseDocument;
  /** releaseSha256() of the envelope. */
  readonly sha256: string;
}

export interface VerifiedDesired {
  readonly directive: Directive;
  readonly directiveEnvelope: Envelope<Directive>;
  readonly release: ReleaseDocument;
  readonly releaseEnvelope: Envelope<ReleaseDocument>;
  readonly releaseSha256: string;
  /**
   * The state to persist: directive counter and time floor advanced. The release counter is
   * recorded separately, by `recordInstalled`, once the install has succeeded.
   */
  readonly nextState: TrustState;
}

/** The bytes of a `desired` message: a signed directive and the signed release it names. */
export interface DesiredBytes {
  readonly directiveBytes: Uint8Array;
  readonly releaseBytes: Uint8Array;
}

function checkDirectiveCounter(state: TrustState, directive: Directive): Result<void> {
  if (directive.directiveCounter > state.directiveCounter) return ok(undefined);
  return fail(
    'EF_ROLLBACK_REFUSED',
    `directive counter ${directive.directiveCounter} is not above the last accepted ${state.directiveCounter}`,
    { received: directive.directiveCounter, trusted: state.directiveCounter },
  );
}

function checkReleaseCounter(
  state: TrustState,
  release: ReleaseDocument,
  sha256: string,
  options: VerifyReleaseOptions,
): Result<void> {
  const name = release.model.name;
  if (!Object.hasOwn(state.releases, name)) return ok(undefined);
  const installed = state.releases[name]!;
  const received = release.releaseCounter;
  if (received < installed.counter && options.localRevert !== true) {
    return fail(
      'EF_ROLLBACK_REFUSED',
      `release counter ${received} of ${name} is below the installed ${installed.counter}`,
      { model: name, received, installed: installed.counter },
    );
  }
  // Two different documents under one counter: at least one of them was not meant for us.
  if (received === installed.counter && sha256 !== installed.sha256) {
    return fail(
      'EF_ROLLBACK_REFUSED',
      `release counter ${received} of ${name} is installed with different content`,
      { model: name, received, installedSha256: installed.sha256, receivedSha256: sha256 },
    );
  }
  return ok(undefined);
}

function checkDevice(directive: Directive, deviceId: string): Result<void> {
  if (directive.deviceId === deviceId) return ok(undefined);
  return fail('EF_WRONG_DEVICE', `directive is for device ${directive.deviceId}, not ${deviceId}`, {
    expected: deviceId,
    actual: directive.deviceId,
  });
}

function checkNamesRelease(
  directive: Directive,
  release: ReleaseDocument,
  sha256: string,
): Result<void> {
  if (directive.releaseSha256 !== sha256) {
    return fail('EF_MIX_AND_MATCH', 'directive names a different release document', {
      named: directive.releaseSha256,
      presented: sha256,
    });
  }
  if (directive.releaseId !== release.releaseId) {
    return fail('EF_MIX_AND_MATCH', `directive names release ${directive.releaseId}`, {
      named: directive.releaseId,
      presented: release.releaseId,
    });
  }
  return ok(undefined);
}

function advance(state: TrustState, directive: Directive, now: number): TrustState {
  const issuedAt = timestampMs(directive.issuedAt) ?? 0;
  return {
    ...state,
    directiveCounter: directive.directiveCounter,
    timeFloor: Math.max(state.timeFloor, now, issuedAt),
  };
}

/**
 * Verify a directive on its own: steps 1-8 against the deploy role of the trusted root.
 * `now` is the device clock in milliseconds since the epoch.
 */
export function verifyDirective(
  state: TrustState,
  directiveBytes: Uint8Array,
  deviceId: string,
  now: number,
): Result<VerifiedDirective> {
  const opened = openEnvelope(directiveBytes, 'directive');
  if (!opened.ok) return opened;
  const envelope = opened.value;
  const directive = envelope.signed;
  const signed = checkRoleSignatures(envelope, state.root, 'deploy');
  if (!signed.ok) return signed;
  const fresh = checkNotExpired('directive', directive.expires, now, state.timeFloor);
  if (!fresh.ok) return fresh;
  const counter = checkDirectiveCounter(state, directive);
  if (!counter.ok) return counter;
  const bound = checkDevice(directive, deviceId);
  if (!bound.ok) return bound;
  return ok({ envelope, directive, nextState: advance(state, directive, now) });
}

/** Verify a release document on its own: steps 1-7 against the release role of the trusted root. */
export function verifyRelease(
  state: TrustState,
  releaseBytes: Uint8Array,
  now: number,
  options: VerifyReleaseOptions = {},
): Result<VerifiedRelease> {
  const opened = openEnvelope(releaseBytes, 'release');
  if (!opened.ok) return opened;
  const envelope = opened.value;
  const release = envelope.signed;
  const signed = checkRoleSignatures(envelope, state.root, 'release');
  if (!signed.ok) return signed;
  const fresh = checkNotExpired('release', release.expires, now, state.timeFloor);
  if (!fresh.ok) return fresh;
  const sha256 = releaseSha256(envelope);
  const counter = checkReleaseCounter(state, release, sha256, options);
  if (!counter.ok) return counter;
  return ok({ envelope, release, sha256 });
}

/**
 * Verify a `desired` message for this device: all ten steps, each for both documents before the
 * next. On success returns both documents and the next state; the caller's state is never changed.
 */
export function verifyDesired(
  state: TrustState,
  desired: DesiredBytes,
  device: DeviceFacts,
  now: number,
  options: VerifyReleaseOptions = {},
): Result<VerifiedDesired> {
  const sizes = [
    checkSize(desired.directiveBytes, 'directive'),
    checkSize(desired.releaseBytes, 'release'),
  ];
  for (const size of sizes) if (!size.ok) return size;

  const openedDirective = openEnvelope(desired.directiveBytes, 'directive');
  if (!openedDirective.ok) return openedDirective;
  const openedRelease = openEnvelope(desired.releaseBytes, 'release');
  if (!openedRelease.ok) return openedRelease;
  const directiveEnvelope = openedDirective.value;
  const releaseEnvelope = openedRelease.value;
  const directive = directiveEnvelope.signed;
  const release = releaseEnvelope.signed;
  const sha256 = releaseSha256(releaseEnvelope);

  const checks: (() => Result<void>)[] = [
    () => checkRoleSignatures(directiveEnvelope, state.root, 'deploy'),
    () => checkRoleSignatures(releaseEnvelope, state.root, 'release'),
    () => checkNotExpired('directive', directive.expires, now, state.timeFloor),
    () => checkNotExpired('release', release.expires, now, state.timeFloor),
    () => checkDirectiveCounter(state, directive),
    () => checkReleaseCounter(state, release, sha256, options),
    () => checkDevice(directive, device.deviceId),
    () => checkNamesRelease(directive, release, sha256),
    () => checkCompat(release.compat, device),
  ];
  for (const check of checks) {
    const r = check();
    if (!r.ok) return r;
  }
  return ok({
    directive,
    directiveEnvelope,
    release,
    releaseEnvelope,
    releaseSha256: sha256,
    nextState: advance(state, directive, now),
  });
}
