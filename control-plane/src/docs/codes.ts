/**
 * The reference of codes an operator meets (`docs/reference/codes.md`): the protocol's error codes
 * with their HTTP status, the reasons devices report, and the codes only the control plane and its
 * CLI use. Every table is typed as a complete record over the union it documents, so a new state,
 * reason or status without guidance is a compile error.
 */
import {
  DEPLOYMENT_REASONS,
  ERROR_CODES,
  deploymentReasonGuide,
  errorGuide,
  type CodeGuide,
  type DeploymentState,
  type ErrorCode,
} from '@edgefleet/protocol';
import type {
  DeviceDeploymentState,
  DriftEventStatus,
  GateEvaluationKind,
  RetrainingRequestStatus,
  RolloutState,
  WaveState,
  WebhookDeliveryStatus,
} from '../db/schema.js';
import type { EnrollmentRefusal } from '../db/tokens.js';
import { statusOf } from '../http/errors.js';
import type { SkipReason } from '../rollouts/gates.js';
import type { AbortMetric } from '../rollouts/spec.js';
import type { GateMetric } from '../rollouts/gates.js';

type Guide<K extends string> = { readonly [Key in K]: CodeGuide };

/** The device deployment states a device reports (ARCHITECTURE §4). */
export const DEPLOYMENT_STATE_GUIDE: Guide<DeploymentState> = {
  assigned: {
    meaning: 'The device accepted a verified directive and queued the install.',
    action: 'Nothing.',
  },
  downloading: {
    meaning: "Fetching the release's files (resumable, length- and hash-checked while streaming).",
    action: 'Nothing; a device stuck here cannot reach `/v1/artifacts` (see `download_failed`).',
  },
  verifying: {
    meaning:
      'All files are on disk; checking them against the signed release and loading the model.',
    action: 'Nothing.',
  },
  staged: {
    meaning: 'Loaded into the inactive slot; the health check passed.',
    action: 'Nothing.',
  },
  activating: {
    meaning: 'Switching the active slot (atomic rename + fsync).',
    action: 'Nothing.',
  },
  soaking: {
    meaning:
      'Serving with the new model and counting healthy inferences (and/or time) before declaring success.',
    action:
      'A soak that needs inferences waits for traffic: without any, the device times out. Send traffic, or use a soak with `minInferences: 0`.',
  },
  succeeded: {
    meaning: 'The new model served a healthy soak. Final.',
    action: 'Nothing.',
  },
  failed: {
    meaning:
      'Refused or failed before activation; the previous model is untouched. Final; carries a reason.',
    action: 'See the reason below.',
  },
  rolled_back: {
    meaning:
      'Failed after activation; the agent went back to the previous model. Final; carries a reason.',
    action: 'See the reason below.',
  },
};

/** Rollout states (ARCHITECTURE §4, plus `superseded`). */
export const ROLLOUT_STATE_GUIDE: Guide<RolloutState> = {
  draft: {
    meaning: 'Created with `draft: true` (`--draft`); nothing is sent.',
    action: '`edgefleet rollouts start ID`.',
  },
  awaiting_approval: {
    meaning: 'The next wave needs an approval (`approval.beforeFirstWave` / `betweenWaves`).',
    action: '`edgefleet rollouts approve ID` (deployer).',
  },
  running: {
    meaning: 'Waves are being assigned, installed and judged.',
    action: '`edgefleet rollouts status ID --watch`.',
  },
  paused: {
    meaning:
      'No new directives (devices already updating carry on). By an operator, or by the failure action `pause` (the default) after a failed gate or tripped abort criteria.',
    action:
      '`resume` (refused while the current wave has failed its gate: `retry` or `promote` it first), or `abort` / `cancel`.',
  },
  completed: { meaning: 'Every wave passed. Final.', action: 'Nothing.' },
  aborted: {
    meaning:
      'Stopped with fleet rollback: every device the rollout moved is sent back to its previous release through a new rollback rollout (`kind: rollback`). Final.',
    action: 'Watch the rollback rollout (`rollouts list`: `rollbackOf`).',
  },
  cancelled: {
    meaning:
      'Stopped by an operator: unsent directives withdrawn; devices that got the release keep it. Final.',
    action: 'Nothing; `abort` instead when devices must go back.',
  },
  superseded: {
    meaning:
      'A newer rollout of the same model started; its unsent directives were withdrawn. Final.',
    action: 'Nothing.',
  },
};

/** Wave states. */
export const WAVE_STATE_GUIDE: Guide<WaveState> = {
  pending: { meaning: 'Not started.', action: 'Nothing.' },
  running: { meaning: 'Members are being assigned and are installing.', action: 'Nothing.' },
  soaking: {
    meaning: 'Every member activated the release (or finished); device soaks are running.',
    action: 'Nothing; `promote` skips the rest of the soak.',
  },
  passed: { meaning: 'Every member finished and the gate passed.', action: 'Nothing.' },
  failed: {
    meaning: 'Every member finished and the gate failed; the failure action ran.',
    action: '`retry` (re-sends failed and timed-out devices), `promote` (override), or `abort`.',
  },
};

