/**
 * Inspection and inference on real models exported by others (../shared/models, see its README),
 * not only on the models the tests build themselves.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { inspectModel, runModelOnce } from '@edgefleet/control-plane';
import { readModelInfo } from '@edgefleet/protocol';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = resolve(repoRoot, '..', 'shared', 'models');
const available = existsSync(modelsDir);
const SKIPPED = 'skipped: ../shared/models not found (clone outside the workspace)';
if (!available) console.warn(`onnx-real-models: ${SKIPPED} (looked in ${modelsDir})`);

describe.skipIf(!available)(available ? 'real models from ../shared/models' : SKIPPED, () => {
  const mnist = join(modelsDir, 'mnist-cnn.onnx');

  it('inspects mnist-cnn.onnx: input [batch_size, 1, 28, 28], output [batch_size, 10]', async () => {
    const inspected = await inspectModel(mnist);
    expect(inspected.inputs).toEqual([
      { name: 'input', type: 'float32', shape: ['batch_size', 1, 28, 28], supported: true },
    ]);
    expect(inspected.outputs).toEqual([
      { name: 'output', type: 'float32', shape: ['batch_size', 10], supported: true },
    ]);
    expect(inspected.producer.name).toBe('pytorch');
  });

  it('reads the opset and IR version of mnist-cnn.onnx from its bytes', async () => {
    const info = readModelInfo(await readFile(mnist));
    if (!info.ok) throw new Error(info.message);
    expect(info.value.opset).toBe(11);
    expect(info.value.irVersion).toBe(6);
    expect(info.value.opsetImports).toEqual([{ domain: '', version: 11 }]);
    expect(info.value.opTypes).toEqual(expect.arrayContaining(['Conv', 'Gemm', 'MaxPool', 'Relu']));
    expect(info.value.inputs.map((i) => i.name)).toEqual(['input']);
  });

  it('runs mnist-cnn.onnx on a batch of two images', async () => {
    const blank = new Array<number>(28 * 28).fill(0);
    // A vertical stroke in the middle of the image: something a digit model responds to.
    const stroke = blank.map((_, i) =>
      i % 28 >= 13 && i % 28 <= 14 && i > 28 * 4 && i < 28 * 24 ? 1 : 0,
    );
    const out = await runModelOnce(mnist, {
      input: { dims: [2, 1, 28, 28], data: [...blank, ...stroke] },
    });
    const logits = out.output;
    expect(logits?.type).toBe('float32');
    expect(logits?.dims).toEqual([2, 10]);
    const values = (logits?.data ?? []) as number[];
    expect(values.every((v) => Number.isFinite(v))).toBe(true);
    expect(values.slice(0, 10)).not.toEqual(values.slice(10));
  });
});
