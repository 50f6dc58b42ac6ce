export * from './runtime/model-runtime.js';
export { OrtInProcessRuntime, type OrtRuntimeOptions } from './runtime/ort-in-process-runtime.js';
export {
  OrtWorkerRuntime,
  type OrtWorkerRuntimeOptions,
  type WorkerExit,
} from './runtime/ort-worker-runtime.js';
export type { OrtLogLevel } from './runtime/ort-host.js';
export {
  FakeRuntime,
  signatureFromModelFile,
  type FakeCall,
  type FakeModelSignature,
  type FakeRuntimeOptions,
} from './runtime/fake-runtime.js';
export {
  createLocalApi,
  type ActiveModel,
  type InferenceEvent,
  type LocalApiOptions,
} from './api/local-api.js';
export {
  serveLocalApi,
  type LocalApiAddress,
  type LocalApiServer,
  type ServeLocalApiOptions,
} from './api/serve-local-api.js';
export {
  decodeTensorFrame,
  encodeTensorFrame,
  TENSOR_FRAME_CONTENT_TYPE,
  type DecodedFrame,
} from './api/tensor-frame.js';
export { tensorFromJson, tensorToJson, type JsonTensor } from './api/tensor-json.js';
export {
  TelemetrySpool,
  type SpoolRecord,
  type SpoolStats,
  type TelemetrySpoolOptions,
} from './spool/telemetry-spool.js';
export { readJsonFile, writeFileAtomic, writeJsonFileAtomic } from './store/atomic-file.js';
export { checkDiskSpace, statfsProbe, type DiskSpaceProbe } from './store/disk-space.js';
export { SLOT_NAMES, SlotStore, type SlotName, type SlotState } from './store/slots.js';
export { renderInstallInstructions, renderSystemdUnit } from './service/systemd.js';
export {
  Agent,
  type AgentEvents,
  type AgentOptions,
  type AgentStatus,
  type AgentTuning,
  type DeploymentEvent,
  type InferResult,
} from './agent.js';
export {
  AgentConfigSchema,
  configFileModeProblem,
  parseAgentConfig,
  PRIVATE_FILE_MODE,
  readAgentConfig,
  writeAgentConfig,
  type AgentConfig,
  type AgentConfigInput,
} from './config/agent-config.js';
export {
  detectOrtFacts,
  deviceFacts,
  providerAliases,
  type RuntimeFacts,
} from './config/device-facts.js';
export { ensureStateDirs, statePaths, type StatePaths } from './config/state-dir.js';
export { TrustStore, writePinnedRoot, type OpenTrustStoreOptions } from './config/trust-store.js';
export { backoffDelay, type BackoffOptions } from './core/backoff.js';
export {
  ManualClock,
  sleep,
  systemClock,
  withinRealTime,
  type AgentClock,
  type TimerHandle,
} from './core/clock.js';
export { AGENT_VERSION } from './core/version.js';
export {
  defaultMqttConnect,
  MqttSession,
  type Inbound,
  type InboundKind,
  type MqttConnect,
  type MqttSessionOptions,
} from './mqtt/mqtt-session.js';
export { judgeSoak, soakPolicy, type SoakPolicy, type SoakVerdict } from './reconcile/soak.js';
export {
  deploymentReason,
  type DeploymentView,
  type StatusReport,
} from './reconcile/reconciler.js';
export {
  downloadFile,
  type DownloadFileOptions,
  type DownloadStats,
} from './download/artifact-download.js';
export {
  artifactUrl,
  basicAuthorization,
  downloadRelease,
  type ArtifactSource,
} from './download/release-download.js';
export type {
  TelemetryStats,
  TelemetryWindowEvent,
  WindowDelivery,
} from './telemetry/telemetry-reporter.js';
export { CliError } from './cli/cli-error.js';
export { AGENT_NODE_FLAGS } from './cli/defaults.js';
export { enrollDevice, type EnrollmentRequest, type EnrollmentResult } from './cli/enrollment.js';
export {
  readDeviceStatus,
  renderStatus,
  type DeviceStatusReport,
  type DeploymentSummary,
  type LocalApiStatus,
} from './cli/status-command.js';
export { inspectSpool, type SpoolInspection } from './spool/telemetry-spool.js';
export { slotStorePaths } from './store/slots.js';
export { FifoSemaphore } from './core/fifo-semaphore.js';