/** Deployment states that only the control plane records (a device never reports them). */
export const CONTROL_PLANE_DEPLOYMENT_STATES: Guide<
  Exclude<DeviceDeploymentState, DeploymentState>
> = {
  pending: {
    meaning:
      'A directive was issued to the device (it may still wait in the outbox for the broker) and the device has not reported yet.',
    action:
      'Nothing, unless it stays: check that the device is online (`edgefleet devices list`) and connected to the broker. A device that never reports becomes `timed_out`.',
  },
  timed_out: {
    meaning:
      "The device did not reach a final state within the wave's device timeout (default 30 min) after its directive.",
    action:
      'Check that the device is online (`edgefleet devices list`) and whether its soak can finish: a soak that needs N inferences waits for traffic. Then `edgefleet rollouts retry ID`, or raise `--timeout`.',
  },
};

/** Reasons the control plane records on a device deployment it ends itself. */
export const CONTROL_PLANE_DEPLOYMENT_REASONS: Guide<'cancelled' | 'superseded' | 'timed_out'> = {
  cancelled: {
    meaning:
      'The rollout was cancelled before this device was sent its directive; it never got one.',
    action: 'Nothing: devices that had their directive keep the release (abort sends them back).',
  },
  superseded: {
    meaning:
      'A newer rollout of the same model replaced this one before this device was sent its directive.',
    action: 'Nothing: the newer rollout covers the device if its selector matches.',
  },
  timed_out: {
    meaning: 'Recorded with the `timed_out` state (see above).',
    action: '`edgefleet rollouts retry ID` once the device is reachable.',
  },
};

/** The checks of wave gates and abort criteria, as `rollouts status` prints them. */
export const GATE_METRICS: Guide<GateMetric | AbortMetric> = {
  success_ratio: {
    meaning:
      'Wave gate: succeeded / members of the wave (timed-out devices count as not succeeded). Passes at >= `minSuccessRatio` (default 0.95).',
    action:
      'Below the limit: look at the failure reasons of the wave devices; `retry` them, `promote` the wave to override, or `abort` to roll the fleet back.',
  },
  error_rate: {
    meaning:
      'Errors per inference on the new release from telemetry (wave gate `maxErrorRate`, or abort criterion). Also sent to devices as their soak limit.',
    action:
      'Over the limit: the new model fails on live inputs; inspect the device logs and inputs.',
  },
  p95_latency_ratio: {
    meaning: "The wave's p95 inference latency divided by the baseline release's p95.",
    action:
      'Over the limit: the new model is slower on the devices (execution provider fallback to CPU is a common cause: check `edgefleet-agent status`).',
  },
  output_drift: {
    meaning:
      "Distance of the new release's output distribution from the baseline's (the drift metric of the telemetry).",
    action:
      'Over the limit: the new model predicts differently in production; compare before promoting.',
  },
  failed_ratio: {
    meaning: 'Abort criterion: failed / decided devices of the rollout.',
    action: 'Tripped: the failure action (`pause` or `abort`) ran; see the failure reasons.',
  },
  timed_out_ratio: {
    meaning: 'Abort criterion: timed_out / decided devices.',
    action: 'Tripped: devices are offline or soaks cannot finish; see `timed_out`.',
  },
  rolled_back_ratio: {
    meaning: 'Abort criterion: rolled_back / decided devices.',
    action: 'Tripped: devices reverted after activation (health check, soak); see their reasons.',
  },
};

/** Why a gate check was not made (a skipped check passes). */
export const GATE_SKIP_REASONS: Guide<SkipReason> = {
  no_telemetry: {
    meaning: "No telemetry from the wave's devices on the new release in the gate's window.",
    action:
      'Expected right after activation or with little traffic; the device outcomes (success ratio) decide meanwhile. If it persists, check that the agents publish telemetry.',
  },
  no_baseline: {
    meaning: 'No telemetry of the baseline release to compare the p95 latency with.',
    action: 'Give `baselineReleaseId` (API) if the default baseline runs on no device.',
  },
  too_few_devices: {
    meaning: "Fewer devices back the value than the criterion's `minDevices` (default 10).",
    action: 'Nothing; lower `minDevices` for small fleets.',
  },
};

