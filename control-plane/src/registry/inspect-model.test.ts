import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildModel,
  EdgefleetError,
  ProtoWriter,
  tensorValue,
  type ErrorCode,
  applyLinear,
  failingModel,
  identityModel,
  imageClassifier,
  linearClassifier,
  linearParameters,
  linearRegressor,
  slowModel,
  zipMapClassifier,
} from '@edgefleet/protocol';
import { InferenceSession } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inspectModel, runModelOnce, type PlainTensor } from './inspect-model.js';

async function rejection(promise: Promise<unknown>, code: ErrorCode): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EdgefleetError);
  expect((error as EdgefleetError).code).toBe(code);
  return (error as EdgefleetError).message;
}

function expectClose(actual: PlainTensor | undefined, expected: number[]): void {
  expect(actual?.data).toHaveLength(expected.length);
  expected.forEach((v, i) => {
    expect(actual?.data[i]).toBeCloseTo(v, 5);
  });
}

describe('inspectModel', () => {
  it('describes an identity model', async () => {
    expect(await inspectModel(identityModel({ dims: ['batch_size', 4] }))).toEqual({
      irVersion: 8,
      opset: 17,
      opsetImports: [{ domain: '', version: 17 }],
      producer: { name: 'edgefleet', version: '' },
      inputs: [{ name: 'input', type: 'float32', shape: ['batch_size', 4], supported: true }],
      outputs: [{ name: 'output', type: 'float32', shape: ['batch_size', 4], supported: true }],
      opTypes: ['Identity'],
    });
  });

  it('reports unknown dims and an unknown rank as null, and keeps scalars', async () => {
    const inspected = await inspectModel(
      buildModel({
        inputs: [
          tensorValue('a', 'int64', [null, 'n']),
          tensorValue('b', 'bool'),
          tensorValue('c', 'float32', []),
        ],
        outputs: [tensorValue('a2', 'int64', [null, 'n'])],
        nodes: [{ op: 'Identity', inputs: ['a'], outputs: ['a2'] }],
      }),
    );
    expect(inspected.inputs.map((i) => [i.name, i.type, i.shape])).toEqual([
      ['a', 'int64', [null, 'n']],
      ['b', 'bool', null],
      ['c', 'float32', []],
    ]);
  });

  it('marks a ZipMap output as unsupported and says what to do', async () => {
    const inspected = await inspectModel(zipMapClassifier({ features: 3, classes: 3 }));
    expect(inspected.opsetImports).toContainEqual({ domain: 'ai.onnx.ml', version: 3 });
    expect(inspected.outputs[0]).toEqual({
      name: 'label',
      type: 'int64',
      shape: ['batch_size'],
      supported: true,
    });
    expect(inspected.outputs[1]).toMatchObject({
      name: 'probabilities',
      type: 'seq(map(int64,tensor(float32)))',
      shape: null,
      supported: false,
    });
    expect(inspected.outputs[1]?.reason).toMatch(/not a tensor.*zipmap=False/s);
  });

  it.each([
    ['random bytes', Uint8Array.from([0x13, 0x37, 0xff, 0x00, 0x42]), /not a valid ONNX model/],
    ['a zip archive', Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0, 0]), /ZIP archive/],
    ['an empty file', new Uint8Array(0), /empty/],
  ])('refuses %s as EF_INVALID_MODEL', async (_what, bytes, message) => {
    expect(await rejection(inspectModel(bytes), 'EF_INVALID_MODEL')).toMatch(message);
  });

  it('refuses every truncation of a model, whoever notices first', async () => {
    const bytes = linearClassifier({ features: 2, classes: 2 });
    for (const n of [1, 10, 50, 100, bytes.length - 20, bytes.length - 1]) {
      await rejection(inspectModel(bytes.subarray(0, n)), 'EF_INVALID_MODEL');
    }
  });

  it('refuses a well-formed model that onnxruntime cannot load, with the runtime’s reason', async () => {
    const bytes = buildModel({
      inputs: [tensorValue('x', 'float32', [1])],
      outputs: [tensorValue('y', 'float32', [1])],
      nodes: [{ op: 'NoSuchOperator', inputs: ['x'], outputs: ['y'] }],
    });
    const message = await rejection(inspectModel(bytes), 'EF_INVALID_MODEL');
    expect(message).toMatch(/could not load the model: .*NoSuchOperator/);
    expect(message).toContain('ai.onnx 17');
  });

  it('refuses tensors onnxruntime-node cannot carry before loading them', async () => {
    const bytes = buildModel({
      inputs: [tensorValue('x', 'bfloat16', [1])],
      outputs: [tensorValue('y', 'bfloat16', [1])],
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    });
    expect(await rejection(inspectModel(bytes), 'EF_INVALID_MODEL')).toMatch(
      /'x' is a bfloat16 tensor/,
    );
  });

  it('refuses models with external data', async () => {
    const bytes = new ProtoWriter()
      .varint(1, 8)
      .message(7, (g) =>
        g.message(5, (t) =>
          t
            .varint(1, 1)
            .varint(2, 1)
            .string(8, 'w')
            .message(13, (e) => e.string(1, 'location').string(2, 'w.bin'))
            .varint(14, 1),
        ),
      )
      .message(8, (o) => o.varint(2, 17))
      .finish();
    expect(await rejection(inspectModel(bytes), 'EF_INVALID_MODEL')).toMatch(/external data/);
  });

  describe('from a file', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'edgefleet-inspect-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reads the model from a path', async () => {
      const path = join(dir, 'model.onnx');
      await writeFile(path, linearRegressor({ features: 2 }));
      const inspected = await inspectModel(path);
      expect(inspected.outputs.map((o) => o.name)).toEqual(['prediction']);
    });

    it('says EF_NOT_FOUND for a missing path', async () => {
      await rejection(inspectModel(join(dir, 'missing.onnx')), 'EF_NOT_FOUND');
    });

    it('says EF_TOO_LARGE above maxBytes', async () => {
      const path = join(dir, 'big.onnx');
      await writeFile(path, imageClassifier());
      await rejection(inspectModel(path, { maxBytes: 100 }), 'EF_TOO_LARGE');
    });
  });

  it('releases the session on success and on failure', async () => {
    const probe = await InferenceSession.create(identityModel({ dims: [1] }));
    const proto = Object.getPrototypeOf(probe) as { release(): Promise<void> };
    await probe.release();
    const release = vi.spyOn(proto, 'release');
    try {
      await inspectModel(identityModel({ dims: [1] }));
      await runModelOnce(identityModel({ dims: [1] }), { input: { dims: [1], data: [1] } });
      await rejection(
        runModelOnce(failingModel(), { input: { dims: [1, 4], data: [1, 2, 3, 4] } }),
        'EF_INVALID_MODEL',
      );
      await rejection(runModelOnce(identityModel({ dims: [1] }), {}), 'EF_BAD_REQUEST');
      expect(release).toHaveBeenCalledTimes(4);
    } finally {
      release.mockRestore();
    }
  });
});

