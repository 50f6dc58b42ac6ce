/**
 * What to do about each stable code: the operator's side of `errors.ts` and `deployment.ts`.
 *
 * `ERROR_ACTIONS` covers every `ErrorCode` and `DEPLOYMENT_REASON_ACTIONS` every reason a device may
 * report with `failed` or `rolled_back`; both are typed as complete records, so adding a code or a
 * reason without guidance is a compile error. `docs/reference/codes.md` is generated from them
 * (`npm run docs`).
 */
import type { DeploymentReason } from './deployment.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';

/** One code's entry in the operator's guide. */
export interface CodeGuide {
  /** What the code says happened. */
  readonly meaning: string;
  /** What the person who sees it should do. */
  readonly action: string;
}

/** What to do when an API call, a CLI command or a log line carries the code. */
export const ERROR_ACTIONS: { readonly [C in ErrorCode]: string } = {
  EF_MALFORMED:
    'Fix the input: the message or `details.issues` names the field. From a device, check that the agent and the control plane are compatible versions.',
  EF_NOT_CANONICAL:
    'Send the signed document byte for byte as it was produced (`edgefleet keys sign-root` writes canonical JSON); do not reformat or pretty-print it.',
  EF_TOO_LARGE:
    'Send less: for model uploads raise `--max-upload-mb` (`EDGEFLEET_MAX_UPLOAD_BYTES`); for MQTT payloads the cap is fixed by the protocol, so a device sending more is misbehaving.',
  EF_UNSUPPORTED_VERSION:
    'Upgrade the receiving side (control plane before agents): the sender speaks a newer message version.',
  EF_SIGNATURE_INVALID:
    'For a root upload: sign with a threshold of the old root keys AND of the new ones (`edgefleet keys sign-root --draft`). From the control plane: it does not hold enough keys of the role (after moving the root offline, `trust rotate` can no longer work).',
  EF_THRESHOLD_INVALID:
    'Choose a threshold between 1 and the number of keys of the role (`keys init --threshold M --keys N` with M <= N).',
  EF_WRONG_TYPE: 'Check the file: e.g. a release was given where a root belongs.',
  EF_EXPIRED:
    'Re-issue the document: create a new release (`edgefleet releases create`), or re-sign the root with a later expiry. On a device, also check its clock: expiry is judged against max(clock, the newest time it has accepted).',
  EF_ROLLBACK_REFUSED:
    'To go back to an older model, create a NEW release of the older version (it gets a higher counter); never replay an old document.',
  EF_WRONG_DEVICE:
    'A directive for another device reached this one: check for cloned device state directories or duplicated configurations.',
  EF_INCOMPATIBLE:
    "Compare the release's hardware classes and required execution providers (`releases create --hw/--eps`) with the device's (`edgefleet devices list`), or narrow the rollout's selector.",
  EF_MIX_AND_MATCH:
    'A proxy or cache served the wrong document, or something tampered with the message: check what sits between the broker and the device.',
  EF_ROOT_VERSION_INVALID:
    'Sign the root with version exactly current + 1: fetch the current root again (`edgefleet trust root`) and sign from it. In an agent log: the device is more than 32 root versions behind (the retained trust/root message carries the newest 32), so re-enroll it.',
  EF_ROOT_CHAIN_TOO_LONG:
    'More than 32 roots were offered in one update, the most a device walks at once: re-enroll a device that far behind (`edgefleet-agent enroll --force` with a new enrollment token, then decommission its old id).',
  EF_PATH_INVALID: 'The release was not built by this control plane: do not deploy it.',
  EF_EXTRANEOUS_FILE: 'Treat as tampering: check what serves the artifacts.',
  EF_HASH_MISMATCH:
    'Check the artifact store on the control plane and any cache or proxy in front of `/v1/artifacts`; the device retries with the next directive.',
  EF_LENGTH_MISMATCH:
    'Check any cache or proxy in front of `/v1/artifacts` (truncation, compression, error pages served as content).',
  EF_DOWNLOAD_FAILED:
    "The agent retried and gave up: check that the device reaches the control plane's public URL (`--public-url`), its HTTP Basic credentials (a decommissioned device gets 401), and the server log; then `edgefleet rollouts retry ID`.",
  EF_DISK_FULL:
    "Free space on the device (the agent needs the release's size plus a margin of max(32 MiB, 2 % of the file system)), then retry the devices.",
  EF_LOAD_FAILED:
    'Check the opset and operators against the onnxruntime version the device reports, and the execution providers; the agent log has the runtime message.',
  EF_HEALTH_CHECK_FAILED:
    'The device computed other outputs than the control plane did when it built the release: suspect the execution provider or hardware (compare with a CPU device); the previous model keeps serving.',
  EF_SOAK_FAILED:
    "Look at the device's inference errors; the device already went back to its previous model.",
  EF_SUPERSEDED:
    'A newer directive replaced this one before it finished: nothing to do; the newer deployment carries on.',
  EF_BAD_REQUEST:
    'Fix the request: the message names the first problem, `details.issues` lists them all (path and message).',
  EF_UNAUTHORIZED:
    'Send a valid token: `Authorization: Bearer <token>` (CLI: `--token`, `EDGEFLEET_TOKEN` or `edgefleet login`). The token may be unknown, revoked or expired; for enrollment, the enrollment token is unknown, revoked, expired or used up.',
  EF_FORBIDDEN:
    'The token is valid but its role is too low (viewer < deployer < admin): ask an admin for a token with the needed role (`edgefleet tokens create --role deployer`).',
  EF_NOT_FOUND: 'Check the name or id (`list` commands show what exists).',
  EF_NO_MODEL:
    "The device's local API has no active model yet: wait for a deployment to succeed (`edgefleet-agent status`).",
  EF_CONFLICT:
    'The resource exists already or its state does not allow the action: versions are immutable (push a new one); the message says which rollout actions the current state allows; a port in use needs another port or the other process stopped.',
  EF_INVALID_MODEL:
    'The upload is not an ONNX model onnxruntime can load: re-export it, and check its opset against the onnxruntime the control plane bundles.',
  EF_DATABASE_UNAVAILABLE:
    'Check DATABASE_URL, that PostgreSQL is up and reachable, and the server log; with PGlite, that no other process has the data directory open.',
  EF_ROOT_MISMATCH:
    'Do not enroll: compare `edgefleet trust root --sha256` on the control plane with the `--root-sha256` given to `edgefleet-agent enroll`. A difference means a wrong server URL, a root rotated since you copied the hash (copy it again), or someone in the middle.',
  EF_INTERNAL:
    'An unexpected error: the server or agent log has the details (search for the request path or the device id). Report it if it repeats.',
};

