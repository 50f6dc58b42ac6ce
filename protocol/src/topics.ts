/**
 * MQTT topics of the Edgefleet contract (ARCHITECTURE §3). All QoS 1, under the `edgefleet/v1` prefix.
 *
 * Device ids travel inside topic names, broker usernames and ACL files, so they are held to a narrow
 * alphabet: a letter or digit first, then letters, digits, `.`, `_`, `-`, at most 64 characters. That
 * excludes the MQTT wildcards `+` and `#`, the level separator `/`, NUL [MQTT-4.7.3-2], `$` (reserved
 * for broker topics such as `$SYS` [MQTT-4.7.2-1]) and white space (which would break ACL files).
 */
import { fail, ok, type Result } from './errors.js';

export const TOPIC_PREFIX = 'edgefleet/v1';
export const MAX_DEVICE_ID_LENGTH = 64;
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The topics a device publishes to (device -> control plane). */
export const DEVICE_PUBLISH_KINDS = ['status', 'state', 'telemetry', 'presence'] as const;
/** The per-device topics a device subscribes to (control plane -> device). */
export const DEVICE_SUBSCRIBE_KINDS = ['desired', 'cmd'] as const;

export type DevicePublishKind = (typeof DEVICE_PUBLISH_KINDS)[number];
export type DeviceSubscribeKind = (typeof DEVICE_SUBSCRIBE_KINDS)[number];
export type DeviceTopicKind = DevicePublishKind | DeviceSubscribeKind;

/** A parsed topic. */
export type Topic =
  { readonly kind: DeviceTopicKind; readonly deviceId: string } | { readonly kind: 'trust_root' };

/** True if `id` is an acceptable device id. */
export function isValidDeviceId(id: string): boolean {
  return DEVICE_ID.test(id);
}

/** Check a device id, with a message saying what is wrong. */
export function checkDeviceId(id: string): Result<string> {
  if (id.length === 0) return fail('EF_MALFORMED', 'device id is empty');
  if (id.length > MAX_DEVICE_ID_LENGTH) {
    return fail('EF_MALFORMED', `device id is longer than ${MAX_DEVICE_ID_LENGTH} characters`);
  }
  if (!DEVICE_ID.test(id)) {
    return fail(
      'EF_MALFORMED',
      'device id must start with a letter or digit and contain only letters, digits, ".", "_" and "-"',
    );
  }
  return ok(id);
}

function assertDeviceId(id: string): void {
  const r = checkDeviceId(id);
  if (!r.ok) throw new TypeError(`invalid device id ${JSON.stringify(id)}: ${r.message}`);
}

/** `edgefleet/v1/d/{deviceId}/{kind}`. Throws TypeError on an invalid id (a programming error). */
export function deviceTopic(deviceId: string, kind: DeviceTopicKind): string {
  assertDeviceId(deviceId);
  return `${TOPIC_PREFIX}/d/${deviceId}/${kind}`;
}

export const desiredTopic = (deviceId: string): string => deviceTopic(deviceId, 'desired');
export const cmdTopic = (deviceId: string): string => deviceTopic(deviceId, 'cmd');
export const statusTopic = (deviceId: string): string => deviceTopic(deviceId, 'status');
export const stateTopic = (deviceId: string): string => deviceTopic(deviceId, 'state');
export const telemetryTopic = (deviceId: string): string => deviceTopic(deviceId, 'telemetry');
export const presenceTopic = (deviceId: string): string => deviceTopic(deviceId, 'presence');
/** Retained: the newest root metadata, for rotation. */
export const TRUST_ROOT_TOPIC = `${TOPIC_PREFIX}/trust/root`;

/** Subscription filter for one device-to-control-plane kind across all devices. */
export function allDevicesFilter(kind: DevicePublishKind): string {
  return `${TOPIC_PREFIX}/d/+/${kind}`;
}

/** Shared-subscription filter (MQTT 5 / EMQX / HiveMQ) so several replicas split the ingest. */
export function sharedAllDevicesFilter(group: string, kind: DevicePublishKind): string {
  return `$share/${group}/${allDevicesFilter(kind)}`;
}

const KINDS: ReadonlySet<string> = new Set<string>([
  ...DEVICE_PUBLISH_KINDS,
  ...DEVICE_SUBSCRIBE_KINDS,
]);

/** Parse a concrete topic name (no wildcards). Returns EF_MALFORMED for anything not in the contract. */
export function parseTopic(topic: string): Result<Topic> {
  if (topic === TRUST_ROOT_TOPIC) return ok({ kind: 'trust_root' });
  const parts = topic.split('/');
  if (parts.length !== 5 || parts[0] !== 'edgefleet' || parts[1] !== 'v1' || parts[2] !== 'd') {
    return fail(
      'EF_MALFORMED',
      `topic ${JSON.stringify(topic.slice(0, 200))} is not an Edgefleet topic`,
    );
  }
  const deviceId = parts[3]!;
  const kind = parts[4]!;
  if (!isValidDeviceId(deviceId)) return fail('EF_MALFORMED', 'topic carries an invalid device id');
  if (!KINDS.has(kind)) return fail('EF_MALFORMED', `unknown topic kind ${JSON.stringify(kind)}`);
  return ok({ kind: kind as DeviceTopicKind, deviceId });
}
