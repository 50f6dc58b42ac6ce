/**
 * onnxruntime sessions on the calling (main) thread. The lowest overhead per call, but each run
 * blocks the event loop for as long as the model computes: use it for tiny models only (see
 * `chooseRuntimeMode`); everything else belongs in `OrtWorkerRuntime`.
 */
import { EdgefleetError } from '@edgefleet/protocol';
import * as ort from 'onnxruntime-node';
import type { LoadedModel, LoadOptions, ModelRuntime, TensorData } from './model-runtime.js';
import { createOrtHost, type HostError, type OrtHost, type OrtLogLevel } from './ort-host.js';

export interface OrtRuntimeOptions {
  /**
   * Level of onnxruntime's native log (stderr), process-wide for the in-process runtime. Default:
   * onnxruntime's own ('warning'). Failed provider attempts are reported in `providerFallbacks`
   * either way, so `'fatal'` keeps stderr quiet on devices without the optional providers.
   */
  readonly logLevel?: OrtLogLevel;
}

export class OrtInProcessRuntime implements ModelRuntime {
  private readonly host: OrtHost;

  constructor(options: OrtRuntimeOptions = {}) {
    this.host = createOrtHost(
      ort,
      options.logLevel,
      (code, message, details) => new EdgefleetError(code, message, details ? { details } : {}),
    );
  }

  async load(modelPath: string, options: LoadOptions): Promise<LoadedModel> {
    const host = this.host;
    const loaded = await host.load(modelPath, options);
    const { sessionId } = loaded;
    return {
      inputs: loaded.inputs,
      outputs: loaded.outputs,
      executionProvider: loaded.executionProvider,
      providerFallbacks: loaded.providerFallbacks,
      // The host's promise itself: no wrapper on the hot path (see the overhead note in the docs).
      run(feeds: Readonly<Record<string, TensorData>>) {
        return host.run(sessionId, feeds);
      },
      dispose() {
        return host.dispose(sessionId);
      },
    };
  }

  close(): Promise<void> {
    return this.host.disposeAll();
  }
}

/** Turn an error of the host (an `Error` with `code`/`details`, or a `HostError`) into an EdgefleetError. */
export function fromHostError(error: unknown): EdgefleetError {
  if (error instanceof EdgefleetError) return error;
  const e = error as Partial<HostError>;
  const code = e.code === 'EF_LOAD_FAILED' || e.code === 'EF_BAD_REQUEST' ? e.code : 'EF_INTERNAL';
  const message = typeof e.message === 'string' ? e.message : String(error);
  return new EdgefleetError(code, message, {
    ...(e.details ? { details: e.details } : {}),
    ...(error instanceof Error ? { cause: error } : {}),
  });
}
