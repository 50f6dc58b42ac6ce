import { describe, expect, it } from 'vitest';
import { chooseRuntimeMode, elementCount, isTensorType } from './model-runtime.js';

describe('chooseRuntimeMode', () => {
  it('keeps sub-threshold models in process and sends the rest to the worker', () => {
    expect(chooseRuntimeMode(0.01)).toBe('in-process');
    expect(chooseRuntimeMode(1.99)).toBe('in-process');
    expect(chooseRuntimeMode(2)).toBe('worker');
    expect(chooseRuntimeMode(250)).toBe('worker');
    expect(chooseRuntimeMode(0.5, 0.25)).toBe('worker');
  });
});

describe('tensor helpers', () => {
  it('counts elements, a scalar being one', () => {
    expect(elementCount([])).toBe(1);
    expect(elementCount([2, 3, 4])).toBe(24);
    expect(elementCount([0, 4])).toBe(0);
  });

  it('knows the served element types only', () => {
    expect(isTensorType('float32')).toBe(true);
    expect(isTensorType('bool')).toBe(true);
    expect(isTensorType('string')).toBe(false);
    expect(isTensorType('toString')).toBe(false);
  });
});