/** The kinds of gate evaluation a rollout records. */
export const GATE_EVALUATION_KIND_GUIDE: Guide<GateEvaluationKind> = {
  wave_gate: {
    meaning: 'The gate of a wave whose members all finished.',
    action: 'If it failed: see the checks; `retry`, `promote` or `abort`.',
  },
  abort_criteria: {
    meaning: "The rollout's abort criteria, evaluated while it runs.",
    action:
      'If tripped: the failure action ran (`pause` by default, `abort` rolls the fleet back).',
  },
  promote: {
    meaning: 'An operator passed the wave with `edgefleet rollouts promote ID`.',
    action: 'Nothing; it is recorded for the audit.',
  },
};

/** `details.reason` of an enrollment refused with EF_UNAUTHORIZED. */
export const ENROLLMENT_REFUSALS: Guide<EnrollmentRefusal> = {
  unknown: {
    meaning: 'No enrollment token has this value.',
    action: 'Copy the token again (it is shown once) or create one.',
  },
  revoked: {
    meaning: 'The enrollment token was revoked.',
    action: 'Create a new one: `edgefleet enrollment-tokens create`.',
  },
  expired: {
    meaning: 'The enrollment token expired (default lifetime 24 h).',
    action: 'Create a new one, with `--expires` if devices enroll over a longer time.',
  },
  exhausted: {
    meaning: 'The enrollment token was used `maxUses` times (default 1).',
    action: 'Create a new one with a larger `--max-uses`.',
  },
};

export const DRIFT_EVENT_STATUS_GUIDE: Guide<DriftEventStatus> = {
  firing: {
    meaning:
      'A drift event is open for a model release x cohort x feature set (`inputs`, `outputs` or `all`): at least m of the last n evaluated windows were over threshold (`fireAfter`, default 2 of 3). Its reason is `input_drift` or `prediction_drift`.',
    action:
      'Look at the features it names (`GET /v1/drift`); a retraining request was filed and sent to the webhooks.',
  },
  resolved: {
    meaning:
      '`clearAfter` (default 3) consecutive windows under `clearRatio` (default 0.8) x threshold.',
    action: 'Nothing. A new event for the same key waits for `cooldownMs` (default 30 min).',
  },
};

export const RETRAINING_REQUEST_STATUS_GUIDE: Guide<RetrainingRequestStatus> = {
  pending: {
    meaning: 'Filed with a drift event; no webhook delivery of it succeeded yet.',
    action: 'Register a webhook for `retraining.requested`, or poll `GET /v1/retraining-requests`.',
  },
  delivered: {
    meaning: 'A `retraining.requested` webhook delivery succeeded.',
    action: 'Nothing.',
  },
  failed: {
    meaning:
      'Reserved: the current control plane never sets it (undelivered requests stay `pending`).',
    action: 'Nothing.',
  },
};

export const WEBHOOK_DELIVERY_STATUS_GUIDE: Guide<WebhookDeliveryStatus> = {
  pending: {
    meaning: 'Waiting for its first or next attempt.',
    action: 'Nothing; attempts back off from 5 s, doubling, up to 1 h.',
  },
  succeeded: { meaning: 'The receiver answered 2xx.', action: 'Nothing.' },
  failed: {
    meaning: 'The webhook was deleted or disabled before the attempt.',
    action: 'Register the webhook again if the event is still wanted.',
  },
  dead: {
    meaning:
      'Ten attempts failed (network error, timeout, or an answer other than 2xx; redirects are not followed).',
    action:
      'Fix the receiver (`GET /v1/webhooks/{id}/deliveries` shows every attempt with its status and error). Dead deliveries are not retried.',
  },
};

/** Codes the CLIs print that are not protocol error codes. */
export const CLI_CODES: Guide<'EF_USAGE' | 'EF_UNREACHABLE' | 'HTTP_<status>'> = {
  EF_USAGE: {
    meaning: 'A command-line mistake (unknown command or flag, missing value). Exit code 2.',
    action:
      'Read the usage printed with it (`edgefleet help`, `edgefleet-agent <command> --help`).',
  },
  EF_UNREACHABLE: {
    meaning: 'The control plane could not be reached over HTTP.',
    action:
      'Check `--server` / `EDGEFLEET_SERVER` (default http://127.0.0.1:8080) and that `edgefleet server` runs.',
  },
  'HTTP_<status>': {
    meaning:
      'The server answered an error without an Edgefleet error body (a proxy, a load balancer, or not the control plane).',
    action: 'Check what answers at the server URL.',
  },
};

// --- Rendering ------------------------------------------------------------------------------------

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
}

function guideTable(guide: Readonly<Record<string, CodeGuide>>, keyHeader = 'code'): string[] {
  return table(
    [keyHeader, 'meaning', 'what to do'],
    Object.entries(guide).map(([k, g]) => [`\`${k}\``, g.meaning, g.action]),
  );
}

