/** The agent's own metrics on its `/metrics` (beside the inference metrics of the local API). */
import type { Counter, MetricsRegistry } from '@edgefleet/protocol';

export interface AgentMetrics {
  /** Incoming MQTT payloads dropped, by kind and error code. */
  readonly droppedMessages: Counter;
  /** Deployment states reported, by state and reason. */
  readonly deploymentReports: Counter;
  /** Telemetry windows, by how they left (published, spooled, drained, dropped). */
  readonly telemetryWindows: Counter;
}

export function createAgentMetrics(
  registry: MetricsRegistry,
  isConnected: () => boolean,
): AgentMetrics {
  registry.gauge(
    'edgefleet_agent_mqtt_connected',
    'Whether the MQTT session is up (1) or not (0).',
    () => (isConnected() ? 1 : 0),
  );
  return {
    droppedMessages: registry.counter(
      'edgefleet_agent_mqtt_dropped_messages_total',
      'Incoming MQTT payloads that were malformed or on an unexpected topic, dropped.',
    ),
    deploymentReports: registry.counter(
      'edgefleet_agent_deployment_reports_total',
      'Deployment states reported on status, by state and reason.',
    ),
    telemetryWindows: registry.counter(
      'edgefleet_agent_telemetry_windows_total',
      'Telemetry windows by delivery: published, spooled, drained or dropped.',
    ),
  };
}
