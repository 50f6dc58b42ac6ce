/**
 * Server configuration: flags win over environment variables, which win over defaults. Validated once
 * at start; a mistake is reported before anything opens.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { EdgefleetError } from '@edgefleet/protocol';
import { DEFAULT_RETENTION } from './server/retention.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

const port = z.coerce.number().int().min(0).max(65535);

export const ServerConfigSchema = z.strictObject({
  /** Where PGlite, artifacts, keys and the admin token live. */
  dataDir: z.string().min(1),
  httpHost: z.string().min(1),
  /** 0 picks a free port. */
  httpPort: port,
  /** Embedded broker bind address and port (ignored with mqttUrl). */
  mqttHost: z.string().min(1),
  mqttPort: port,
  /** PostgreSQL instead of the embedded PGlite. */
  databaseUrl: z.url().optional(),
  /** An external broker instead of the embedded one. */
  mqttUrl: z.url().optional(),
  /** Credentials of the control plane's own client on an external broker. */
  mqttUsername: z.string().optional(),
  mqttPassword: z.string().optional(),
  /** The URL devices use for the HTTP API (artifact downloads); defaults to the listening address. */
  publicUrl: z.url().optional(),
  /** The broker URL handed to devices at enrollment; defaults to the embedded broker's address. */
  deviceMqttUrl: z.url().optional(),
  logLevel: z.enum(LOG_LEVELS),
  /** Largest model upload accepted. */
  maxUploadBytes: z.coerce.number().int().min(1),
  /** Use this admin token instead of generating one on first start. */
  adminToken: z.string().min(16).optional(),
  /**
   * Subscribe to device topics as `$share/<group>/...` so the replicas of a cluster split the ingest
   * (EMQX, HiveMQ, Mosquitto >= 2.0; not the embedded aedes broker). Unset = every replica receives
   * every device message.
   */
  sharedSubscriptionGroup: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'use letters, digits, ".", "_" and "-"')
    .optional(),
  /** How often a follower replica tries to become the scheduler leader (PostgreSQL only). */
  leaderPollMs: z.coerce.number().int().min(100).max(60_000),
  /** Retention in days (see server/retention.ts): per-device telemetry windows. */
  deviceWindowRetentionDays: z.coerce
    .number()
    .min(1 / 24)
    .max(36_500),
  /** Merged release x cohort x window aggregates (drift monitors, release rollups). */
  aggregateRetentionDays: z.coerce
    .number()
    .min(1 / 24)
    .max(36_500),
  /** Drift metric series and resolved drift events. */
  driftRetentionDays: z.coerce
    .number()
    .min(1 / 24)
    .max(36_500),
});

export type ServerConfig = z.infer<typeof ServerConfigSchema>;

export const DEFAULT_HTTP_PORT = 8080;
export const DEFAULT_MQTT_PORT = 1883;

/** Build a config from flags (already parsed) and the environment. */
export function loadServerConfig(
  flags: Partial<Record<keyof ServerConfig, string | number | undefined>>,
  env: NodeJS.ProcessEnv = process.env,
): ServerConfig {
  const pick = <K extends keyof ServerConfig>(k: K, envName: string, dflt?: string | number) =>
    flags[k] ?? env[envName] ?? dflt;
  const raw = {
    dataDir: resolve(String(pick('dataDir', 'EDGEFLEET_DATA_DIR', '.edgefleet'))),
    httpHost: pick('httpHost', 'EDGEFLEET_HTTP_HOST', '127.0.0.1'),
    httpPort: pick('httpPort', 'EDGEFLEET_HTTP_PORT', DEFAULT_HTTP_PORT),
    mqttHost: pick('mqttHost', 'EDGEFLEET_MQTT_HOST', '127.0.0.1'),
    mqttPort: pick('mqttPort', 'EDGEFLEET_MQTT_PORT', DEFAULT_MQTT_PORT),
    databaseUrl: pick('databaseUrl', 'DATABASE_URL') || undefined,
    mqttUrl: pick('mqttUrl', 'MQTT_URL') || undefined,
    mqttUsername: pick('mqttUsername', 'MQTT_USERNAME') || undefined,
    mqttPassword: pick('mqttPassword', 'MQTT_PASSWORD') || undefined,
    publicUrl: pick('publicUrl', 'EDGEFLEET_PUBLIC_URL') || undefined,
    deviceMqttUrl: pick('deviceMqttUrl', 'EDGEFLEET_DEVICE_MQTT_URL') || undefined,
    logLevel: pick('logLevel', 'LOG_LEVEL', 'info'),
    maxUploadBytes: pick('maxUploadBytes', 'EDGEFLEET_MAX_UPLOAD_BYTES', 2 * 1024 ** 3),
    adminToken: pick('adminToken', 'EDGEFLEET_ADMIN_TOKEN') || undefined,
    sharedSubscriptionGroup:
      pick('sharedSubscriptionGroup', 'EDGEFLEET_SHARED_SUBSCRIPTION_GROUP') || undefined,
    leaderPollMs: pick('leaderPollMs', 'EDGEFLEET_LEADER_POLL_MS', 3000),
    deviceWindowRetentionDays: pick(
      'deviceWindowRetentionDays',
      'EDGEFLEET_DEVICE_WINDOW_RETENTION_DAYS',
      DEFAULT_RETENTION.deviceWindowDays,
    ),
    aggregateRetentionDays: pick(
      'aggregateRetentionDays',
      'EDGEFLEET_AGGREGATE_RETENTION_DAYS',
      DEFAULT_RETENTION.aggregateDays,
    ),
    driftRetentionDays: pick(
      'driftRetentionDays',
      'EDGEFLEET_DRIFT_RETENTION_DAYS',
      DEFAULT_RETENTION.driftHistoryDays,
    ),
  };
  const parsed = ServerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new EdgefleetError(
      'EF_BAD_REQUEST',
      `invalid server configuration: ${i.path.map(String).join('.')}: ${i.message}`,
      {
        details: {
          issues: parsed.error.issues.map((x) => ({
            path: x.path.map(String).join('.'),
            message: x.message,
          })),
        },
      },
    );
  }
  return parsed.data;
}
