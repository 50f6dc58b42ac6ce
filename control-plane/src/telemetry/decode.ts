/**
 * Decoding what devices publish, for ingest: bytes in, a typed message (with its sketches decoded)
 * or a drop reason out. Pure and total: nothing a device sends makes it throw.
 */
import {
  DDSketch,
  decodeMessage,
  DEFAULT_PROFILE_LIMITS,
  FrequentItems,
  KllSketch,
  NumericSummary,
  Profile,
  type DevicePublishKind,
  type ErrorCode,
  type FeatureSketch,
  type PresenceMessage,
  type ProfileWire,
  type RandomSource,
  type StateMessage,
  type StatusMessage,
  type TelemetryMessage,
} from '@edgefleet/protocol';

/** Why a message was dropped (the `reason` label of the drop counter). */
export type DropReason =
  /** Over the byte cap of its message type. */
  | 'too_large'
  /** Not JSON, wrong `type`, or not matching the schema. */
  | 'malformed'
  | 'unsupported_version'
  /** The telemetry profile does not decode (schema-valid but inconsistent sketches). */
  | 'malformed_profile'
  /** The payload's deviceId is not the one in the topic. */
  | 'device_mismatch'
  /** A telemetry window already ingested (same deviceId and seq). */
  | 'duplicate'
  /** No such active device. */
  | 'unknown_device'
  /** A window older than the acceptance horizon (its dedupe record may be gone). */
  | 'too_old'
  /** A window starting too far in the future (device clock). */
  | 'clock_skew'
  /** The buffer is full: writes do not keep up. */
  | 'overloaded'
  /** Ingest was closed. */
  | 'closed'
  /** Writing the batch failed repeatedly. */
  | 'write_failed';

export const DROP_REASONS: readonly DropReason[] = [
  'too_large',
  'malformed',
  'unsupported_version',
  'malformed_profile',
  'device_mismatch',
  'duplicate',
  'unknown_device',
  'too_old',
  'clock_skew',
  'overloaded',
  'closed',
  'write_failed',
];

export interface TelemetryItem {
  readonly kind: 'telemetry';
  readonly deviceId: string;
  readonly msg: TelemetryMessage;
  readonly profile: Profile | null;
  readonly latency: DDSketch | null;
  /** When the control plane received it (epoch ms, ingest clock). */
  readonly receivedAt: number;
}

export interface StatusItem {
  readonly kind: 'status';
  readonly deviceId: string;
  readonly msg: StatusMessage;
  readonly receivedAt: number;
}

export interface StateItem {
  readonly kind: 'state';
  readonly deviceId: string;
  readonly msg: StateMessage;
  readonly receivedAt: number;
}

/** Presence from the device's own message (LWT), or from the broker's session events. */
export interface PresenceItem {
  readonly kind: 'presence';
  readonly deviceId: string;
  readonly online: boolean;
  readonly msg: PresenceMessage | null;
  readonly receivedAt: number;
}

export type IngestItem = TelemetryItem | StatusItem | StateItem | PresenceItem;

export type DecodeOutcome =
  | { readonly ok: true; readonly item: IngestItem }
  | { readonly ok: false; readonly reason: DropReason; readonly message: string };

function reasonOfCode(code: ErrorCode): DropReason {
  switch (code) {
    case 'EF_TOO_LARGE':
      return 'too_large';
    case 'EF_UNSUPPORTED_VERSION':
      return 'unsupported_version';
    default:
      return 'malformed';
  }
}

const drop = (reason: DropReason, message: string): DecodeOutcome => ({
  ok: false,
  reason,
  message,
});

/**
 * The sketches of a profile the message schema has already validated (`ProfileWireSchema` is part
 * of `TelemetryMessageSchema`): `decodeProfile` would walk the same schema a second time. Applies
 * `decodeProfile`'s limits and consistency checks, with the same outcomes.
 */
function profileOfWire(
  wire: ProfileWire,
  random: RandomSource | undefined,
): DecodeOutcome | Profile {
  const limits = DEFAULT_PROFILE_LIMITS;
  const entries = Object.entries(wire.features);
  if (entries.length > limits.maxFeatures) {
    return drop('too_large', `profile: ${entries.length} features exceed ${limits.maxFeatures}`);
  }
  const features: [string, FeatureSketch][] = [];
  for (const [name, f] of entries) {
    if (f.kind === 'numeric') {
      if (f.kll.length > limits.maxKllChars) {
        return drop('too_large', `profile: feature "${name}" has a KLL sketch over the size cap`);
      }
      // The message schema has validated the summary and the item lists.
      const summary = NumericSummary.fromValid(f.summary);
      const kll = KllSketch.fromBase64(f.kll, random === undefined ? {} : { random });
      if (!kll.ok) return drop('malformed_profile', `profile: feature "${name}": ${kll.message}`);
      if (kll.value.n !== summary.count) {
        return drop(
          'malformed_profile',
          `profile: feature "${name}" has ${kll.value.n} values in its KLL sketch but ${summary.count} in its summary`,
        );
      }
      features.push([name, { kind: 'numeric', summary, kll: kll.value }]);
    } else {
      if (f.items.items.length > limits.maxItems) {
        return drop(
          'too_large',
          `profile: feature "${name}" has more than ${limits.maxItems} items`,
        );
      }
      features.push([name, { kind: 'categorical', items: FrequentItems.fromValid(f.items) }]);
    }
  }
  return new Profile(features, wire.window);
}

/**
 * Decode a message a device published on `edgefleet/v1/d/{topicDeviceId}/{kind}`. The payload's
 * deviceId must be the topic's (the broker ACL binds the topic to the authenticated device, so the
 * topic is what proves who sent it).
 */
export function decodeDeviceMessage(
  kind: DevicePublishKind,
  topicDeviceId: string,
  bytes: Uint8Array,
  receivedAt: number,
  random?: RandomSource,
): DecodeOutcome {
  const decoded = decodeMessage(kind, bytes);
  if (!decoded.ok) return drop(reasonOfCode(decoded.code), decoded.message);
  const msg = decoded.value;
  if (msg.deviceId !== topicDeviceId) {
    return drop(
      'device_mismatch',
      `payload deviceId ${JSON.stringify(msg.deviceId)} is not the topic's ${JSON.stringify(topicDeviceId)}`,
    );
  }
  const deviceId = topicDeviceId;
  switch (msg.type) {
    case 'telemetry': {
      let profile: Profile | null = null;
      if (msg.profile !== null) {
        const p = profileOfWire(msg.profile, random);
        if (!(p instanceof Profile)) return p;
        profile = p;
      }
      // Validated by the message schema.
      const latency = msg.latencyMs === null ? null : DDSketch.fromValid(msg.latencyMs);
      return { ok: true, item: { kind: 'telemetry', deviceId, msg, profile, latency, receivedAt } };
    }
    case 'status':
      return { ok: true, item: { kind: 'status', deviceId, msg, receivedAt } };
    case 'state':
      return { ok: true, item: { kind: 'state', deviceId, msg, receivedAt } };
    case 'presence':
      return {
        ok: true,
        item: { kind: 'presence', deviceId, online: msg.online, msg, receivedAt },
      };
  }
}