describe('runModelOnce', () => {
  it('runs the linear classifier: logits = x · W + b', async () => {
    const params = linearParameters(3, 4);
    const rows = [
      [1, 2, 3],
      [-0.5, 0, 4],
    ];
    const out = await runModelOnce(linearClassifier({ features: 3, classes: 4 }), {
      input: { dims: [2, 3], data: rows.flat() },
    });
    expect(out.logits?.dims).toEqual([2, 4]);
    expect(out.logits?.type).toBe('float32');
    expectClose(
      out.logits,
      rows.flatMap((r) => applyLinear(params, r)),
    );
  });

  it('runs the linear regressor with given weights', async () => {
    const weights = [[2], [-1]];
    const out = await runModelOnce(linearRegressor({ features: 2, weights, bias: [0.25] }), {
      input: { dims: [3, 2], data: [1, 1, 2, 0, 0, 3] },
    });
    expect(out.prediction).toEqual({ type: 'float32', dims: [3, 1], data: [1.25, 4.25, -2.75] });
  });

  it('runs the image classifier: logits of the column means', async () => {
    const [c, h, w] = [2, 3, 4];
    const image = Array.from({ length: c * h * w }, (_, i) => (i % 7) / 7);
    const means = Array.from({ length: c * w }, (_, k) => {
      const [ch, col] = [Math.floor(k / w), k % w];
      let sum = 0;
      for (let row = 0; row < h; row++) sum += image[ch * h * w + row * w + col]!;
      return sum / h;
    });
    for (const opset of [17, 18]) {
      const out = await runModelOnce(
        imageClassifier({ channels: c, height: h, width: w, classes: 5, opset }),
        {
          input: { dims: [1, c, h, w], data: image },
        },
      );
      expectClose(out.logits, applyLinear(linearParameters(c * w, 5), means));
    }
  });

  it('runs the identity model on int64 values', async () => {
    const out = await runModelOnce(identityModel({ dims: [3], type: 'int64' }), {
      input: { dims: [3], data: [1, -2, 2 ** 40] },
    });
    expect(out.output).toEqual({ type: 'int64', dims: [3], data: [1, -2, 2 ** 40] });
  });

  it('feeds and returns float16 values', async () => {
    const out = await runModelOnce(identityModel({ dims: [4], type: 'float16' }), {
      input: { dims: [4], data: [1, -0.5, 65504, 0.1] },
    });
    expect(out.output).toEqual({
      type: 'float16',
      dims: [4],
      data: [1, -0.5, 65504, 0.0999755859375],
    });
  });

  it('returns the input unchanged from the slow model, taking longer with more iterations', async () => {
    const input = Array.from({ length: 2 * 64 }, (_, i) => i / 3);
    const run = async (iterations: number) => {
      const started = performance.now();
      const out = await runModelOnce(slowModel({ iterations, size: 64 }), {
        input: { dims: [2, 64], data: input },
      });
      return { out, ms: performance.now() - started };
    };
    const fast = await run(0);
    const slow = await run(20_000);
    expect(slow.out.output?.data).toEqual(Array.from(Float32Array.from(input)));
    expect(fast.out.output?.data).toEqual(slow.out.output?.data);
    expect(slow.ms).toBeGreaterThan(fast.ms);
  });

  it('fails at run time on the failing model (error mode)', async () => {
    const message = await rejection(
      runModelOnce(failingModel({ failure: 'error' }), {
        input: { dims: [1, 4], data: [1, 2, 3, 4] },
      }),
      'EF_INVALID_MODEL',
    );
    expect(message).toMatch(/failed to run it.*out of data bounds/);
  });

  it('produces only NaN from the failing model (nan mode)', async () => {
    const out = await runModelOnce(failingModel({ failure: 'nan' }), {
      input: { dims: [2, 4], data: [0, 1, -1, 1e30, -0, 2, 3, 4] },
    });
    expect(out.output?.data).toHaveLength(8);
    expect(out.output?.data.every((v) => Number.isNaN(v))).toBe(true);
  });

  it('returns only the tensor outputs of a ZipMap classifier', async () => {
    const params = linearParameters(3, 3);
    const row = [1, -2, 0.5];
    const logits = applyLinear(params, row);
    const out = await runModelOnce(zipMapClassifier({ features: 3, classes: 3 }), {
      input: { dims: [1, 3], data: row },
    });
    expect(Object.keys(out)).toEqual(['label']);
    expect(out.label).toEqual({
      type: 'int64',
      dims: [1],
      data: [logits.indexOf(Math.max(...logits))],
    });
  });

  it('round-trips every initializer type the builder writes', async () => {
    const values = {
      f32: { elemType: 'float32', values: [1.5, -2] },
      f64: { elemType: 'float64', values: [Math.PI, -1e300] },
      i8: { elemType: 'int8', values: [-128, 127] },
      u8: { elemType: 'uint8', values: [0, 255] },
      i32: { elemType: 'int32', values: [-(2 ** 31), 2 ** 31 - 1] },
      i64: { elemType: 'int64', values: [-(2 ** 53) + 1, 2 ** 53 - 1] },
      b: { elemType: 'bool', values: [true, false] },
      s: { elemType: 'string', values: ['héllo', ''] },
    } as const;
    const names = Object.keys(values) as (keyof typeof values)[];
    const bytes = buildModel({
      inputs: [tensorValue('x', 'float32', [1])],
      outputs: [
        tensorValue('y', 'float32', [1]),
        ...names.map((n) => tensorValue(`${n}_out`, values[n].elemType, [2])),
      ],
      initializers: names.map((n) => ({ name: n, dims: [2], ...values[n] })),
      nodes: [
        { op: 'Identity', inputs: ['x'], outputs: ['y'] },
        ...names.map((n) => ({ op: 'Identity', inputs: [n], outputs: [`${n}_out`] })),
      ],
    });
    const out = await runModelOnce(bytes, { x: { dims: [1], data: [0] } });
    for (const n of names) {
      expect(out[`${n}_out`]).toEqual({
        type: values[n].elemType,
        dims: [2],
        data: values[n].values,
      });
    }
  });

  describe('refuses feeds that do not fit the model', () => {
    const model = linearClassifier({ features: 3, classes: 2 });
    it.each([
      ['a missing input', {}, /needs input 'input' \(float32 \[batch_size, 3\]\)/],
      [
        'an unknown input',
        { input: { dims: [1, 3], data: [1, 2, 3] }, other: { dims: [1], data: [1] } },
        /no input 'other'/,
      ],
      ['a wrong value count', { input: { dims: [1, 3], data: [1, 2] } }, /has 2 values/],
      [
        'a wrong fixed dim',
        { input: { dims: [1, 2], data: [1, 2] } },
        /must be float32 \[batch_size, 3\]/,
      ],
      ['a wrong rank', { input: { dims: [3], data: [1, 2, 3] } }, /must be float32/],
      [
        'a wrong type',
        { input: { dims: [1, 3], data: [1, 2, 3], type: 'int32' } },
        /is float32, the sample gives int32/,
      ],
      ['non-numbers', { input: { dims: [1, 3], data: ['a', 'b', 'c'] } }, /must be numbers/],
    ] as const)('%s', async (_what, feeds, message) => {
      expect(await rejection(runModelOnce(model, feeds), 'EF_BAD_REQUEST')).toMatch(message);
    });
  });
});
