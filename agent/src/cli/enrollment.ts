/**
 * Enrollment over the control plane's HTTP API (`POST /v1/devices/enroll`, public: the enrollment
 * token is the credential). Returns the device's credentials and the trust root to pin; nothing is
 * written here (see enroll-command.ts).
 */
import { z } from 'zod';
import type { RuntimeFacts } from '../config/device-facts.js';
import { CliError } from './cli-error.js';

export interface EnrollmentRequest {
  /** Base URL of the control plane's HTTP API. */
  readonly server: string;
  /** The enrollment token (`edgefleet enrollment-tokens create`). */
  readonly token: string;
  /** Suggested device id (e.g. a serial number); the control plane picks one when absent. */
  readonly deviceId?: string;
  readonly hardwareClass: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly facts: RuntimeFacts;
  /** Default: the global fetch. */
  readonly fetch?: typeof fetch;
  /** Default 30 s. */
  readonly timeoutMs?: number;
}

const EnrollmentResultSchema = z.object({
  deviceId: z.string().min(1),
  deviceToken: z.string().min(1),
  mqttUrl: z.string().min(1),
  apiUrl: z.string(),
  labels: z.record(z.string(), z.string()),
  /** The control plane's current root (canonical JSON envelope), pinned on the device. */
  trustRoot: z.string().min(1),
});

export type EnrollmentResult = z.infer<typeof EnrollmentResultSchema>;

const HINTS: Readonly<Record<string, string>> = {
  EF_UNAUTHORIZED:
    'the enrollment token is unknown, expired, revoked or used up: create one with `edgefleet enrollment-tokens create`',
  EF_CONFLICT: 'a device with this id is enrolled already: choose another --device-id',
  EF_BAD_REQUEST: 'check --device-id, --hardware-class and --label values',
};

/**
 * Enroll with the control plane. Throws CliError: EF_UNREACHABLE when the server cannot be reached,
 * the server's own code (EF_UNAUTHORIZED, EF_BAD_REQUEST, ...) when it refuses, EF_MALFORMED when
 * its answer is not an enrollment.
 */
export async function enrollDevice(request: EnrollmentRequest): Promise<EnrollmentResult> {
  const base = request.server.replace(/\/+$/, '');
  const body = {
    token: request.token,
    ...(request.deviceId !== undefined ? { deviceId: request.deviceId } : {}),
    hardwareClass: request.hardwareClass,
    os: process.platform,
    arch: process.arch,
    ortVersion: request.facts.ortVersion,
    executionProviders: [...request.facts.availableProviders],
    labels: { ...request.labels },
  };
  let response: Response;
  try {
    response = await (request.fetch ?? fetch)(`${base}/v1/devices/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(request.timeoutMs ?? 30_000),
    });
  } catch (error) {
    throw new CliError(
      'EF_UNREACHABLE',
      `cannot reach the control plane at ${base}: ${error instanceof Error ? error.message : String(error)}`,
      'check --server (the URL of `edgefleet server`, e.g. http://fleet.example:8080) and the network',
      { cause: error },
    );
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const code = typeof error?.code === 'string' ? error.code : `HTTP_${response.status}`;
    const message =
      typeof error?.message === 'string'
        ? error.message
        : text.slice(0, 200) || response.statusText;
    throw new CliError(code, `enrollment refused: ${message}`, HINTS[code]);
  }
  const parsed = EnrollmentResultSchema.safeParse(json);
  if (!parsed.success) {
    throw new CliError(
      'EF_MALFORMED',
      `${base} answered the enrollment with something that is not an enrollment`,
      'is --server the control plane (not the MQTT broker or a proxy page)?',
    );
  }
  return parsed.data;
}
