/** The usage text of every command (kept apart so `help` loads nothing heavy). */
import { AGENT_VERSION } from '../core/version.js';
import { DEFAULT_LOCAL_API_PORT, DEFAULT_UNIT_PATH, defaultHardwareClass } from './defaults.js';

export const ENROLL_USAGE = `edgefleet-agent enroll --server URL --token T [options]

  --server URL                the control plane's HTTP API (e.g. http://fleet.example:8080)
  --token T                   an enrollment token (or EDGEFLEET_ENROLLMENT_TOKEN)
  --label k=v                 a device label (repeatable)
  --hardware-class X          default: <os>-<arch>, here ${defaultHardwareClass()}
  --device-id ID              suggest a device id (e.g. the serial number)
  --state-dir D               default /var/lib/edgefleet-agent as root, else ./edgefleet-agent-state
  --config F                  default /etc/edgefleet-agent/agent.json as root, else <state-dir>/agent.json
  --local-api-port N          local inference API on 127.0.0.1:N (default ${DEFAULT_LOCAL_API_PORT}; 0 = any free port)
  --local-api-socket P        local inference API on a unix socket instead
  --no-local-api              no local inference API
  --execution-providers a,b   in order of preference (default cpu; cpu is always the last resort)
  --telemetry-interval SEC    seconds per telemetry window (default 10)
  --root-sha256 HEX           pin this trust root (from \`edgefleet trust root --sha256\`; or
                              EDGEFLEET_ROOT_SHA256); without it the first root offered is trusted
  --force                     enroll again: the device starts over (its old state is removed)
  --json                      print the result as JSON`;

export const RUN_USAGE = `edgefleet-agent run [--config F] [--runtime worker|in-process] [--log-level L]

  --config F          the configuration enroll wrote (default /etc/edgefleet-agent/agent.json as root,
                      else ./edgefleet-agent-state/agent.json; or EDGEFLEET_AGENT_CONFIG)
  --runtime R         worker (default): onnxruntime in a worker thread, the event loop stays free;
                      in-process: no thread hop, for tiny models only
  --log-level L       fatal | error | warn | info | debug | trace | silent (default: the config's)`;

export const STATUS_USAGE = `edgefleet-agent status [--config F] [--json]

  --config F    the agent's configuration (default as for run)
  --json        print the report as JSON`;

export const INSTALL_SERVICE_USAGE = `edgefleet-agent install-service [--config F] [--user U] [--out P] [--json]

  --config F    the configuration the service runs with (default as for run)
  --user U      the system user the agent runs as (default edgefleet)
  --out P       where to write the unit (default ${DEFAULT_UNIT_PATH})
  --json        print {unitPath, execStart, instructions, warnings} as JSON`;

export const USAGE = `edgefleet-agent ${AGENT_VERSION}: the Edgefleet device agent

${ENROLL_USAGE}

${RUN_USAGE}

${STATUS_USAGE}

${INSTALL_SERVICE_USAGE}

Errors print "error EF_CODE: message" and a hint; the exit code is 1, or 2 for a usage mistake.`;