/**
 * What to do when a device reports `failed(reason)` or `rolled_back(reason)`. The meaning is the
 * error code's; the action is written for someone looking at a rollout.
 */
export const DEPLOYMENT_REASON_ACTIONS: { readonly [R in DeploymentReason]: string } = {
  malformed:
    'The device could not parse what it was sent: check that the agent and control plane versions match.',
  not_canonical:
    'The signed documents were reformatted in transit: nothing between the control plane and the device may rewrite MQTT payloads.',
  too_large:
    'A message or document exceeded the byte cap on the device: check for a misbehaving broker or bridge.',
  signature_invalid:
    'The device does not trust the signing keys: it may not have the current root (check `edgefleet-agent status`: root version), or the release was signed before a release-key rotation. Create a new release and retry.',
  threshold_invalid:
    'The trust root the device was offered is invalid: do not push it; re-sign a valid root.',
  wrong_type: 'A document of the wrong kind was offered: treat as tampering.',
  expired:
    'The directive (7 days) or release (90 days by default) expired before the device installed it, or the device clock is far off: create a new release and rollout; check the device clock.',
  rollback_refused:
    'The device already has a newer release counter for this model: roll back with a new release built from the older version (fleet rollback does this), not an old release.',
  wrong_device: 'A directive bound to another device arrived: check for cloned device state.',
  incompatible:
    "The release's compatibility (hardware classes, onnxruntime range, opset, required EPs) excludes this device: narrow the rollout's selector or build a release that includes it.",
  mix_and_match: 'The directive and release do not match: treat as tampering.',
  path_invalid: 'The release lists an unsafe file path: do not deploy it.',
  extraneous_file: 'An unlisted file was offered: treat as tampering.',
  hash_mismatch:
    "A downloaded file does not match its signed hash: check caches and proxies in front of `/v1/artifacts` and the control plane's artifact store, then retry.",
  length_mismatch:
    'A downloaded file has the wrong length: check caches and proxies in front of `/v1/artifacts`, then retry.',
  download_failed:
    "The device could not download the files: check its network path to the control plane's public URL and the server log, then `edgefleet rollouts retry ID`.",
  disk_full: 'Free disk space on the device, then `edgefleet rollouts retry ID`.',
  load_failed:
    'onnxruntime on the device could not load the model (opset, operators, execution provider): see the agent log; the previous model keeps serving.',
  health_check_failed:
    "The model's outputs on the device's health-check sample differ from the control plane's: suspect the execution provider or hardware class; the previous model keeps serving.",
  soak_failed:
    'The new model failed too many inferences during the soak and the device went back to the previous one: check the application inputs and the agent log.',
  superseded:
    'A newer directive replaced this deployment on the device (or the control plane withdrew it): nothing to do.',
  internal:
    'An unexpected error on the device: the agent log (`journalctl -u edgefleet-agent`) has it.',
};

/** Meaning and action of an error code. */
export function errorGuide(code: ErrorCode): CodeGuide {
  return { meaning: ERROR_CODES[code], action: ERROR_ACTIONS[code] };
}

/** Meaning and action of a deployment reason (the meaning is its error code's). */
export function deploymentReasonGuide(reason: DeploymentReason): CodeGuide {
  const code = `EF_${reason.toUpperCase()}` as ErrorCode;
  return { meaning: ERROR_CODES[code], action: DEPLOYMENT_REASON_ACTIONS[reason] };
}
