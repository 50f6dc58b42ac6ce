/**
 * Read what Edgefleet needs to know about an ONNX model straight from its bytes, without a runtime:
 * IR version, opsets, producer, graph inputs and outputs with their types and shapes, and the
 * operators it uses. Field numbers are those of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto).
 *
 * The bytes are untrusted (an uploaded file): the reader returns `EF_INVALID_MODEL` failures and never
 * throws, caps the nesting of types and subgraphs at `MAX_MODEL_NESTING`, and never copies tensor payloads
 * (`raw_data` and friends are skipped as views).
 */
import { fail, ok, type Failure, type Result } from '../errors.js';
import { elementTypeOf, type TensorElementType } from './element-type.js';
import {
  decodeString,
  forEachField,
  toSafeInteger,
  WireType,
  type ProtoField,
  type VisitResult,
} from './protobuf.js';

/** Deepest nesting of types (seq(seq(...))) and subgraphs (If/Loop bodies) that is accepted. */
export const MAX_MODEL_NESTING = 32;

/** An operator set the model imports. The default ONNX domain is `''` (also spelled `'ai.onnx'`). */
export interface OpsetImport {
  readonly domain: string;
  readonly version: number;
}

/** What kind of value a graph input or output is. Only tensors can be served and sketched. */
export type ModelValueKind = 'tensor' | 'sequence' | 'map' | 'unknown';

/** One dimension: a fixed size, a symbolic name (`'batch_size'`) or null when unknown. */
export type TensorDim = number | string | null;

/** A graph input or output as the model file declares it. */
export interface ModelValueInfo {
  readonly name: string;
  readonly kind: ModelValueKind;
  /** The element type of a tensor; null for other kinds or an undefined type. */
  readonly elemType: TensorElementType | null;
  /** The dimensions of a tensor; null when the rank is unknown or the value is not a tensor. */
  readonly shape: readonly TensorDim[] | null;
  /** The whole type in ONNX notation with our element names: `tensor(float32)`, `seq(map(int64,tensor(float32)))`. */
  readonly type: string;
}

export interface ModelInfo {
  readonly irVersion: number;
  readonly opsetImports: readonly OpsetImport[];
  /** The version of the default ONNX operator set (`''` or `'ai.onnx'`), null if not imported. */
  readonly opset: number | null;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly domain: string;
  readonly modelVersion: number | null;
  readonly graphName: string;
  /** Inputs a caller must feed: graph inputs that are not also initializers (older exporters list both). */
  readonly inputs: readonly ModelValueInfo[];
  readonly outputs: readonly ModelValueInfo[];
  readonly initializerCount: number;
  /** Initializers whose data lives in external files next to the model (not in these bytes). */
  readonly externalDataCount: number;
  /** Nodes of the main graph (not counting If/Loop/Scan bodies). */
  readonly nodeCount: number;
  /** Operators used anywhere, subgraphs included, sorted: `MatMul`, or `domain:Op` outside the default domain. */
  readonly opTypes: readonly string[];
  readonly metadata: readonly { readonly key: string; readonly value: string }[];
}

// onnx.proto field numbers.
const MODEL = {
  irVersion: 1,
  producerName: 2,
  producerVersion: 3,
  domain: 4,
  modelVersion: 5,
  graph: 7,
  opsetImport: 8,
  metadataProps: 14,
};
const OPSET_ID = { domain: 1, version: 2 };
const STRING_ENTRY = { key: 1, value: 2 };
const GRAPH = {
  node: 1,
  name: 2,
  initializer: 5,
  input: 11,
  output: 12,
  sparseInitializer: 15,
};
const NODE = { opType: 4, attribute: 5, domain: 7 };
const ATTRIBUTE = { g: 6, graphs: 11 };
const TENSOR = { name: 8, dataLocation: 14 };
const TENSOR_DATA_LOCATION_EXTERNAL = 1;
const SPARSE_TENSOR = { values: 1 };
const VALUE_INFO = { name: 1, type: 2 };
const TYPE = {
  tensor: 1,
  sequence: 4,
  map: 5,
  opaque: 7,
  sparseTensor: 8,
  optional: 9,
};
const TENSOR_TYPE = { elemType: 1, shape: 2 };
const SEQUENCE_TYPE = { elemType: 1 };
const MAP_TYPE = { keyType: 1, valueType: 2 };
const SHAPE = { dim: 1 };
const DIMENSION = { value: 1, param: 2 };

