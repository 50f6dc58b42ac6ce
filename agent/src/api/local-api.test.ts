import { request as httpRequest } from 'node:http';
import { link, lstat, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsRegistry } from '@edgefleet/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeRuntime, type FakeModelSignature } from '../runtime/fake-runtime.js';
import type { LoadedModel } from '../runtime/model-runtime.js';
import { OrtInProcessRuntime } from '../runtime/ort-in-process-runtime.js';
import { modelDir, sampleModels } from '../runtime/sample-models.test-support.js';
import { createLocalApi, type ActiveModel, type InferenceEvent } from './local-api.js';
import { serveLocalApi } from './serve-local-api.js';
import { decodeTensorFrame, encodeTensorFrame, TENSOR_FRAME_CONTENT_TYPE } from './tensor-frame.js';

const logger = pino({ level: 'silent' });

const identity: FakeModelSignature = {
  inputs: [{ name: 'input', type: 'float32', dims: ['batch_size', 4] }],
  outputs: [{ name: 'output', type: 'float32', dims: ['batch_size', 4] }],
};

async function setup(
  options: { signature?: FakeModelSignature; failRun?: boolean; maxBodyBytes?: number } = {},
) {
  const runtime = new FakeRuntime({
    describe: () => options.signature ?? identity,
    failRun: () => options.failRun === true,
  });
  const loaded = await runtime.load('model.onnx', { executionProviders: ['cuda', 'cpu'] });
  let active: ActiveModel | undefined = {
    releaseId: 'rel-1',
    model: { name: 'iris', version: '3' },
    loaded,
  };
  const metrics = new MetricsRegistry();
  const events: InferenceEvent[] = [];
  const app = createLocalApi({
    getModel: () => active,
    metrics,
    logger,
    onInference: (e) => events.push(e),
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
  });
  return {
    app,
    metrics,
    events,
    unload: () => {
      active = undefined;
    },
  };
}

