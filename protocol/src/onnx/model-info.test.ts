import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildModel, tensorValue } from './build-model.js';
import { MAX_MODEL_NESTING, readModelInfo, type ModelInfo } from './model-info.js';
import { ProtoWriter } from './protobuf.js';
import { linearClassifier, slowModel, zipMapClassifier } from './sample-models.js';

function info(bytes: Uint8Array): ModelInfo {
  const read = readModelInfo(bytes);
  if (!read.ok) throw new Error(read.message);
  return read.value;
}

function failure(bytes: Uint8Array): string {
  const read = readModelInfo(bytes);
  if (read.ok) throw new Error('expected a failure');
  expect(read.code).toBe('EF_INVALID_MODEL');
  return read.message;
}

/** A hand-written ModelProto (field numbers from onnx.proto), for what buildModel will not write. */
function handWritten(
  graph: (g: ProtoWriter) => void,
  model?: (m: ProtoWriter) => void,
): Uint8Array {
  const w = new ProtoWriter().varint(1, 3).message(7, graph);
  model?.(w);
  return w.message(8, (o) => o.string(1, 'ai.onnx').varint(2, 9)).finish();
}

function floatInput(g: ProtoWriter, field: number, name: string): void {
  g.message(field, (v) =>
    v
      .string(1, name)
      .message(2, (t) =>
        t.message(1, (tt) =>
          tt.varint(1, 1).message(2, (s) => s.message(1, (d) => d.varint(1, 2))),
        ),
      ),
  );
}