function invalid(message: string): Failure {
  return fail('EF_INVALID_MODEL', message);
}

/** Scan a (sub)message; wire-format failures are reported with the place they occurred. */
function scan(
  bytes: Uint8Array,
  where: string,
  visit: (f: ProtoField) => VisitResult,
): VisitResult {
  const scanned = forEachField(bytes, visit);
  if (scanned.ok) return undefined;
  if (scanned.code === 'EF_INVALID_MODEL') return scanned;
  return invalid(`protobuf wire-format error in ${where}: ${scanned.message}`);
}

function bytesOf(f: ProtoField): Uint8Array | undefined {
  return f.wireType === WireType.LengthDelimited ? f.bytes : undefined;
}

function stringOf(f: ProtoField): string | undefined {
  return f.wireType === WireType.LengthDelimited ? decodeString(f.bytes) : undefined;
}

function intOf(f: ProtoField): number | undefined {
  return f.wireType === WireType.Varint ? toSafeInteger(f.value) : undefined;
}

/**
 * Read the model summary from ONNX `ModelProto` bytes. Fails with `EF_INVALID_MODEL` (and a hint when
 * the bytes look like another well-known format) if they are not an ONNX model.
 */
export function readModelInfo(bytes: Uint8Array): Result<ModelInfo> {
  const read = readModel(bytes);
  if (read.ok) return read;
  const hint = describeOtherFormat(bytes);
  const what = hint ?? `it could not be read as an ONNX ModelProto: ${read.message}`;
  return invalid(
    `The file is not a valid ONNX model: ${what}. ` +
      'Export the model to ONNX (torch.onnx.export, tf2onnx, skl2onnx, ...) and upload the .onnx file.',
  );
}

function readModel(bytes: Uint8Array): Result<ModelInfo> {
  let irVersion: number | undefined;
  let producerName = '';
  let producerVersion = '';
  let domain = '';
  let modelVersion: number | null = null;
  const opsetImports: OpsetImport[] = [];
  const metadata: { key: string; value: string }[] = [];
  const graph = new GraphReader();
  let graphFields = 0;

  const failed = scan(bytes, 'ModelProto', (f) => {
    switch (f.field) {
      case MODEL.irVersion: {
        const v = intOf(f);
        if (v !== undefined) irVersion = v;
        return undefined;
      }
      case MODEL.producerName:
        producerName = stringOf(f) ?? producerName;
        return undefined;
      case MODEL.producerVersion:
        producerVersion = stringOf(f) ?? producerVersion;
        return undefined;
      case MODEL.domain:
        domain = stringOf(f) ?? domain;
        return undefined;
      case MODEL.modelVersion:
        modelVersion = intOf(f) ?? modelVersion;
        return undefined;
      case MODEL.opsetImport: {
        const b = bytesOf(f);
        if (b === undefined) return undefined;
        const opset = readOpsetImport(b);
        if (!opset.ok) return opset;
        opsetImports.push(opset.value);
        return undefined;
      }
      case MODEL.metadataProps: {
        const b = bytesOf(f);
        if (b === undefined) return undefined;
        const entry = { key: '', value: '' };
        const bad = scan(b, 'ModelProto.metadata_props', (e) => {
          if (e.field === STRING_ENTRY.key) entry.key = stringOf(e) ?? entry.key;
          if (e.field === STRING_ENTRY.value) entry.value = stringOf(e) ?? entry.value;
          return undefined;
        });
        if (bad) return bad;
        metadata.push(entry);
        return undefined;
      }
      case MODEL.graph: {
        const b = bytesOf(f);
        if (b === undefined) return undefined;
        // A repeated embedded message field merges (protobuf semantics): read each into one graph.
        graphFields++;
        return graph.read(b, 0);
      }
      default:
        return undefined;
    }
  });
  if (failed) return failed;
  if (irVersion === undefined || irVersion < 1) {
    return invalid('the ModelProto has no ir_version');
  }
  if (graphFields === 0) return invalid('the ModelProto has no graph');

  const defaultOpset = opsetImports.findLast((o) => o.domain === '' || o.domain === 'ai.onnx');
  return ok({
    irVersion,
    opsetImports,
    opset: defaultOpset?.version ?? null,
    producerName,
    producerVersion,
    domain,
    modelVersion,
    graphName: graph.name,
    inputs: graph.inputs.filter((i) => !graph.initializerNames.has(i.name)),
    outputs: graph.outputs,
    initializerCount: graph.initializerCount,
    externalDataCount: graph.externalDataCount,
    nodeCount: graph.nodeCount,
    opTypes: [...graph.opTypes].sort(),
    metadata,
  });
}

