/**
 * The abstract test suite every `ModelRuntime` must pass (onnxruntime in process, in a worker, and
 * the fake). Each implementation's test file calls `describeRuntimeContract` with a setup that
 * provides model files of the four kinds below.
 */
import { EdgefleetError } from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedModel, ModelRuntime, TensorData } from './model-runtime.js';
import { modelDir, sampleModels } from './sample-models.test-support.js';

export interface ContractFixture {
  readonly runtime: ModelRuntime;
  /** `identityModel({ dims: ['batch_size', 4] })`. */
  readonly identity: string;
  /** `linearClassifier({ features: 4, classes: 3 })`. */
  readonly linear: string;
  /** Bytes that are not a model. */
  readonly corrupt: string;
  /** A model that loads but fails every run (`failingModel()`). */
  readonly failing: string;
  teardown(): Promise<void>;
}

export type ContractModels = Omit<ContractFixture, 'runtime'>;

/** Write the contract's four model files to a temporary directory (`teardown` removes it). */
export async function writeContractModels(): Promise<ContractModels> {
  const dir = await modelDir();
  return {
    identity: await dir.write(
      'identity.onnx',
      sampleModels.identityModel({ dims: ['batch_size', 4] }),
    ),
    linear: await dir.write(
      'linear.onnx',
      sampleModels.linearClassifier({ features: 4, classes: 3 }),
    ),
    corrupt: await dir.write('corrupt.onnx', new TextEncoder().encode('not an onnx model')),
    failing: await dir.write('failing.onnx', sampleModels.failingModel()),
    teardown: () => dir.cleanup(),
  };
}

const CPU = { executionProviders: ['cpu'] } as const;

function float32(dims: number[], values: number[]): TensorData {
  return { type: 'float32', dims, data: Float32Array.from(values) };
}

async function rejection(promise: Promise<unknown>): Promise<EdgefleetError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EdgefleetError);
  return error as EdgefleetError;
}

export function describeRuntimeContract(name: string, setup: () => Promise<ContractFixture>): void {
  describe(`${name}: ModelRuntime contract`, () => {
    let f: ContractFixture;
    beforeAll(async () => {
      f = await setup();
    });
    afterAll(async () => {
      await f.runtime.close();
      await f.teardown();
    });

    it('reports the inputs and outputs the model declares', async () => {
      const model = await f.runtime.load(f.identity, CPU);
      expect(model.inputs).toEqual([{ name: 'input', type: 'float32', dims: ['batch_size', 4] }]);
      expect(model.outputs).toEqual([{ name: 'output', type: 'float32', dims: ['batch_size', 4] }]);
      expect(model.executionProvider).toBe('cpu');
      expect(model.providerFallbacks).toEqual([]);
      await model.dispose();
    });

    it('runs a model on a batch', async () => {
      const model = await f.runtime.load(f.identity, CPU);
      const values = [1, 2, 3, 4, -1, -2, -3, -4];
      const out = await model.run({ input: float32([2, 4], values) });
      expect(out.output!.type).toBe('float32');
      expect(out.output!.dims).toEqual([2, 4]);
      expect([...out.output!.data]).toEqual(values);
      await model.dispose();
    });

    it('computes the linear classifier like its reference', async () => {
      const model = await f.runtime.load(f.linear, CPU);
      const x = [0.5, -1, 2, 0.25];
      const out = await model.run({ input: float32([1, 4], x) });
      const expected = sampleModels.applyLinear(sampleModels.linearParameters(4, 3), x);
      expect(out.logits!.dims).toEqual([1, 3]);
      [...out.logits!.data].forEach((v, i) => {
        expect(v).toBeCloseTo(expected[i]!, 5);
      });
      await model.dispose();
    });

    it('falls back along the provider preference list to cpu and says which one loaded', async () => {
      const model = await f.runtime.load(f.identity, {
        executionProviders: ['cuda', 'no-such-provider', 'cpu'],
      });
      expect(model.executionProvider).toBe('cpu');
      expect(model.providerFallbacks.map((a) => a.provider)).toEqual(['cuda', 'no-such-provider']);
      for (const attempt of model.providerFallbacks) expect(attempt.error).not.toBe('');
      await model.dispose();
    });

    it('tries cpu last even when the preference list does not name it', async () => {
      const model = await f.runtime.load(f.identity, { executionProviders: ['unknown-ep'] });
      expect(model.executionProvider).toBe('cpu');
      await model.dispose();
    });

    it('fails a corrupt model with EF_LOAD_FAILED naming the attempts', async () => {
      const error = await rejection(f.runtime.load(f.corrupt, { executionProviders: ['cuda'] }));
      expect(error.code).toBe('EF_LOAD_FAILED');
      expect(error.message).toContain(f.corrupt);
      expect(error.details).toMatchObject({ modelPath: f.corrupt });
    });

    it('rejects a failing run with EF_INTERNAL and keeps serving other runs', async () => {
      const failing = await f.runtime.load(f.failing, CPU);
      const error = await rejection(failing.run({ input: float32([1, 4], [1, 2, 3, 4]) }));
      expect(error.code).toBe('EF_INTERNAL');
      const healthy = await f.runtime.load(f.identity, CPU);
      const out = await healthy.run({ input: float32([1, 4], [1, 2, 3, 4]) });
      expect([...out.output!.data]).toEqual([1, 2, 3, 4]);
      await failing.dispose();
      await healthy.dispose();
    });

    it('answers concurrent runs each with its own outputs', async () => {
      const model = await f.runtime.load(f.identity, CPU);
      const runs = Array.from({ length: 16 }, (_, i) =>
        model.run({ input: float32([1, 4], [i, i + 1, i + 2, i + 3]) }),
      );
      const outputs = await Promise.all(runs);
      outputs.forEach((out, i) => {
        expect([...out.output!.data]).toEqual([i, i + 1, i + 2, i + 3]);
      });
      await model.dispose();
    });

    it('rejects runs after dispose, and dispose twice is harmless', async () => {
      const model: LoadedModel = await f.runtime.load(f.identity, CPU);
      await model.dispose();
      await model.dispose();
      const error = await rejection(model.run({ input: float32([1, 4], [1, 2, 3, 4]) }));
      expect(error.code).toBe('EF_INTERNAL');
      expect(error.message).toContain('disposed');
    });
  });
}
