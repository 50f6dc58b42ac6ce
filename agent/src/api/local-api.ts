/**
 * The agent's local inference API (Hono): how applications on the device use the active model.
 *
 *     POST /v1/infer    run the active model
 *                       request:  JSON {"inputs": {name: {type, dims, data}}} (see tensor-json.ts)
 *                                 or Content-Type: application/vnd.edgefleet.tensors (tensor-frame.ts)
 *                       response: JSON {"releaseId", "outputs": {name: {type, dims, data}}, "latencyMs"},
 *                                 or a frame when Accept names application/vnd.edgefleet.tensors
 *                       400 EF_BAD_REQUEST  inputs do not match the model (the message lists the
 *                                           expected names, types and shapes)
 *                       413 EF_TOO_LARGE    body over `maxBodyBytes`
 *                       415 EF_BAD_REQUEST  another content type
 *                       500 EF_INTERNAL     the model failed on these inputs
 *                       503 EF_NO_MODEL     no model is active yet
 *     GET /v1/model     active release, model name/version, inputs/outputs, execution provider
 *     GET /healthz      liveness: 200 while the process serves, with `modelLoaded`
 *     GET /metrics      Prometheus text
 *
 * Errors are `{error: {code, message, details?}}` with the stable codes of @edgefleet/protocol.
 * `latencyMs` is the model run alone (decoding and encoding excluded), the same number that feeds
 * the latency histogram and `onInference`.
 *
 * It listens on 127.0.0.1 or a unix socket only (see `serveLocalApi`): anything that can reach it
 * can run the model, so it is not meant to face a network.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import {
  EdgefleetError,
  PROMETHEUS_CONTENT_TYPE,
  type ErrorCode,
  type MetricsRegistry,
} from '@edgefleet/protocol';
import type { LoadedModel, TensorData, ValueInfo } from '../runtime/model-runtime.js';
import { createInferenceMetrics, type InferenceMetrics } from './inference-metrics.js';
import { checkInputs } from './input-check.js';
import { decodeTensorFrame, encodeTensorFrame, TENSOR_FRAME_CONTENT_TYPE } from './tensor-frame.js';
import { InferJsonRequestSchema, tensorFromJson, tensorToJson } from './tensor-json.js';

/** The model the API serves, as the agent's deployment logic hands it over. */
export interface ActiveModel {
  readonly releaseId: string;
  readonly model: { readonly name: string; readonly version: string };
  readonly loaded: LoadedModel;
}

/** One served inference, for telemetry (sketches, latency) and soak counting. */
export interface InferenceEvent {
  readonly releaseId: string;
  readonly inputs: Readonly<Record<string, TensorData>>;
  /** Absent when the run failed. */
  readonly outputs?: Readonly<Record<string, TensorData>>;
  readonly latencyMs: number;
  readonly error?: { readonly code: ErrorCode; readonly message: string };
}

export interface LocalApiOptions {
  /** The active model, or undefined before the first install (requests then get 503). */
  readonly getModel: () => ActiveModel | undefined;
  /** Registry for /metrics; the inference metrics are registered on it unless given. */
  readonly metrics: MetricsRegistry;
  /** Inference metrics already registered (to share them with the in-process Agent API). */
  readonly inferenceMetrics?: InferenceMetrics;
  readonly logger: Logger;
  /** Called after every run (success or model failure); must not throw. */
  readonly onInference?: (event: InferenceEvent) => void;
  /** Request body cap in bytes; default 16 MiB. */
  readonly maxBodyBytes?: number;
}