function readOpsetImport(bytes: Uint8Array): Result<OpsetImport> {
  let domain = '';
  let version: number | undefined;
  const bad = scan(bytes, 'ModelProto.opset_import', (f) => {
    if (f.field === OPSET_ID.domain) domain = stringOf(f) ?? domain;
    if (f.field === OPSET_ID.version) version = intOf(f) ?? version;
    return undefined;
  });
  if (bad) return bad;
  if (version === undefined || version < 1) {
    return invalid(`opset import for domain '${domain}' has no valid version`);
  }
  return ok({ domain, version });
}

/** Accumulates the main graph; subgraphs only contribute their operators. */
class GraphReader {
  name = '';
  readonly inputs: ModelValueInfo[] = [];
  readonly outputs: ModelValueInfo[] = [];
  readonly initializerNames = new Set<string>();
  initializerCount = 0;
  externalDataCount = 0;
  nodeCount = 0;
  readonly opTypes = new Set<string>();

  read(bytes: Uint8Array, depth: number): VisitResult {
    if (depth > MAX_MODEL_NESTING)
      return invalid(`subgraphs are nested deeper than ${MAX_MODEL_NESTING}`);
    const main = depth === 0;
    return scan(bytes, main ? 'GraphProto' : 'a subgraph', (f) => {
      const b = bytesOf(f);
      if (b === undefined) return undefined;
      switch (f.field) {
        case GRAPH.name:
          if (main) this.name = decodeString(b);
          return undefined;
        case GRAPH.node:
          if (main) this.nodeCount++;
          return this.#readNode(b, depth);
        case GRAPH.initializer:
          return this.#readInitializer(b, main);
        case GRAPH.sparseInitializer:
          return scan(b, 'GraphProto.sparse_initializer', (s) => {
            const values = bytesOf(s);
            return s.field === SPARSE_TENSOR.values && values
              ? this.#readInitializer(values, main)
              : undefined;
          });
        case GRAPH.input:
        case GRAPH.output: {
          if (!main) return undefined;
          const value = readValueInfo(b);
          if (!value.ok) return value;
          (f.field === GRAPH.input ? this.inputs : this.outputs).push(value.value);
          return undefined;
        }
        default:
          return undefined;
      }
    });
  }