describe('readModelInfo', () => {
  it('reads a linear classifier built in code', () => {
    expect(info(linearClassifier({ features: 3, classes: 2 }))).toEqual({
      irVersion: 8,
      opsetImports: [{ domain: '', version: 17 }],
      opset: 17,
      producerName: 'edgefleet',
      producerVersion: '',
      domain: '',
      modelVersion: null,
      graphName: 'linear',
      inputs: [
        {
          name: 'input',
          kind: 'tensor',
          elemType: 'float32',
          shape: ['batch_size', 3],
          type: 'tensor(float32)',
        },
      ],
      outputs: [
        {
          name: 'logits',
          kind: 'tensor',
          elemType: 'float32',
          shape: ['batch_size', 2],
          type: 'tensor(float32)',
        },
      ],
      initializerCount: 2,
      externalDataCount: 0,
      nodeCount: 2,
      opTypes: ['Add', 'MatMul'],
      metadata: [],
    });
  });

  it('tells unknown dims, unknown rank and scalars apart', () => {
    const m = info(
      buildModel({
        inputs: [
          tensorValue('a', 'int64', [null, 'n', 0]),
          tensorValue('b', 'bool'),
          tensorValue('c', 'float64', []),
        ],
        outputs: [tensorValue('a2', 'int64')],
        nodes: [{ op: 'Identity', inputs: ['a'], outputs: ['a2'] }],
      }),
    );
    expect(m.inputs.map((i) => [i.elemType, i.shape])).toEqual([
      ['int64', [null, 'n', 0]],
      ['bool', null],
      ['float64', []],
    ]);
  });

  it('describes non-tensor outputs with their full type', () => {
    const m = info(zipMapClassifier({ features: 3, classes: 2 }));
    expect(m.outputs.map((o) => [o.name, o.kind, o.type])).toEqual([
      ['label', 'tensor', 'tensor(int64)'],
      ['probabilities', 'sequence', 'seq(map(int64,tensor(float32)))'],
    ]);
    expect(m.opsetImports).toContainEqual({ domain: 'ai.onnx.ml', version: 3 });
    expect(m.opTypes).toContain('ai.onnx.ml:ZipMap');
  });

  it('counts operators inside subgraphs but only main-graph nodes', () => {
    const m = info(slowModel({ iterations: 2, size: 4 }));
    expect(m.nodeCount).toBe(1);
    expect(m.opTypes).toEqual(['Identity', 'Loop', 'MatMul']);
  });

  it('leaves out inputs that are initializers, as older exporters list them', () => {
    const bytes = handWritten((g) => {
      g.string(2, 'old');
      g.message(5, (t) => t.varint(1, 2).varint(2, 1).string(8, 'w').bytes(9, new Uint8Array(8)));
      // A sparse initializer: SparseTensorProto.values is a TensorProto holding the name.
      g.message(15, (s) => s.message(1, (t) => t.varint(2, 1).string(8, 's')));
      floatInput(g, 11, 'x');
      floatInput(g, 11, 'w');
      floatInput(g, 11, 's');
      floatInput(g, 12, 'y');
    });
    const m = info(bytes);
    expect(m.inputs.map((i) => i.name)).toEqual(['x']);
    expect(m.initializerCount).toBe(2);
    expect(m.opset).toBe(9);
    expect(m.irVersion).toBe(3);
  });

  it('counts initializers kept in external data files', () => {
    const bytes = handWritten((g) => {
      g.message(5, (t) =>
        t
          .varint(2, 1)
          .string(8, 'w')
          .message(13, (e) => e.string(1, 'location').string(2, 'w.bin'))
          .varint(14, 1),
      );
    });
    expect(info(bytes).externalDataCount).toBe(1);
  });

  it('reads model metadata and version', () => {
    const bytes = handWritten(
      (g) => g.string(2, 'g'),
      (m) =>
        m
          .string(2, 'pytorch')
          .string(3, '2.5.0')
          .string(4, 'com.example')
          .varint(5, 42)
          .message(14, (e) => e.string(1, 'author').string(2, 'me')),
    );
    const m = info(bytes);
    expect([m.producerName, m.producerVersion, m.domain, m.modelVersion]).toEqual([
      'pytorch',
      '2.5.0',
      'com.example',
      42,
    ]);
    expect(m.metadata).toEqual([{ key: 'author', value: 'me' }]);
  });

  it('fails without ir_version or graph', () => {
    expect(failure(new Uint8Array(0))).toContain('the file is empty');
    expect(failure(new ProtoWriter().varint(1, 8).finish())).toContain('no graph');
    expect(failure(new ProtoWriter().message(7, (g) => g.string(2, 'x')).finish())).toContain(
      'no ir_version',
    );
  });

  it.each([
    ['a zip archive', 'PK\x03\x04rest', 'ZIP archive'],
    ['JSON', '{"model": 1}', 'JSON'],
    ['an HTML error page', '<!doctype html>', 'HTML'],
    ['a Git LFS pointer', 'version https://git-lfs.github.com/spec/v1\n', 'git lfs pull'],
    ['an ORT format model', '\x00\x00\x00\x00ORTM', '.ort file'],
    ['a pickle', '\x80\x04\x95', 'pickle'],
  ])('says what the file is when it is %s', (_what, text, expected) => {
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
    const message = failure(bytes);
    expect(message).toContain(expected);
    expect(message).toContain('Export the model to ONNX');
  });

  it(`refuses types nested deeper than ${MAX_MODEL_NESTING} without overflowing the stack`, () => {
    let type = new ProtoWriter().message(1, (t) => t.varint(1, 1)).finish();
    for (let i = 0; i < 5000; i++) {
      const inner = type;
      type = new ProtoWriter().message(4, (s) => s.bytes(1, inner)).finish();
    }
    const bytes = handWritten((g) => g.message(11, (v) => v.string(1, 'x').bytes(2, type)));
    expect(failure(bytes)).toContain('nested deeper');
  });

  it('refuses subgraphs nested deeper than the cap', () => {
    let graph = new ProtoWriter().string(2, 'leaf').finish();
    for (let i = 0; i < 100; i++) {
      const inner = graph;
      graph = new ProtoWriter()
        .message(1, (n) =>
          n.string(4, 'If').message(5, (a) => a.string(1, 'then_branch').bytes(6, inner)),
        )
        .finish();
    }
    const bytes = new ProtoWriter().varint(1, 8).bytes(7, graph).finish();
    expect(failure(bytes)).toContain('subgraphs are nested deeper');
  });

  it('never throws on any truncation of a valid model', () => {
    const bytes = zipMapClassifier({ features: 4, classes: 3 });
    for (let n = 0; n < bytes.length; n++) {
      const read = readModelInfo(bytes.subarray(0, n));
      if (!read.ok) expect(read.code).toBe('EF_INVALID_MODEL');
    }
  });

  it('never throws on corrupted models or random bytes', () => {
    const bytes = slowModel({ iterations: 3, size: 2 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (flips) => {
          const copy = bytes.slice();
          for (const [at, value] of flips) copy[at] = value;
          const read = readModelInfo(copy);
          if (!read.ok) expect(read.code).toBe('EF_INVALID_MODEL');
        },
      ),
      { seed: 7, numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (random) => {
        const read = readModelInfo(random);
        if (!read.ok) expect(read.code).toBe('EF_INVALID_MODEL');
      }),
      { seed: 8, numRuns: 2000 },
    );
  });
});