/** Build the local API app (no socket: see `serveLocalApi`). */
export function createLocalApi(options: LocalApiOptions): Hono {
  const metrics = options.inferenceMetrics ?? createInferenceMetrics(options.metrics);
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const app = new Hono();

  const errorBody = (
    c: Context,
    status: 400 | 404 | 413 | 415 | 500 | 503,
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
  ) => c.json({ error: { code, message, ...(details ? { details } : {}) } }, status);

  app.onError(function onError(error, c) {
    options.logger.error({ err: error, path: c.req.path }, 'local API request failed');
    return errorBody(
      c,
      500,
      'EF_INTERNAL',
      'unexpected internal error; the agent log has the details',
    );
  });
  app.notFound(function notFound(c) {
    return errorBody(c, 404, 'EF_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`);
  });

  app.get('/healthz', function healthz(c) {
    return c.json({ status: 'ok', modelLoaded: options.getModel() !== undefined });
  });

  app.get('/metrics', function metricsText(c) {
    return c.body(options.metrics.render(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE });
  });

  app.get('/v1/model', function model(c) {
    const active = options.getModel();
    if (!active) return errorBody(c, 503, 'EF_NO_MODEL', 'no model is active yet');
    return c.json({
      releaseId: active.releaseId,
      model: active.model,
      inputs: active.loaded.inputs,
      outputs: active.loaded.outputs,
      executionProvider: active.loaded.executionProvider,
    });
  });

  app.post(
    '/v1/infer',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) => {
        metrics.errors.inc({ code: 'EF_TOO_LARGE' });
        return errorBody(c, 413, 'EF_TOO_LARGE', `the request body is over ${maxBodyBytes} bytes`);
      },
    }),
    async function infer(c) {
      const fail = (
        status: 400 | 413 | 415 | 500 | 503,
        code: ErrorCode,
        message: string,
        details?: Record<string, unknown>,
      ) => {
        metrics.errors.inc({ code });
        return errorBody(c, status, code, message, details);
      };

      const active = options.getModel();
      if (!active) return fail(503, 'EF_NO_MODEL', 'no model is active yet');

      const contentType = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      let feeds: Record<string, TensorData>;
      if (contentType === TENSOR_FRAME_CONTENT_TYPE) {
        const decoded = decodeTensorFrame(new Uint8Array(await c.req.arrayBuffer()));
        if (!decoded.ok) return fail(400, 'EF_BAD_REQUEST', decoded.message);
        feeds = decoded.frame.tensors;
      } else if (contentType === 'application/json') {
        const parsed = parseJsonInputs(await c.req.text());
        if (!parsed.ok) return fail(400, 'EF_BAD_REQUEST', parsed.message);
        feeds = parsed.feeds;
      } else {
        return fail(
          415,
          'EF_BAD_REQUEST',
          `send application/json or ${TENSOR_FRAME_CONTENT_TYPE}, not ${contentType || 'no content type'}`,
        );
      }

      const checked = checkInputs(active.loaded.inputs, feeds);
      if (!checked.ok) {
        return fail(400, 'EF_BAD_REQUEST', checked.message, { expected: expectedInputs(active) });
      }

      metrics.inferences.inc();
      const started = performance.now();
      let outputs: Record<string, TensorData>;
      try {
        // Inputs stay with us (no transfer) when onInference wants to sketch them afterwards.
        outputs = await active.loaded.run(feeds, { transferInputs: !options.onInference });
      } catch (error) {
        const latencyMs = performance.now() - started;
        const e =
          error instanceof EdgefleetError
            ? error
            : new EdgefleetError('EF_INTERNAL', String(error), { cause: error });
        options.logger.warn(
          { err: e, releaseId: active.releaseId, code: e.code },
          'inference failed',
        );
        notify({ releaseId: active.releaseId, inputs: feeds, latencyMs, error: e });
        // EF_BAD_REQUEST: onnxruntime refused the tensors themselves; anything else is the model's.
        const status = e.code === 'EF_BAD_REQUEST' ? 400 : 500;
        return fail(status, e.code, `the model failed: ${e.message}`);
      }
      const latencyMs = performance.now() - started;
      metrics.latency.observe(latencyMs / 1000);
      notify({ releaseId: active.releaseId, inputs: feeds, outputs, latencyMs });

      if (acceptsFrame(c.req.header('accept'))) {
        const body = encodeTensorFrame(outputs, { releaseId: active.releaseId, latencyMs });
        return c.body(body.buffer as ArrayBuffer, 200, {
          'Content-Type': TENSOR_FRAME_CONTENT_TYPE,
        });
      }
      return c.json({
        releaseId: active.releaseId,
        outputs: Object.fromEntries(
          Object.entries(outputs).map(([name, t]) => [name, tensorToJson(t)]),
        ),
        latencyMs,
      });
    },
  );

  function notify(event: {
    releaseId: string;
    inputs: Record<string, TensorData>;
    outputs?: Record<string, TensorData>;
    latencyMs: number;
    error?: EdgefleetError;
  }): void {
    if (!options.onInference) return;
    try {
      options.onInference({
        releaseId: event.releaseId,
        inputs: event.inputs,
        latencyMs: event.latencyMs,
        ...(event.outputs ? { outputs: event.outputs } : {}),
        ...(event.error ? { error: { code: event.error.code, message: event.error.message } } : {}),
      });
    } catch (error) {
      options.logger.error({ err: error }, 'onInference threw');
    }
  }

  return app;
}

function parseJsonInputs(
  text: string,
): { ok: true; feeds: Record<string, TensorData> } | { ok: false; message: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, message: 'the body is not valid JSON' };
  }
  const parsed = InferJsonRequestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      message:
        `expected {"inputs": {name: {type, dims, data}}}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    };
  }
  const feeds: Record<string, TensorData> = {};
  for (const [name, tensor] of Object.entries(parsed.data.inputs)) {
    const converted = tensorFromJson(name, tensor);
    if (!converted.ok) return converted;
    feeds[name] = converted.tensor;
  }
  return { ok: true, feeds };
}

function acceptsFrame(accept: string | undefined): boolean {
  return accept !== undefined && accept.toLowerCase().includes(TENSOR_FRAME_CONTENT_TYPE);
}

function expectedInputs(
  active: ActiveModel,
): { name: string; type: string; dims: ValueInfo['dims'] }[] {
  return active.loaded.inputs.map((i) => ({ name: i.name, type: i.type, dims: i.dims }));
}
