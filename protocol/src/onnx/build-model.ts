/**
 * A small ONNX graph builder: writes valid `ModelProto` bytes from a plain description of inputs,
 * outputs, nodes and initializers, so that tests, the fleet simulator and the demo can make real
 * models in code. The output is deterministic: the same description gives the same bytes.
 *
 * Mistakes in the description (an undefined name, a name defined twice, a tensor whose value count
 * does not match its dims, an operator domain that is not imported) throw at build time with a
 * message naming the node or value; onnxruntime would refuse such a model anyway, less clearly.
 */
import { elementTypeCode, type TensorElementType } from './element-type.js';
import type { TensorDim } from './model-info.js';
import { encodeFloats, ProtoWriter } from './protobuf.js';

/** The type of a graph value. A tensor without `shape` has an unknown rank. */
export type TypeSpec =
  | {
      readonly kind: 'tensor';
      readonly elemType: TensorElementType;
      readonly shape?: readonly TensorDim[];
    }
  | { readonly kind: 'sequence'; readonly elem: TypeSpec }
  | { readonly kind: 'map'; readonly key: TensorElementType; readonly value: TypeSpec };

/** A named graph input or output. */
export interface ValueSpec {
  readonly name: string;
  readonly type: TypeSpec;
}

/** Element types an initializer (or tensor attribute) can hold. */
export type InitializerElementType =
  'float32' | 'float64' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool' | 'string';

/** A constant tensor; `values` are in row-major order and their count is the product of `dims`. */
export interface InitializerSpec {
  readonly name: string;
  readonly elemType: InitializerElementType;
  readonly dims: readonly number[];
  readonly values: ArrayLike<number | bigint | boolean | string>;
}

/** An attribute value, tagged with its `AttributeProto` field name so floats and ints stay apart. */
export type AttributeValue =
  | { readonly i: number | bigint }
  | { readonly f: number }
  | { readonly s: string }
  | { readonly ints: readonly (number | bigint)[] }
  | { readonly floats: readonly number[] }
  | { readonly strings: readonly string[] }
  | { readonly t: InitializerSpec }
  | { readonly g: GraphSpec };

