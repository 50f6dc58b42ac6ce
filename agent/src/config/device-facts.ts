/**
 * What the device states about itself: the facts a release's `compat` is checked against and the
 * `runtime` part of the `state` report.
 */
import { createRequire } from 'node:module';
import type { DeviceFacts } from '@edgefleet/protocol';

/** The inference runtime the agent runs. */
export interface RuntimeFacts {
  /** onnxruntime version, semver (e.g. `1.20.1`). */
  readonly ortVersion: string;
  /** Execution providers the runtime offers here (`cpu`, `cuda`, ...). */
  readonly availableProviders: readonly string[];
  /** Highest ai.onnx opset the runtime supports; unknown when absent (not checked then). */
  readonly maxOpset?: number;
}

/** onnxruntime's own names of the short provider names (releases may require either form). */
const ORT_PROVIDER_NAMES: Readonly<Record<string, string>> = {
  cpu: 'CPUExecutionProvider',
  cuda: 'CUDAExecutionProvider',
  tensorrt: 'TensorrtExecutionProvider',
  dml: 'DmlExecutionProvider',
  coreml: 'CoreMLExecutionProvider',
  openvino: 'OpenVINOExecutionProvider',
  qnn: 'QNNExecutionProvider',
  webgpu: 'WebGpuExecutionProvider',
  xnnpack: 'XnnpackExecutionProvider',
};

/** Each provider under both its short name and onnxruntime's `XxxExecutionProvider` name. */
export function providerAliases(providers: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of providers) {
    out.add(p);
    const long = Object.hasOwn(ORT_PROVIDER_NAMES, p) ? ORT_PROVIDER_NAMES[p] : undefined;
    if (long !== undefined) out.add(long);
  }
  return [...out];
}

export function deviceFacts(
  deviceId: string,
  hardwareClass: string,
  runtime: RuntimeFacts,
): DeviceFacts {
  return {
    deviceId,
    hardwareClass,
    ortVersion: runtime.ortVersion,
    executionProviders: providerAliases(runtime.availableProviders),
    ...(runtime.maxOpset !== undefined ? { maxOpset: runtime.maxOpset } : {}),
  };
}

/** The facts of the installed onnxruntime-node (loaded on demand: embedders with a fake runtime skip it). */
export async function detectOrtFacts(): Promise<RuntimeFacts> {
  const require = createRequire(import.meta.url);
  const { version } = require('onnxruntime-node/package.json') as { version: string };
  const ort = await import('onnxruntime-node');
  const backends = ort.listSupportedBackends().map((b) => b.name);
  return { ortVersion: version, availableProviders: backends.length > 0 ? backends : ['cpu'] };
}
