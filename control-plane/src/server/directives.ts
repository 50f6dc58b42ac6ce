/**
 * Turning a scheduled deployment into what a device converges to: a directive signed with the deploy
 * key(s), published retained on the device's `desired` topic together with the signed release it names
 * (ARCHITECTURE §3: desired-state reconciliation, a device that was offline catches up on connect).
 */
import {
  canonicalize,
  desiredTopic,
  encodeMessage,
  isoTimestamp,
  signDirective,
  type Directive,
} from '@edgefleet/protocol';
import type { BrokerLink } from '../api/services.js';
import type { Keyring } from '../keys/keyring.js';
import type { PendingDirective } from '../rollouts/engine.js';

/** How long a directive stays valid: long enough for an offline device to come back and install. */
export const DIRECTIVE_LIFETIME_MS = 7 * 86_400_000;

export function createDirectivePublisher(deps: {
  keyring: Keyring;
  broker: BrokerLink;
  now: () => Date;
}): (d: PendingDirective) => Promise<void> {
  return async function publishDirective(d: PendingDirective): Promise<void> {
    const issued = deps.now().getTime();
    const directive: Directive = {
      _type: 'directive',
      deviceId: d.deviceId,
      releaseId: d.release.releaseId,
      releaseSha256: d.release.sha256,
      directiveCounter: d.directiveCounter,
      issuedAt: isoTimestamp(issued),
      expires: isoTimestamp(issued + DIRECTIVE_LIFETIME_MS),
      ...(d.soak ? { soak: d.soak } : {}),
    };
    const envelope = signDirective(directive, deps.keyring.signingKeys('deploy'));
    const payload = encodeMessage('desired', {
      v: 1,
      type: 'desired',
      directive: canonicalize(envelope),
      release: d.release.envelope,
    });
    await deps.broker.publish(desiredTopic(d.deviceId), payload, { retain: true });
  };
}