  #readInitializer(bytes: Uint8Array, main: boolean): VisitResult {
    let name = '';
    let location = 0;
    const bad = scan(bytes, 'TensorProto', (f) => {
      // raw_data, float_data, ... are skipped here: the scanner hands them over as views, unread.
      if (f.field === TENSOR.name) name = stringOf(f) ?? name;
      if (f.field === TENSOR.dataLocation) location = intOf(f) ?? location;
      return undefined;
    });
    if (bad) return bad;
    if (location === TENSOR_DATA_LOCATION_EXTERNAL) this.externalDataCount++;
    if (main) {
      this.initializerCount++;
      this.initializerNames.add(name);
    }
    return undefined;
  }

  #readNode(bytes: Uint8Array, depth: number): VisitResult {
    let opType = '';
    let domain = '';
    const bad = scan(bytes, 'NodeProto', (f) => {
      switch (f.field) {
        case NODE.opType:
          opType = stringOf(f) ?? opType;
          return undefined;
        case NODE.domain:
          domain = stringOf(f) ?? domain;
          return undefined;
        case NODE.attribute: {
          const b = bytesOf(f);
          return b === undefined ? undefined : this.#readAttribute(b, depth);
        }
        default:
          return undefined;
      }
    });
    if (bad) return bad;
    this.opTypes.add(domain === '' || domain === 'ai.onnx' ? opType : `${domain}:${opType}`);
    return undefined;
  }

  /** Only graph-valued attributes matter here: their operators count as used. */
  #readAttribute(bytes: Uint8Array, depth: number): VisitResult {
    return scan(bytes, 'AttributeProto', (f) => {
      const b = bytesOf(f);
      if (b === undefined || (f.field !== ATTRIBUTE.g && f.field !== ATTRIBUTE.graphs)) {
        return undefined;
      }
      return this.read(b, depth + 1);
    });
  }
}

function readValueInfo(bytes: Uint8Array): Result<ModelValueInfo> {
  let name = '';
  let type: TypeInfo = UNKNOWN_TYPE;
  const bad = scan(bytes, 'ValueInfoProto', (f) => {
    if (f.field === VALUE_INFO.name) name = stringOf(f) ?? name;
    const b = bytesOf(f);
    if (f.field === VALUE_INFO.type && b !== undefined) {
      const t = readType(b, 0);
      if (!t.ok) return t;
      type = t.value;
    }
    return undefined;
  });
  return bad ?? ok({ name, ...type });
}

type TypeInfo = Omit<ModelValueInfo, 'name'>;

const UNKNOWN_TYPE: TypeInfo = { kind: 'unknown', elemType: null, shape: null, type: 'unknown' };

function elementName(code: number | undefined): string {
  const name = code === undefined ? undefined : elementTypeOf(code);
  return name ?? (code === undefined || code === 0 ? '?' : `type${code}`);
}

/** Read a `TypeProto`; of its oneof members the last one present wins, as in protobuf. */
function readType(bytes: Uint8Array, depth: number): Result<TypeInfo> {
  if (depth > MAX_MODEL_NESTING)
    return invalid(`types are nested deeper than ${MAX_MODEL_NESTING}`);
  let result: TypeInfo = UNKNOWN_TYPE;
  const bad = scan(bytes, 'TypeProto', (f) => {
    const b = bytesOf(f);
    if (b === undefined) return undefined;
    let read: Result<TypeInfo> | undefined;
    switch (f.field) {
      case TYPE.tensor:
        read = readTensorType(b, 'tensor');
        break;
      case TYPE.sparseTensor:
        read = readTensorType(b, 'sparse_tensor');
        break;
      case TYPE.sequence:
      case TYPE.optional: {
        const wrapper = f.field === TYPE.sequence ? 'seq' : 'optional';
        let inner: TypeInfo = UNKNOWN_TYPE;
        const innerBad = scan(b, `TypeProto.${wrapper}`, (e) => {
          const eb = bytesOf(e);
          if (e.field !== SEQUENCE_TYPE.elemType || eb === undefined) return undefined;
          const t = readType(eb, depth + 1);
          if (!t.ok) return t;
          inner = t.value;
          return undefined;
        });
        read =
          innerBad ??
          ok({
            kind: wrapper === 'seq' ? 'sequence' : 'unknown',
            elemType: null,
            shape: null,
            type: `${wrapper}(${inner.type})`,
          });
        break;
      }
      case TYPE.map: {
        let key: number | undefined;
        let value: TypeInfo = UNKNOWN_TYPE;
        const mapBad = scan(b, 'TypeProto.map', (e) => {
          if (e.field === MAP_TYPE.keyType) key = intOf(e) ?? key;
          const eb = bytesOf(e);
          if (e.field !== MAP_TYPE.valueType || eb === undefined) return undefined;
          const t = readType(eb, depth + 1);
          if (!t.ok) return t;
          value = t.value;
          return undefined;
        });
        read =
          mapBad ??
          ok({
            kind: 'map',
            elemType: null,
            shape: null,
            type: `map(${elementName(key)},${value.type})`,
          });
        break;
      }
      case TYPE.opaque:
        read = ok({ ...UNKNOWN_TYPE, type: 'opaque' });
        break;
      default:
        return undefined;
    }
    if (!read.ok) return read;
    result = read.value;
    return undefined;
  });
  return bad ?? ok(result);
}

