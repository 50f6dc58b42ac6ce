/**
 * Broker access rules (ARCHITECTURE §3 "Broker rules") as pure decisions, shared by the embedded
 * broker's hooks and mirrored by the generated Mosquitto ACL.
 *
 * Deny by default. A device may subscribe only to its own `desired` and `cmd` and to `trust/root`, with
 * no wildcards; it may publish only to its own `status|state|telemetry|presence`, with retain=0 and
 * QoS <= 1. The control plane may use everything under `edgefleet/v1/`. Every refusal carries a stable
 * reason for logs and metrics.
 */
import {
  DEVICE_PUBLISH_KINDS,
  DEVICE_SUBSCRIBE_KINDS,
  TOPIC_PREFIX,
  isValidDeviceId,
  parseTopic,
  type DeviceTopicKind,
} from '@edgefleet/protocol';

/** Size limits applied to every topic, filter and payload the ACL sees. */
export interface AclLimits {
  /** Most `/`-separated levels in a topic or filter. Edgefleet topics have at most 5. */
  readonly maxTopicLevels: number;
  /** Longest topic or filter, in UTF-8 bytes. */
  readonly maxTopicBytes: number;
  /** Largest payload, in bytes. */
  readonly maxPayloadBytes: number;
}

export const DEFAULT_ACL_LIMITS: AclLimits = {
  maxTopicLevels: 8,
  maxTopicBytes: 256,
  maxPayloadBytes: 256 * 1024,
};

/** Why a publish or subscription was refused. Stable: used as a log field and a metric label. */
export type AclDenyReason =
  /** The principal's own id is not an acceptable device id. */
  | 'invalid_device_id'
  | 'topic_empty'
  | 'topic_too_long'
  | 'topic_too_deep'
  | 'payload_too_large'
  /** `+` or `#` where Edgefleet allows only exact topics. */
  | 'wildcard'
  /** `$share/...`: not offered to devices, and aedes 1.x has no shared subscriptions. */
  | 'shared_subscription'
  /** Topics starting with `$` (such as `$SYS`) belong to the broker [MQTT-4.7.2-1]. */
  | 'reserved_topic'
  | 'qos_too_high'
  | 'retain_refused'
  /** Not a topic of the Edgefleet contract (outside `edgefleet/v1/`, or an unknown shape or kind). */
  | 'foreign_topic'
  /** Another device's topic. */
  | 'other_device'
  /** The principal's own topic, but the wrong direction (e.g. a device publishing its `desired`). */
  | 'wrong_direction';

export type AclDecision =
  { readonly allowed: true } | { readonly allowed: false; readonly reason: AclDenyReason };

/** What the ACL needs to know about a PUBLISH besides its topic. */
export interface PublishFacts {
  readonly qos: number;
  readonly retain: boolean;
  /** Payload size in bytes. */
  readonly bytes: number;
}

const ALLOW: AclDecision = { allowed: true };
const deny = (reason: AclDenyReason): AclDecision => ({ allowed: false, reason });

const PUBLISH_KINDS: ReadonlySet<DeviceTopicKind> = new Set(DEVICE_PUBLISH_KINDS);
const SUBSCRIBE_KINDS: ReadonlySet<DeviceTopicKind> = new Set(DEVICE_SUBSCRIBE_KINDS);
const NAMESPACE = `${TOPIC_PREFIX}/`;

/** Length, depth and reserved-prefix checks common to every topic and filter. */
function checkShape(topic: string, limits: AclLimits): AclDecision {
  if (topic.length === 0) return deny('topic_empty');
  if (Buffer.byteLength(topic, 'utf8') > limits.maxTopicBytes) return deny('topic_too_long');
  if (topic.split('/').length > limits.maxTopicLevels) return deny('topic_too_deep');
  if (topic.startsWith('$share/')) return deny('shared_subscription');
  if (topic.startsWith('$')) return deny('reserved_topic');
  return ALLOW;
}

function hasWildcard(topic: string): boolean {
  return topic.includes('+') || topic.includes('#');
}

/** Checks for a device's PUBLISH: only its own device-to-control-plane topics, retain=0, QoS <= 1. */
export function authorizeDevicePublish(
  deviceId: string,
  topic: string,
  facts: PublishFacts,
  limits: AclLimits = DEFAULT_ACL_LIMITS,
): AclDecision {
  if (!isValidDeviceId(deviceId)) return deny('invalid_device_id');
  const shape = checkShape(topic, limits);
  if (!shape.allowed) return shape;
  if (hasWildcard(topic)) return deny('wildcard');
  if (facts.bytes > limits.maxPayloadBytes) return deny('payload_too_large');
  if (facts.qos > 1) return deny('qos_too_high');
  if (facts.retain) return deny('retain_refused');
  const parsed = parseTopic(topic);
  if (!parsed.ok) return deny('foreign_topic');
  const t = parsed.value;
  if (t.kind === 'trust_root') return deny('wrong_direction');
  if (t.deviceId !== deviceId) return deny('other_device');
  return PUBLISH_KINDS.has(t.kind) ? ALLOW : deny('wrong_direction');
}

/**
 * Checks a device's subscription: exactly its own `desired` or `cmd`, or `trust/root`. Also used to
 * check each message forwarded to a device, since a concrete topic is a filter without wildcards.
 */
export function authorizeDeviceSubscribe(
  deviceId: string,
  filter: string,
  limits: AclLimits = DEFAULT_ACL_LIMITS,
): AclDecision {
  if (!isValidDeviceId(deviceId)) return deny('invalid_device_id');
  const shape = checkShape(filter, limits);
  if (!shape.allowed) return shape;
  if (hasWildcard(filter)) return deny('wildcard');
  const parsed = parseTopic(filter);
  if (!parsed.ok) return deny('foreign_topic');
  const t = parsed.value;
  if (t.kind === 'trust_root') return ALLOW;
  if (t.deviceId !== deviceId) return deny('other_device');
  return SUBSCRIBE_KINDS.has(t.kind) ? ALLOW : deny('wrong_direction');
}

/** True if `topic` (or filter) lies under `edgefleet/v1/#`, whose first two levels are literal. */
function inNamespace(topic: string): boolean {
  return topic.startsWith(NAMESPACE) && topic.length > NAMESPACE.length;
}

/** The control plane may publish anything under `edgefleet/v1/`, retained or not, QoS <= 2. */
export function authorizeControlPlanePublish(
  topic: string,
  facts: PublishFacts,
  limits: AclLimits = DEFAULT_ACL_LIMITS,
): AclDecision {
  const shape = checkShape(topic, limits);
  if (!shape.allowed) return shape;
  if (hasWildcard(topic)) return deny('wildcard');
  if (facts.bytes > limits.maxPayloadBytes) return deny('payload_too_large');
  return inNamespace(topic) ? ALLOW : deny('foreign_topic');
}

/** The control plane may subscribe to any filter under `edgefleet/v1/`, wildcards included. */
export function authorizeControlPlaneSubscribe(
  filter: string,
  limits: AclLimits = DEFAULT_ACL_LIMITS,
): AclDecision {
  const shape = checkShape(filter, limits);
  if (!shape.allowed) return shape;
  return inNamespace(filter) ? ALLOW : deny('foreign_topic');
}
