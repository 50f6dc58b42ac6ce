import { describe, expect, it } from 'vitest';
import { readModelInfo, type ModelInfo } from './model-info.js';
import {
  applyLinear,
  failingModel,
  identityModel,
  imageClassifier,
  linearClassifier,
  linearParameters,
  linearRegressor,
  slowModel,
  zipMapClassifier,
} from './sample-models.js';

function info(bytes: Uint8Array): ModelInfo {
  const read = readModelInfo(bytes);
  if (!read.ok) throw new Error(read.message);
  return read.value;
}

describe('sample models', () => {
  it('have the documented inputs and outputs', () => {
    const sig = (bytes: Uint8Array) => {
      const m = info(bytes);
      return [...m.inputs, ...m.outputs].map(
        (v) => `${v.name}:${v.type}${JSON.stringify(v.shape)}`,
      );
    };
    expect(sig(identityModel({ dims: ['batch_size', 4], type: 'int64' }))).toEqual([
      'input:tensor(int64)["batch_size",4]',
      'output:tensor(int64)["batch_size",4]',
    ]);
    expect(sig(linearClassifier({ features: 5, classes: 3 }))).toEqual([
      'input:tensor(float32)["batch_size",5]',
      'logits:tensor(float32)["batch_size",3]',
    ]);
    expect(sig(linearRegressor({ features: 2 }))).toEqual([
      'input:tensor(float32)["batch_size",2]',
      'prediction:tensor(float32)["batch_size",1]',
    ]);
    expect(sig(imageClassifier())).toEqual([
      'input:tensor(float32)["batch_size",1,28,28]',
      'logits:tensor(float32)["batch_size",10]',
    ]);
    expect(sig(slowModel({ iterations: 10 }))).toEqual([
      'input:tensor(float32)["batch_size",256]',
      'output:tensor(float32)["batch_size",256]',
    ]);
    for (const failure of ['error', 'nan'] as const) {
      expect(sig(failingModel({ failure }))).toEqual([
        'input:tensor(float32)["batch_size",4]',
        'output:tensor(float32)["batch_size",4]',
      ]);
    }
    expect(sig(zipMapClassifier({ features: 2, classes: 2 }))).toEqual([
      'input:tensor(float32)["batch_size",2]',
      'label:tensor(int64)["batch_size"]',
      'probabilities:seq(map(int64,tensor(float32)))null',
    ]);
  });

  it('use default linear weights that are exact in float32', () => {
    const { weights, bias } = linearParameters(6, 4);
    for (const v of [...weights.flat(), ...bias]) expect(Math.fround(v)).toBe(v);
  });

  it('compute y = x · W + b with applyLinear', () => {
    const params = linearParameters(
      2,
      2,
      [
        [1, 2],
        [3, 4],
      ],
      [0.5, -0.5],
    );
    expect(applyLinear(params, [1, 10])).toEqual([31.5, 41.5]);
  });

  it('refuse weights of the wrong shape', () => {
    expect(() => linearClassifier({ features: 2, classes: 2, weights: [[1, 2]] })).toThrow(
      /2 rows of 2/,
    );
    expect(() => linearClassifier({ features: 2, classes: 2, bias: [1] })).toThrow(/bias/);
    expect(() => slowModel({ iterations: -1 })).toThrow(RangeError);
  });
});
