/**
 * The agent's configuration file, written by enrollment (`edgefleet-agent enroll`) and read at
 * start-up. It holds the device token, so it is written with mode 0600 and a looser mode is
 * reported as a problem.
 *
 *     {
 *       "deviceId": "dev-001", "deviceToken": "...",
 *       "mqttUrl": "mqtt://fleet.example:1883", "apiUrl": "https://fleet.example",
 *       "hardwareClass": "jetson-orin", "labels": {"site": "lyon"},
 *       "executionProviders": ["cuda", "cpu"], "stateDir": "/var/lib/edgefleet-agent",
 *       "localApi": {"host": "127.0.0.1", "port": 8181}   // or {"socketPath": ...} or null
 *     }
 *
 * Everything else has a default (see the schema).
 */
import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { DeviceIdSchema, TrustNameSchema, type Result } from '@edgefleet/protocol';
import { z } from 'zod';
import { readJsonFile, writeJsonFileAtomic } from '../store/atomic-file.js';

/** Mode of every file the agent writes that holds a secret or trust material. */
export const PRIVATE_FILE_MODE = 0o600;

const url = (protocols: readonly string[]) =>
  z
    .string()
    .max(2048)
    .refine(
      (s) => {
        try {
          return protocols.includes(new URL(s).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL with scheme ${protocols.map((p) => p.slice(0, -1)).join(', ')}`,
    );

const label = z.string().min(1).max(63);

export const SoakDefaultsSchema = z.strictObject({
  /** Healthy inferences the new model must serve; default 10. */
  minInferences: z.int().min(0).max(Number.MAX_SAFE_INTEGER).default(10),
  /** Seconds the new model must serve; default 60. */
  durationSec: z.int().min(0).max(Number.MAX_SAFE_INTEGER).default(60),
  /** Largest failed fraction of served inferences; default 0.05. */
  maxErrorRate: z.number().min(0).max(1).default(0.05),
});

export const LocalApiConfigSchema = z.union([
  z.strictObject({
    host: z.string().min(1).max(255).default('127.0.0.1'),
    port: z.int().min(0).max(65_535),
  }),
  z.strictObject({ socketPath: z.string().min(1).max(107) }),
]);

export const AgentConfigSchema = z.strictObject({
  deviceId: DeviceIdSchema,
  /** Device credential: MQTT password and HTTP Basic password (username = deviceId). */
  deviceToken: z.string().min(1).max(1024),
  mqttUrl: url(['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:']),
  /** Base URL of the control plane's HTTP API (artifacts are fetched from `{apiUrl}/v1/artifacts`). */
  apiUrl: url(['http:', 'https:']),
  hardwareClass: TrustNameSchema,
  labels: z.record(label, label).default({}),
  /** Execution providers in order of preference; CPU is always tried last. */
  executionProviders: z.array(z.string().min(1).max(64)).max(16).default(['cpu']),
  /** Where the agent keeps its trust state, models and spool; must be absolute. */
  stateDir: z.string().min(1).max(4096).refine(isAbsolute, 'must be an absolute path'),
  /** Local inference API: loopback TCP, a unix socket, or null for none (embedded agents). */
  localApi: LocalApiConfigSchema.nullable().default(null),
  telemetryIntervalSec: z.int().min(1).max(86_400).default(10),
  spoolMaxBytes: z
    .int()
    .min(4096)
    .max(Number.MAX_SAFE_INTEGER)
    .default(64 * 1024 * 1024),
  soakDefaults: SoakDefaultsSchema.default({
    minInferences: 10,
    durationSec: 60,
    maxErrorRate: 0.05,
  }),
  /** Threads per operator; default onnxruntime's own. */
  intraOpThreads: z.int().min(1).max(1024).optional(),
  /** MQTT keep-alive in seconds; default 30. */
  mqttKeepaliveSec: z.int().min(1).max(65_535).default(30),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** The configuration with every default applied. */
export type AgentConfig = z.infer<typeof AgentConfigSchema>;
/** The configuration as written (defaults may be left out). */
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;

/** Validate a configuration object and apply the defaults. Throws a ZodError on a bad one. */
export function parseAgentConfig(input: AgentConfigInput): AgentConfig {
  return AgentConfigSchema.parse(input);
}

/** Read and validate the configuration file (EF_NOT_FOUND, EF_MALFORMED with the zod issues). */
export function readAgentConfig(path: string): Promise<Result<AgentConfig>> {
  return readJsonFile(path, AgentConfigSchema, { maxBytes: 64 * 1024 });
}

/** Write the configuration file atomically with mode 0600 (it holds the device token). */
export async function writeAgentConfig(path: string, config: AgentConfigInput): Promise<void> {
  await writeJsonFileAtomic(path, AgentConfigSchema.parse(config), { mode: PRIVATE_FILE_MODE });
}

/**
 * A problem with the file's permissions, or undefined: a configuration readable by group or others
 * gives the device token away.
 */
export async function configFileModeProblem(path: string): Promise<string | undefined> {
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  return `${path} has mode ${mode.toString(8).padStart(4, '0')}; it holds the device token and should be 0600 (chmod 600 ${path})`;
}