const post = (app: ReturnType<typeof createLocalApi>, body: unknown, headers = {}) =>
  app.request('/v1/infer', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const oneRow = { inputs: { input: { type: 'float32', dims: [1, 4], data: [1, 2, 3, 4] } } };

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

describe('POST /v1/infer', () => {
  it('runs the active model on JSON inputs', async () => {
    const { app, events } = await setup();
    const res = await post(app, oneRow);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { releaseId: string; outputs: unknown; latencyMs: number };
    expect(body.releaseId).toBe('rel-1');
    expect(body.outputs).toEqual({ output: { type: 'float32', dims: [1, 4], data: [1, 2, 3, 4] } });
    expect(body.latencyMs).toBeGreaterThanOrEqual(0);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ releaseId: 'rel-1', outputs: { output: { dims: [1, 4] } } });
    expect([...events[0]!.inputs.input!.data]).toEqual([1, 2, 3, 4]);
  });

  it.each([
    [
      'an unknown input name',
      { inputs: { pixels: { type: 'float32', dims: [1, 4], data: [1, 2, 3, 4] } } },
      'missing input input; unknown input pixels',
    ],
    [
      'a wrong type',
      { inputs: { input: { type: 'int32', dims: [1, 4], data: [1, 2, 3, 4] } } },
      'input input is int32, not float32',
    ],
    [
      'a wrong rank',
      { inputs: { input: { type: 'float32', dims: [4], data: [1, 2, 3, 4] } } },
      'input input has shape [4], rank 1 instead of 2',
    ],
    [
      'a wrong fixed dimension',
      { inputs: { input: { type: 'float32', dims: [2, 2], data: [1, 2, 3, 4] } } },
      'input input has shape [2, 2]: dimension 1 must be 4',
    ],
  ])('refuses %s with 400 naming the expected inputs', async (_, body, problem) => {
    const { app, metrics } = await setup();
    const res = await post(app, body);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as ErrorBody;
    expect(error.code).toBe('EF_BAD_REQUEST');
    expect(error.message).toBe(`${problem}; the model expects input: float32 [batch_size, 4]`);
    expect(error.details).toEqual({
      expected: [{ name: 'input', type: 'float32', dims: ['batch_size', 4] }],
    });
    expect(metrics.render()).toContain(
      'edgefleet_agent_inference_errors_total{code="EF_BAD_REQUEST"} 1',
    );
  });

  it('refuses data that does not fill the dims, values of the wrong kind, and bad JSON', async () => {
    const { app } = await setup();
    for (const body of [
      { inputs: { input: { type: 'float32', dims: [1, 4], data: [1, 2, 3] } } },
      { inputs: { input: { type: 'float32', dims: [1, 4], data: [1, 2, 3, 'x'] } } },
      { input: {} },
      '{"inputs": ',
    ]) {
      const res = await post(app, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.code).toBe('EF_BAD_REQUEST');
    }
  });

  it('checks that a symbolic dimension has one size across inputs', async () => {
    const { app } = await setup({
      signature: {
        inputs: [
          { name: 'a', type: 'float32', dims: ['batch_size', 2] },
          { name: 'b', type: 'float32', dims: ['batch_size', 1] },
        ],
        outputs: [{ name: 'y', type: 'float32', dims: ['batch_size', 1] }],
      },
    });
    const res = await post(app, {
      inputs: {
        a: { type: 'float32', dims: [2, 2], data: [1, 2, 3, 4] },
        b: { type: 'float32', dims: [3, 1], data: [1, 2, 3] },
      },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.message).toMatch(
      /^batch_size is 2 in input a but 3 in input b/,
    );
  });

  it('answers 503 before a model is active', async () => {
    const { app, unload } = await setup();
    unload();
    const res = await post(app, oneRow);
    expect(res.status).toBe(503);
    expect(((await res.json()) as ErrorBody).error.code).toBe('EF_NO_MODEL');
  });

  it('answers 415 to other content types', async () => {
    const { app } = await setup();
    const res = await post(app, 'input=1', { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(415);
  });

  it('caps the body size with 413', async () => {
    const { app } = await setup({ maxBodyBytes: 100 });
    const data = Array.from({ length: 400 }, () => 1.5);
    const res = await post(app, { inputs: { input: { type: 'float32', dims: [100, 4], data } } });
    expect(res.status).toBe(413);
    expect(((await res.json()) as ErrorBody).error.code).toBe('EF_TOO_LARGE');
  });

  it('answers 500 with the code when the model fails, and tells onInference', async () => {
    const { app, events, metrics } = await setup({ failRun: true });
    const res = await post(app, oneRow);
    expect(res.status).toBe(500);
    expect(((await res.json()) as ErrorBody).error.code).toBe('EF_INTERNAL');
    expect(events[0]).toMatchObject({ error: { code: 'EF_INTERNAL' } });
    expect(events[0]!.outputs).toBeUndefined();
    expect(metrics.render()).toContain(
      'edgefleet_agent_inference_errors_total{code="EF_INTERNAL"} 1',
    );
  });

  it('takes and returns int64 values beyond 2^53 as decimal strings', async () => {
    const int64: FakeModelSignature = {
      inputs: [{ name: 'input', type: 'int64', dims: ['batch_size', 2] }],
      outputs: [{ name: 'output', type: 'int64', dims: ['batch_size', 2] }],
    };
    const { app } = await setup({ signature: int64 });
    const res = await post(app, {
      inputs: { input: { type: 'int64', dims: [1, 2], data: ['9007199254740993', -5] } },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { outputs: { output: { data: unknown[] } } };
    expect(body.outputs.output.data).toEqual(['9007199254740993', -5]);
  });

  it('takes a tensor frame and answers JSON', async () => {
    const { app } = await setup();
    const frame = encodeTensorFrame({
      input: { type: 'float32', dims: [2, 4], data: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8) },
    });
    const res = await app.request('/v1/infer', {
      method: 'POST',
      headers: { 'Content-Type': TENSOR_FRAME_CONTENT_TYPE },
      body: frame,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { outputs: { output: { data: number[] } } };
    expect(body.outputs.output.data).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('answers with a tensor frame when Accept asks for one', async () => {
    const { app } = await setup();
    const res = await post(app, oneRow, { Accept: TENSOR_FRAME_CONTENT_TYPE });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(TENSOR_FRAME_CONTENT_TYPE);
    const decoded = decodeTensorFrame(new Uint8Array(await res.arrayBuffer()));
    if (!decoded.ok) throw new Error(decoded.message);
    expect(decoded.frame.extra).toMatchObject({ releaseId: 'rel-1' });
    expect(decoded.frame.tensors.output).toMatchObject({ type: 'float32', dims: [1, 4] });
    expect([...decoded.frame.tensors.output!.data]).toEqual([1, 2, 3, 4]);
  });

  it('refuses a damaged tensor frame with 400', async () => {
    const { app } = await setup();
    const res = await app.request('/v1/infer', {
      method: 'POST',
      headers: { 'Content-Type': TENSOR_FRAME_CONTENT_TYPE },
      body: new Uint8Array([0x45, 0x46, 0x54, 0x42, 0xff, 0xff, 0, 0]),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.message).toMatch(/^tensor frame: header length/);
  });
});

describe('GET routes', () => {
  it('/v1/model describes the active release and the provider in use', async () => {
    const { app } = await setup();
    const res = await app.request('/v1/model');
    expect(await res.json()).toEqual({
      releaseId: 'rel-1',
      model: { name: 'iris', version: '3' },
      inputs: identity.inputs,
      outputs: identity.outputs,
      executionProvider: 'cpu',
    });
  });

  it('/v1/model answers 503 before a model is active', async () => {
    const { app, unload } = await setup();
    unload();
    expect((await app.request('/v1/model')).status).toBe(503);
  });

  it('/healthz is up with or without a model', async () => {
    const { app, unload } = await setup();
    expect(await (await app.request('/healthz')).json()).toEqual({
      status: 'ok',
      modelLoaded: true,
    });
    unload();
    expect(await (await app.request('/healthz')).json()).toEqual({
      status: 'ok',
      modelLoaded: false,
    });
  });

  it('/metrics counts inferences and their latency in Prometheus text', async () => {
    const { app } = await setup();
    await post(app, oneRow);
    await post(app, oneRow);
    const res = await app.request('/metrics');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text = await res.text();
    expect(text).toContain('# TYPE edgefleet_agent_inferences_total counter');
    expect(text).toContain('edgefleet_agent_inferences_total 2');
    expect(text).toContain('edgefleet_agent_inference_latency_seconds_count 2');
    expect(text).toContain('edgefleet_agent_inference_latency_seconds_bucket{le="+Inf"} 2');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const { app } = await setup();
    const res = await app.request('/v2/nothing');
    expect(res.status).toBe(404);
    expect(((await res.json()) as ErrorBody).error.code).toBe('EF_NOT_FOUND');
  });
});

describe('with onnxruntime', () => {
  let loaded: LoadedModel;
  const runtime = new OrtInProcessRuntime({ logLevel: 'fatal' });
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const dir = await modelDir();
    cleanup = () => dir.cleanup();
    const path = await dir.write(
      'linear.onnx',
      sampleModels.linearClassifier({ features: 4, classes: 3 }),
    );
    loaded = await runtime.load(path, { executionProviders: ['cpu'] });
  });
  afterAll(async () => {
    await runtime.close();
    await cleanup();
  });

  it('serves a real model through the API', async () => {
    const app = createLocalApi({
      getModel: () => ({ releaseId: 'r', model: { name: 'linear', version: '1' }, loaded }),
      metrics: new MetricsRegistry(),
      logger,
    });
    const res = await post(app, oneRow);
    const body = (await res.json()) as { outputs: { logits: { dims: number[] } } };
    expect(body.outputs.logits.dims).toEqual([1, 3]);
  });
});

describe('serveLocalApi', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ef-api-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  function getOverSocket(
    socketPath: string,
    path: string,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath, path, method: 'GET' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.once('error', reject);
      req.end();
    });
  }

  it('serves over a unix socket with mode 0660 and removes it on close', async () => {
    const { app } = await setup();
    const socketPath = join(dir, 'agent.sock');
    const server = await serveLocalApi(app, { socketPath });
    try {
      expect(server.address).toEqual({ socketPath });
      expect((await stat(socketPath)).mode & 0o777).toBe(0o660);
      const res = await getOverSocket(socketPath, '/healthz');
      expect(res).toEqual({ status: 200, body: '{"status":"ok","modelLoaded":true}' });
    } finally {
      await server.close();
    }
    await expect(stat(socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('replaces a stale socket file left by a crash', async () => {
    const socketPath = join(dir, 'stale.sock');
    // A socket file nobody listens on, as a killed agent leaves it: listen elsewhere, hard-link the
    // socket file to the path, close the listener (which unlinks only its own name).
    const orphan = createServer();
    const original = join(dir, 'orphan.sock');
    await new Promise<void>((resolve) => orphan.listen(original, resolve));
    await link(original, socketPath);
    await new Promise<void>((resolve) =>
      orphan.close(() => {
        resolve();
      }),
    );
    expect((await lstat(socketPath)).isSocket()).toBe(true);
    const { app } = await setup();
    const server = await serveLocalApi(app, { socketPath });
    try {
      expect((await getOverSocket(socketPath, '/healthz')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('refuses a socket path where another agent is listening', async () => {
    const { app } = await setup();
    const socketPath = join(dir, 'busy.sock');
    const first = await serveLocalApi(app, { socketPath });
    try {
      await expect(serveLocalApi(app, { socketPath })).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
    } finally {
      await first.close();
    }
  });

  it('serves on 127.0.0.1 with a free port by default', async () => {
    const { app } = await setup();
    const server = await serveLocalApi(app);
    try {
      if (!('url' in server.address)) throw new Error('expected a TCP address');
      expect(server.address.host).toBe('127.0.0.1');
      expect(server.address.port).toBeGreaterThan(0);
      const res = await fetch(`${server.address.url}/v1/infer`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(oneRow),
      });
      expect(res.status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