function readTensorType(bytes: Uint8Array, kind: 'tensor' | 'sparse_tensor'): Result<TypeInfo> {
  let code: number | undefined;
  let shape: TensorDim[] | null = null;
  const bad = scan(bytes, `TypeProto.${kind}`, (f) => {
    if (f.field === TENSOR_TYPE.elemType) code = intOf(f) ?? code;
    const b = bytesOf(f);
    if (f.field !== TENSOR_TYPE.shape || b === undefined) return undefined;
    const dims: TensorDim[] = (shape ??= []);
    return scan(b, 'TensorShapeProto', (d) => {
      const db = bytesOf(d);
      if (d.field !== SHAPE.dim || db === undefined) return undefined;
      const dim = readDimension(db);
      if (!dim.ok) return dim;
      dims.push(dim.value);
      return undefined;
    });
  });
  if (bad) return bad;
  const elemType = code === undefined ? null : (elementTypeOf(code) ?? null);
  return ok({
    kind: kind === 'tensor' ? 'tensor' : 'unknown',
    elemType: kind === 'tensor' ? elemType : null,
    shape: kind === 'tensor' ? shape : null,
    type: `${kind}(${elementName(code)})`,
  });
}

/** A `Dimension`: `dim_value` or `dim_param` (a oneof, so the last one wins); neither means unknown. */
function readDimension(bytes: Uint8Array): Result<TensorDim> {
  let dim: TensorDim = null;
  const bad = scan(bytes, 'TensorShapeProto.Dimension', (f) => {
    if (f.field === DIMENSION.value && f.wireType === WireType.Varint) {
      const v = toSafeInteger(f.value);
      dim = v !== undefined && v >= 0 ? v : null;
    }
    if (f.field === DIMENSION.param && f.wireType === WireType.LengthDelimited) {
      const p = decodeString(f.bytes);
      dim = p === '' ? null : p;
    }
    return undefined;
  });
  return bad ?? ok(dim);
}

function startsWith(bytes: Uint8Array, prefix: string, at = 0): boolean {
  if (bytes.length < at + prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    if (bytes[at + i] !== prefix.charCodeAt(i)) return false;
  }
  return true;
}

/** Recognize formats people upload by mistake, to say what the file is instead. */
function describeOtherFormat(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return 'the file is empty';
  if (startsWith(bytes, 'PK\x03\x04')) {
    return 'it is a ZIP archive (a PyTorch .pt/.pth checkpoint, a Keras .keras file, or a zipped model?)';
  }
  if (startsWith(bytes, 'ORTM', 4)) {
    return 'it is an ONNX Runtime .ort file; upload the .onnx model it was converted from';
  }
  if (startsWith(bytes, 'TFL3', 4)) return 'it is a TensorFlow Lite model';
  if (startsWith(bytes, '\x89HDF')) return 'it is an HDF5 file (a Keras .h5 model?)';
  if (startsWith(bytes, 'version https://git-lfs')) {
    return 'it is a Git LFS pointer, not the model itself; run `git lfs pull` first';
  }
  if (bytes[0] === 0x80 && bytes.length > 1 && bytes[1]! >= 2 && bytes[1]! <= 5) {
    return 'it is a Python pickle (a PyTorch or scikit-learn checkpoint?)';
  }
  const first = String.fromCharCode(bytes[0]!);
  if (first === '{' || first === '[') return 'it looks like JSON';
  if (first === '<') return 'it looks like HTML or XML (an error page saved instead of the model?)';
  return undefined;
}
