import { describe, expect, it } from 'vitest';
import { buildModel, tensorValue, type BuildModelOptions } from './build-model.js';
import { readModelInfo, type ModelInfo } from './model-info.js';
import {
  decodeFields,
  decodeString,
  toSafeInteger,
  WireType,
  type ProtoField,
} from './protobuf.js';
import { slowModel } from './sample-models.js';

function info(bytes: Uint8Array): ModelInfo {
  const read = readModelInfo(bytes);
  if (!read.ok) throw new Error(read.message);
  return read.value;
}

/** The length-delimited payloads of `field` in a message. */
function sub(bytes: Uint8Array, field: number): Uint8Array[] {
  const decoded = decodeFields(bytes);
  if (!decoded.ok) throw new Error(decoded.message);
  return decoded.value.flatMap((f) =>
    f.field === field && f.wireType === WireType.LengthDelimited ? [f.bytes] : [],
  );
}

function all(bytes: Uint8Array, field: number): ProtoField[] {
  const decoded = decodeFields(bytes);
  if (!decoded.ok) throw new Error(decoded.message);
  return decoded.value.filter((f) => f.field === field);
}

const identity: BuildModelOptions = {
  inputs: [tensorValue('x', 'float32', [2])],
  outputs: [tensorValue('y', 'float32', [2])],
  nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
};

describe('buildModel', () => {
  it('writes the same bytes for the same description', () => {
    expect(buildModel(identity)).toEqual(buildModel(identity));
    expect(slowModel({ iterations: 5, size: 8 })).toEqual(slowModel({ iterations: 5, size: 8 }));
  });

  it('writes IR 8 and opset 17 by default, and follows a chosen opset', () => {
    expect(info(buildModel(identity))).toMatchObject({ irVersion: 8, opset: 17 });
    expect(info(buildModel({ ...identity, opset: 21 }))).toMatchObject({
      irVersion: 10,
      opset: 21,
    });
    expect(info(buildModel({ ...identity, opset: 13, irVersion: 7 }))).toMatchObject({
      irVersion: 7,
      opset: 13,
    });
  });

  it('writes the producer', () => {
    const m = info(buildModel({ ...identity, producer: { name: 'fleet-sim', version: '1.2' } }));
    expect([m.producerName, m.producerVersion]).toEqual(['fleet-sim', '1.2']);
  });

  it('writes each attribute kind with its AttributeProto field and type', () => {
    const bytes = buildModel({
      ...identity,
      nodes: [
        {
          op: 'Identity',
          inputs: ['x'],
          outputs: ['y'],
          attributes: {
            f: { f: 0.5 },
            i: { i: -3 },
            s: { s: 'text' },
            floats: { floats: [1, 2] },
            ints: { ints: [4, 5, 6] },
            strings: { strings: ['a', 'b'] },
            t: { t: { name: 't', elemType: 'int32', dims: [1], values: [7] } },
            g: { g: { inputs: [], outputs: [], nodes: [] } },
          },
        },
      ],
    });
    const [graph] = sub(bytes, 7);
    const [node] = sub(graph!, 1);
    const attributes = sub(node!, 5).map((a) => {
      const [name] = sub(a, 1);
      const [type] = all(a, 20);
      const fields = decodeFields(a);
      if (!fields.ok || type?.wireType !== WireType.Varint) throw new Error('bad attribute');
      const valueFields = [...new Set(fields.value.map((f) => f.field))].filter(
        (f) => f !== 1 && f !== 20,
      );
      return [decodeString(name!), toSafeInteger(type.value), valueFields];
    });
    expect(attributes).toEqual([
      ['f', 1, [2]],
      ['i', 2, [3]],
      ['s', 3, [4]],
      ['floats', 6, [7]],
      ['ints', 7, [8]],
      ['strings', 8, [9]],
      ['t', 4, [5]],
      ['g', 5, [6]],
    ]);
  });

  it('refuses a node that reads a name defined after it or nowhere', () => {
    expect(() =>
      buildModel({ ...identity, nodes: [{ op: 'Identity', inputs: ['nope'], outputs: ['y'] }] }),
    ).toThrow(/node 0 \(Identity\) reads 'nope'/);
  });

  it('refuses a name defined twice', () => {
    expect(() =>
      buildModel({
        ...identity,
        nodes: [
          { op: 'Identity', inputs: ['x'], outputs: ['y'] },
          { op: 'Identity', inputs: ['x'], outputs: ['y'] },
        ],
      }),
    ).toThrow(/'y' is defined twice/);
  });

  it('refuses an output no node produces', () => {
    expect(() => buildModel({ ...identity, nodes: [] })).toThrow(/output 'y' is not produced/);
  });

  it('refuses a domain without an opset import', () => {
    expect(() =>
      buildModel({
        ...identity,
        nodes: [{ op: 'Identity', domain: 'com.example', inputs: ['x'], outputs: ['y'] }],
      }),
    ).toThrow(/domain 'com.example'/);
  });

  it('refuses a tensor whose values do not match its dims', () => {
    expect(() =>
      buildModel({
        ...identity,
        initializers: [{ name: 'w', elemType: 'float32', dims: [2, 2], values: [1, 2, 3] }],
      }),
    ).toThrow(/has 3 values, its dims \[2, 2\] need 4/);
  });

  it('refuses an invalid opset', () => {
    expect(() => buildModel({ ...identity, opset: 0 })).toThrow(RangeError);
  });

  it('lets a subgraph read names of the enclosing graph', () => {
    expect(() => slowModel({ iterations: 1, size: 2 })).not.toThrow();
  });
});
