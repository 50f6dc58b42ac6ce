import {
  TRUST_ROOT_TOPIC,
  cmdTopic,
  desiredTopic,
  presenceTopic,
  stateTopic,
  statusTopic,
  telemetryTopic,
} from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ACL_LIMITS,
  authorizeControlPlanePublish,
  authorizeControlPlaneSubscribe,
  authorizeDevicePublish,
  authorizeDeviceSubscribe,
  type AclDenyReason,
} from './acl.js';

const ME = 'dev-1';
const OTHER = 'dev-2';
const NORMAL = { qos: 1, retain: false, bytes: 100 };

const reasonOf = (d: { allowed: boolean; reason?: AclDenyReason }) =>
  d.allowed ? 'allowed' : d.reason;

describe('authorizeDevicePublish', () => {
  it.each([statusTopic(ME), stateTopic(ME), telemetryTopic(ME), presenceTopic(ME)])(
    'allows its own %s at QoS 0 and 1',
    (topic) => {
      expect(authorizeDevicePublish(ME, topic, NORMAL)).toEqual({ allowed: true });
      expect(authorizeDevicePublish(ME, topic, { ...NORMAL, qos: 0 })).toEqual({ allowed: true });
    },
  );

  it.each<[string, string, AclDenyReason]>([
    ['another device', statusTopic(OTHER), 'other_device'],
    ['its own desired', desiredTopic(ME), 'wrong_direction'],
    ['its own cmd', cmdTopic(ME), 'wrong_direction'],
    ['trust/root', TRUST_ROOT_TOPIC, 'wrong_direction'],
    ['a foreign topic', 'foo/bar', 'foreign_topic'],
    ['an unknown kind', `edgefleet/v1/d/${ME}/secrets`, 'foreign_topic'],
    ['an extra level', `${statusTopic(ME)}/x`, 'foreign_topic'],
    ['a $SYS topic', '$SYS/broker/version', 'reserved_topic'],
    ['a wildcard', `edgefleet/v1/d/+/status`, 'wildcard'],
    ['an empty topic', '', 'topic_empty'],
  ])('refuses %s', (_, topic, reason) => {
    expect(authorizeDevicePublish(ME, topic, NORMAL)).toEqual({ allowed: false, reason });
  });

  it('refuses retain, QoS 2 and a payload over the cap', () => {
    const topic = statusTopic(ME);
    expect(reasonOf(authorizeDevicePublish(ME, topic, { ...NORMAL, retain: true }))).toBe(
      'retain_refused',
    );
    expect(reasonOf(authorizeDevicePublish(ME, topic, { ...NORMAL, qos: 2 }))).toBe('qos_too_high');
    const max = DEFAULT_ACL_LIMITS.maxPayloadBytes;
    expect(authorizeDevicePublish(ME, topic, { ...NORMAL, bytes: max }).allowed).toBe(true);
    expect(reasonOf(authorizeDevicePublish(ME, topic, { ...NORMAL, bytes: max + 1 }))).toBe(
      'payload_too_large',
    );
  });

  it('refuses topics deeper or longer than the limits', () => {
    const deep = [statusTopic(ME), ...Array<string>(95).fill('x')].join('/');
    expect(reasonOf(authorizeDevicePublish(ME, deep, NORMAL))).toBe('topic_too_deep');
    const long = `edgefleet/v1/d/${'a'.repeat(300)}/status`;
    expect(reasonOf(authorizeDevicePublish(ME, long, NORMAL))).toBe('topic_too_long');
    const limits = { ...DEFAULT_ACL_LIMITS, maxTopicLevels: 4 };
    expect(reasonOf(authorizeDevicePublish(ME, statusTopic(ME), NORMAL, limits))).toBe(
      'topic_too_deep',
    );
  });

  it('refuses a principal whose own id is not a device id', () => {
    for (const bad of ['', '+', 'a/b', '#', '$SYS', ' dev']) {
      expect(reasonOf(authorizeDevicePublish(bad, statusTopic(ME), NORMAL))).toBe(
        'invalid_device_id',
      );
    }
  });
});

describe('authorizeDeviceSubscribe', () => {
  it.each([desiredTopic(ME), cmdTopic(ME), TRUST_ROOT_TOPIC])('allows %s', (filter) => {
    expect(authorizeDeviceSubscribe(ME, filter)).toEqual({ allowed: true });
  });

  it.each<[string, AclDenyReason]>([
    [desiredTopic(OTHER), 'other_device'],
    [cmdTopic(OTHER), 'other_device'],
    [statusTopic(ME), 'wrong_direction'],
    [telemetryTopic(ME), 'wrong_direction'],
    ['edgefleet/v1/d/+/desired', 'wildcard'],
    [`edgefleet/v1/d/${ME}/+`, 'wildcard'],
    [`edgefleet/v1/d/${ME}/#`, 'wildcard'],
    ['#', 'wildcard'],
    ['+/+/+/+/+', 'wildcard'],
    ['$SYS/#', 'reserved_topic'],
    ['$share/g/edgefleet/v1/d/dev-1/desired', 'shared_subscription'],
    ['edgefleet/v1/trust', 'foreign_topic'],
    ['other/topic', 'foreign_topic'],
    ['', 'topic_empty'],
    [Array<string>(100).fill('a').join('/'), 'topic_too_deep'],
  ])('refuses %s (%s)', (filter, reason) => {
    expect(authorizeDeviceSubscribe(ME, filter)).toEqual({ allowed: false, reason });
  });
});

describe('control plane', () => {
  it('may publish anything under edgefleet/v1/, retained and at any QoS', () => {
    const facts = { qos: 2, retain: true, bytes: 10 };
    expect(authorizeControlPlanePublish(desiredTopic(ME), facts).allowed).toBe(true);
    expect(authorizeControlPlanePublish(TRUST_ROOT_TOPIC, facts).allowed).toBe(true);
    expect(reasonOf(authorizeControlPlanePublish('other/x', facts))).toBe('foreign_topic');
    expect(reasonOf(authorizeControlPlanePublish('edgefleet/v1/', facts))).toBe('foreign_topic');
    expect(reasonOf(authorizeControlPlanePublish('$SYS/x', facts))).toBe('reserved_topic');
  });

  it('may subscribe to any filter under edgefleet/v1/, wildcards included', () => {
    expect(authorizeControlPlaneSubscribe('edgefleet/v1/#').allowed).toBe(true);
    expect(authorizeControlPlaneSubscribe('edgefleet/v1/d/+/status').allowed).toBe(true);
    expect(reasonOf(authorizeControlPlaneSubscribe('#'))).toBe('foreign_topic');
    expect(reasonOf(authorizeControlPlaneSubscribe('edgefleet/#'))).toBe('foreign_topic');
    expect(reasonOf(authorizeControlPlaneSubscribe('edgefleet/+/d/x/status'))).toBe(
      'foreign_topic',
    );
    expect(reasonOf(authorizeControlPlaneSubscribe('$SYS/#'))).toBe('reserved_topic');
  });
});