export interface NodeSpec {
  readonly op: string;
  /** Input names; `''` leaves an optional input out. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Defaults to `<graph>/<op>_<index>`. */
  readonly name?: string;
  /** Operator domain; default `''` (ONNX). Other domains must be listed in `opsets`. */
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

/** A graph. Nodes must be in topological order (each input defined before it is read). */
export interface GraphSpec {
  /** Default `'main'`. */
  readonly name?: string;
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly nodes: readonly NodeSpec[];
  readonly initializers?: readonly InitializerSpec[];
}

export interface BuildModelOptions extends GraphSpec {
  /** Version of the default ONNX operator set. Default 17. */
  readonly opset?: number;
  /** Other operator sets, e.g. `{ 'ai.onnx.ml': 3 }`. */
  readonly opsets?: Readonly<Record<string, number>>;
  /** Default: the IR version that introduced `opset` (8 up to opset 18, then 9, 10, 11). */
  readonly irVersion?: number;
  /** Default `{ name: 'edgefleet', version: '' }`. */
  readonly producer?: { readonly name: string; readonly version?: string };
  readonly docString?: string;
}

export const DEFAULT_ONNX_OPSET = 17;

/** Shorthand for a tensor value: `tensorValue('input', 'float32', ['batch_size', 4])`. */
export function tensorValue(
  name: string,
  elemType: TensorElementType,
  shape?: readonly TensorDim[],
): ValueSpec {
  return {
    name,
    type: shape === undefined ? { kind: 'tensor', elemType } : { kind: 'tensor', elemType, shape },
  };
}

/** Write the model as ONNX `ModelProto` bytes. Throws `TypeError`/`RangeError` on an invalid description. */
export function buildModel(options: BuildModelOptions): Uint8Array {
  const opset = options.opset ?? DEFAULT_ONNX_OPSET;
  checkVersion(opset, 'opset');
  const imported = new Map<string, number>([['', opset]]);
  for (const [domain, version] of Object.entries(options.opsets ?? {})) {
    checkVersion(version, `opset of domain '${domain}'`);
    if (domain !== '' && domain !== 'ai.onnx') imported.set(domain, version);
  }
  checkGraph(options, new Set(), new Set(imported.keys()));
  const irVersion = options.irVersion ?? defaultIrVersion(opset);
  checkVersion(irVersion, 'irVersion');

  // Fields in field-number order, as protobuf serializers write them (onnx.proto ModelProto).
  const w = new ProtoWriter();
  w.varint(1, irVersion);
  w.string(2, options.producer?.name ?? 'edgefleet');
  w.string(3, options.producer?.version ?? '');
  if (options.docString !== undefined) w.string(6, options.docString);
  w.message(7, (g) => {
    writeGraph(g, options);
  });
  for (const [domain, version] of imported) {
    w.message(8, (o) => o.string(1, domain).varint(2, version));
  }
  return w.finish();
}

function defaultIrVersion(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

function checkVersion(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 1)
    throw new RangeError(`buildModel: ${what} must be a positive integer, got ${v}`);
}

/** Check names in one graph (SSA: each defined once; read only after being defined or from an outer scope). */
function checkGraph(
  graph: GraphSpec,
  outer: ReadonlySet<string>,
  domains: ReadonlySet<string>,
): void {
  const where = `graph '${graph.name ?? 'main'}'`;
  const defined = new Set<string>();
  const define = (name: string, by: string): void => {
    if (name === '') throw new TypeError(`buildModel: ${where}: ${by} has an empty name`);
    if (defined.has(name))
      throw new TypeError(`buildModel: ${where}: '${name}' is defined twice (${by})`);
    defined.add(name);
  };
  for (const input of graph.inputs) define(input.name, 'an input');
  for (const init of graph.initializers ?? []) {
    define(init.name, 'an initializer');
    elementCount(init);
  }
  graph.nodes.forEach((node, index) => {
    const label = `node ${index} (${node.op})`;
    if (!domains.has(node.domain ?? '') && node.domain !== 'ai.onnx') {
      throw new TypeError(
        `buildModel: ${where}: ${label} uses domain '${node.domain ?? ''}', which is not in opsets`,
      );
    }
    for (const input of node.inputs) {
      if (input !== '' && !defined.has(input) && !outer.has(input)) {
        throw new TypeError(
          `buildModel: ${where}: ${label} reads '${input}', which is not defined before it`,
        );
      }
    }
    for (const attr of Object.values(node.attributes ?? {})) {
      if ('g' in attr) checkGraph(attr.g, new Set([...outer, ...defined]), domains);
      if ('t' in attr) elementCount(attr.t);
    }
    for (const output of node.outputs) if (output !== '') define(output, label);
  });
  for (const output of graph.outputs) {
    if (!defined.has(output.name) && !outer.has(output.name)) {
      throw new TypeError(
        `buildModel: ${where}: output '${output.name}' is not produced by any node`,
      );
    }
  }
}

function writeGraph(w: ProtoWriter, graph: GraphSpec): void {
  const name = graph.name ?? 'main';
  graph.nodes.forEach((node, index) => {
    w.message(1, (n) => {
      writeNode(n, node, `${name}/${node.op}_${index}`);
    });
  });
  w.string(2, name);
  for (const init of graph.initializers ?? []) {
    w.message(5, (t) => {
      writeTensor(t, init);
    });
  }
  for (const input of graph.inputs) {
    w.message(11, (v) => {
      writeValueInfo(v, input);
    });
  }
  for (const output of graph.outputs) {
    w.message(12, (v) => {
      writeValueInfo(v, output);
    });
  }
}

function writeNode(w: ProtoWriter, node: NodeSpec, defaultName: string): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, node.name ?? defaultName);
  w.string(4, node.op);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    w.message(5, (a) => {
      writeAttribute(a, name, value);
    });
  }
  if (node.domain !== undefined && node.domain !== '') w.string(7, node.domain);
}

// AttributeProto.AttributeType
const ATTR_TYPE = { f: 1, i: 2, s: 3, t: 4, g: 5, floats: 6, ints: 7, strings: 8 } as const;

