export { Fleet, hardwareFor, type DevicePlan, type FleetOptions, type SimDevice } from './fleet.js';
export { SharedRuntime } from './runtime/shared-runtime.js';
export { ControlPlaneHttp, ControlPlaneApiError } from './control-plane/http-client.js';
export {
  startServerProcess,
  CONTROL_PLANE_CLI,
  type ServerProcess,
} from './control-plane/server-process.js';
export {
  DEMO_BIAS,
  DEMO_WEIGHTS,
  DRIFTED,
  REFERENCE,
  SENSOR_FEATURES,
  SensorGenerator,
  type DataMode,
} from './data/sensor-data.js';
export { OffsetClock } from './time/offset-clock.js';
export { FaultInjection } from './runtime/fault-injection.js';
export * from './scenarios/index.js';
export { startSimFleet, type SimFleet, type SimFleetOptions } from './sim-fleet.js';
export { spreadSourceAddresses } from './cli/source-addresses.js';
