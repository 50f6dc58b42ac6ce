/**
 * What devices send (telemetry, status, state, presence) reaches ingest through the control plane's
 * subscriptions. A retained message on a device topic is dropped and cleared: devices never retain
 * (the embedded broker refuses it; Mosquitto 2.0 cannot, see broker/mosquitto-config.ts).
 *
 * With `sharedGroup` the filters are shared subscriptions (`$share/<group>/edgefleet/v1/d/+/<kind>`):
 * the broker hands each message to one subscriber of the group, so replicas split the ingest instead
 * of each processing every message.
 */
import {
  allDevicesFilter,
  DEVICE_PUBLISH_KINDS,
  parseTopic,
  sharedAllDevicesFilter,
  type DevicePublishKind,
} from '@edgefleet/protocol';
import type { Logger } from 'pino';
import type { TelemetryIngest } from '../telemetry/ingest.js';
import type { ControlPlaneClient } from './broker-link.js';

const PUBLISH_KINDS: ReadonlySet<string> = new Set(DEVICE_PUBLISH_KINDS);

export async function subscribeDeviceTopics(
  mqtt: ControlPlaneClient,
  ingest: TelemetryIngest,
  logger: Logger,
  sharedGroup?: string,
): Promise<void> {
  const filters = DEVICE_PUBLISH_KINDS.map((kind) =>
    sharedGroup === undefined ? allDevicesFilter(kind) : sharedAllDevicesFilter(sharedGroup, kind),
  );
  await mqtt.subscribe(filters, (topic, payload, retain) => {
    const parsed = parseTopic(topic);
    if (!parsed.ok || parsed.value.kind === 'trust_root' || !PUBLISH_KINDS.has(parsed.value.kind))
      return;
    if (retain) {
      if (payload.length > 0) {
        logger.warn({ topic }, 'dropping and clearing a retained message on a device topic');
        mqtt.publish(topic, new Uint8Array(0), { retain: true }).catch((err: unknown) => {
          logger.warn({ err, topic }, 'could not clear a retained device message');
        });
      }
      return;
    }
    ingest.accept(parsed.value.kind as DevicePublishKind, parsed.value.deviceId, payload);
  });
}