function writeAttribute(w: ProtoWriter, name: string, value: AttributeValue): void {
  w.string(1, name);
  let type: number;
  if ('f' in value) {
    w.float(2, value.f);
    type = ATTR_TYPE.f;
  } else if ('i' in value) {
    w.varint(3, value.i);
    type = ATTR_TYPE.i;
  } else if ('s' in value) {
    w.string(4, value.s);
    type = ATTR_TYPE.s;
  } else if ('t' in value) {
    w.message(5, (t) => {
      writeTensor(t, value.t);
    });
    type = ATTR_TYPE.t;
  } else if ('g' in value) {
    w.message(6, (g) => {
      writeGraph(g, value.g);
    });
    type = ATTR_TYPE.g;
  } else if ('floats' in value) {
    // proto2 repeated scalars are unpacked by default: one field per value.
    for (const f of value.floats) w.float(7, f);
    type = ATTR_TYPE.floats;
  } else if ('ints' in value) {
    for (const i of value.ints) w.varint(8, i);
    type = ATTR_TYPE.ints;
  } else {
    for (const s of value.strings) w.string(9, s);
    type = ATTR_TYPE.strings;
  }
  w.varint(20, type);
}

function writeValueInfo(w: ProtoWriter, value: ValueSpec): void {
  w.string(1, value.name);
  w.message(2, (t) => {
    writeType(t, value.type);
  });
}

function writeType(w: ProtoWriter, type: TypeSpec): void {
  switch (type.kind) {
    case 'tensor':
      w.message(1, (t) => {
        t.varint(1, elementTypeCode(type.elemType));
        const shape = type.shape;
        if (shape === undefined) return;
        t.message(2, (s) => {
          for (const dim of shape) {
            s.message(1, (d) => {
              if (typeof dim === 'number') d.varint(1, dim);
              else if (typeof dim === 'string') d.string(2, dim);
            });
          }
        });
      });
      return;
    case 'sequence':
      w.message(4, (s) => {
        s.message(1, (e) => {
          writeType(e, type.elem);
        });
      });
      return;
    case 'map':
      w.message(5, (m) => {
        m.varint(1, elementTypeCode(type.key));
        m.message(2, (v) => {
          writeType(v, type.value);
        });
      });
      return;
  }
}

function elementCount(t: InitializerSpec): number {
  let count = 1;
  for (const d of t.dims) {
    if (!Number.isSafeInteger(d) || d < 0)
      throw new RangeError(`buildModel: tensor '${t.name}' has an invalid dim ${d}`);
    count *= d;
  }
  if (t.values.length !== count) {
    throw new RangeError(
      `buildModel: tensor '${t.name}' has ${t.values.length} values, its dims [${t.dims.join(', ')}] need ${count}`,
    );
  }
  return count;
}

function writeTensor(w: ProtoWriter, t: InitializerSpec): void {
  for (const d of t.dims) w.varint(1, d);
  w.varint(2, elementTypeCode(t.elemType));
  if (t.elemType === 'string') {
    for (let i = 0; i < t.values.length; i++) w.string(6, String(t.values[i]));
    w.string(8, t.name);
    return;
  }
  w.string(8, t.name);
  w.bytes(9, rawData(t));
}

/** `raw_data`: the values as fixed-size little-endian numbers (onnx.proto TensorProto.raw_data). */
function rawData(t: InitializerSpec): Uint8Array {
  const n = t.values.length;
  const num = (i: number): number => {
    const v = t.values[i];
    if (typeof v === 'number') return v;
    if (typeof v === 'boolean') return v ? 1 : 0;
    throw new TypeError(
      `buildModel: tensor '${t.name}' (${t.elemType}) holds a non-number ${String(v)}`,
    );
  };
  switch (t.elemType) {
    case 'float32':
      return encodeFloats(
        Array.from({ length: n }, (_, i) => num(i)),
        4,
      );
    case 'float64':
      return encodeFloats(
        Array.from({ length: n }, (_, i) => num(i)),
        8,
      );
    case 'int8':
      return Uint8Array.from(
        Int8Array.from({ length: n }, (_, i) => num(i)),
        (b) => b & 0xff,
      );
    case 'uint8':
    case 'bool':
      return Uint8Array.from({ length: n }, (_, i) => num(i));
    case 'int32': {
      const out = new Uint8Array(n * 4);
      const view = new DataView(out.buffer);
      for (let i = 0; i < n; i++) view.setInt32(i * 4, num(i), true);
      return out;
    }
    case 'int64': {
      const out = new Uint8Array(n * 8);
      const view = new DataView(out.buffer);
      for (let i = 0; i < n; i++) {
        const v = t.values[i];
        view.setBigInt64(i * 8, typeof v === 'bigint' ? v : BigInt(num(i)), true);
      }
      return out;
    }
    case 'string':
      throw new TypeError('buildModel: string tensors have no raw_data');
  }
}
