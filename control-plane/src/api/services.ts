/**
 * What the API routes are built from. The server assembles it once at start; tests assemble it with
 * in-memory parts (PGlite in memory, a temp artifact dir, a fake broker link).
 */
import type { MetricsRegistry } from '@edgefleet/protocol';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticate.js';
import type { Database } from '../db/database.js';
import type { Keyring } from '../keys/keyring.js';
import type { ArtifactStore } from '../registry/artifact-store.js';

/** The control plane's side of the broker, whichever broker it is (embedded or external). */
export interface BrokerLink {
  /** Publish (QoS 1); `retain` for desired state and trust roots. An empty payload clears a retained topic. */
  publish(topic: string, payload: Uint8Array, options?: { retain?: boolean }): Promise<void>;
  /** Close a device's MQTT session (after decommissioning). No-op on an external broker. */
  disconnectDevice(deviceId: string): void;
}

export interface Services {
  readonly db: Database;
  readonly artifacts: ArtifactStore;
  readonly authenticator: Authenticator;
  readonly broker: BrokerLink;
  readonly keyring: Keyring;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly now: () => Date;
  /** Settings the routes need. */
  readonly settings: {
    readonly maxUploadBytes: number;
    /** Broker URL handed to devices at enrollment. */
    readonly deviceMqttUrl: string;
    /** HTTP base URL devices use (artifact downloads). */
    readonly publicUrl: string;
  };
}