/** `docs/reference/codes.md`. */
export function renderCodesMarkdown(): string {
  const codes = Object.keys(ERROR_CODES) as ErrorCode[];
  const lines = [
    '<!-- Generated by `npm run docs` from protocol/src/errors.ts, protocol/src/error-guide.ts and control-plane/src/docs/codes.ts: edit those, not this file. -->',
    '',
    '# Error and reason codes',
    '',
    'Every failure in Edgefleet carries a stable code. The same code appears in API error bodies',
    '(`{"error": {"code", "message", "details"}}`), in CLI output (`error EF_CODE: message` and a',
    '`hint:` line), in logs, and, lower-cased without `EF_`, as the reason of a device deployment that',
    'ended `failed` or `rolled_back` (`EF_HASH_MISMATCH` is reported as `hash_mismatch`).',
    'Back to the [operator guide](../guide/README.md).',
    '',
    '## Error codes',
    '',
    'HTTP is the status the control-plane API answers with the code; codes the API does not map',
    '(mostly ones only devices meet) would be 500.',
    '',
    ...table(
      ['code', 'HTTP', 'meaning', 'what to do'],
      codes.map((code) => {
        const g = errorGuide(code);
        return [`\`${code}\``, String(statusOf(code)), g.meaning, g.action];
      }),
    ),
    '',
    '## Device deployment reasons',
    '',
    'A device ends a deployment `failed(reason)` when something went wrong before activation (the',
    'previous model was never touched) and `rolled_back(reason)` after it (the agent went back to the',
    'previous model by itself). It reports the reason on its `status` topic; the control plane counts',
    'the device as failed or rolled back in its wave.',
    '',
    ...guideTable(
      Object.fromEntries(DEPLOYMENT_REASONS.map((r) => [r, deploymentReasonGuide(r)])),
      'reason',
    ),
    '',
    '## Deployment states and reasons the control plane adds',
    '',
    'Devices report the states of the deployment state machine; the control plane adds two of its own',
    '(`pending`, `timed_out`) and ends withdrawn deployments `failed` with a reason of its own.',
    '',
    ...guideTable(DEPLOYMENT_STATE_GUIDE, 'state'),
    '',
    ...guideTable(CONTROL_PLANE_DEPLOYMENT_STATES, 'state'),
    '',
    ...guideTable(CONTROL_PLANE_DEPLOYMENT_REASONS, 'reason'),
    '',
    '## Rollout and wave states',
    '',
    ...guideTable(ROLLOUT_STATE_GUIDE, 'rollout'),
    '',
    ...guideTable(WAVE_STATE_GUIDE, 'wave'),
    '',
    '## Gates and abort criteria',
    '',
    '`edgefleet rollouts status ID` lists every gate evaluation with its checks: `metric=value (limit',
    'threshold) ok | FAIL | skipped (reason)`.',
    '',
    ...guideTable(GATE_EVALUATION_KIND_GUIDE, 'evaluation'),
    '',
    ...guideTable(GATE_METRICS, 'metric'),
    '',
    ...guideTable(GATE_SKIP_REASONS, 'skipped'),
    '',
    '## Enrollment refusals',
    '',
    '`POST /v1/devices/enroll` answers `EF_UNAUTHORIZED` with `details.reason`:',
    '',
    ...guideTable(ENROLLMENT_REFUSALS, 'reason'),
    '',
    '## Drift events, retraining requests and webhook deliveries',
    '',
    ...guideTable(DRIFT_EVENT_STATUS_GUIDE, 'drift event'),
    '',
    ...guideTable(RETRAINING_REQUEST_STATUS_GUIDE, 'retraining request'),
    '',
    ...guideTable(WEBHOOK_DELIVERY_STATUS_GUIDE, 'webhook delivery'),
    '',
    '## CLI-only codes',
    '',
    'Both CLIs exit 0 on success, 1 on an error and 2 on a usage mistake.',
    '',
    ...guideTable(CLI_CODES),
    '',
  ];
  return lines.join('\n');
}

/** Every code, reason and status the reference documents (for tests). */
export function documentedCodes(): string[] {
  return [
    ...Object.keys(ERROR_CODES),
    ...DEPLOYMENT_REASONS,
    ...[
      DEPLOYMENT_STATE_GUIDE,
      ROLLOUT_STATE_GUIDE,
      WAVE_STATE_GUIDE,
      CONTROL_PLANE_DEPLOYMENT_STATES,
      CONTROL_PLANE_DEPLOYMENT_REASONS,
      GATE_METRICS,
      GATE_SKIP_REASONS,
      GATE_EVALUATION_KIND_GUIDE,
      ENROLLMENT_REFUSALS,
      DRIFT_EVENT_STATUS_GUIDE,
      RETRAINING_REQUEST_STATUS_GUIDE,
      WEBHOOK_DELIVERY_STATUS_GUIDE,
      CLI_CODES,
    ].flatMap((g) => Object.keys(g)),
  ];
}
