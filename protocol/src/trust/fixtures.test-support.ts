/**
 * A deterministic trust world for tests: seeded keys, a root, a device, a release and a directive
 * that verify, and builders that sign any variation of them (valid or not) without validating it.
 * Not exported from the package index.
 */
import { canonicalBytes } from '../canonical-json.js';
import { type Envelope, signEnvelope } from '../crypto/envelope.js';
import { generateSigningKey, type SigningKey } from '../crypto/keys.js';
import { sha256Hex } from '../crypto/sha256.js';
import type { DeviceFacts } from './compat.js';
import type { Directive } from './directive.js';
import { isoTimestamp } from './fields.js';
import { releaseSha256, type ReleaseDocument } from './release.js';
import { createRoot, type Root } from './root.js';
import type { TrustState } from './state.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** The device clock of the tests. */
export const T0 = Date.parse('2030-01-01T00:00:00.000Z');
export const iso = (ms: number): string => isoTimestamp(ms);

/** A seeded xorshift32 byte source, for deterministic keys. */
export function seededRandomBytes(seed: number): (n: number) => Uint8Array {
  let x = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}

const keys = new Map<number, SigningKey>();

/** The signing key number `n` of the tests (same key for the same n; made once, keygen is slow). */
export function testKey(n: number): SigningKey {
  let key = keys.get(n);
  if (key === undefined) {
    key = generateSigningKey(seededRandomBytes(0x5eed0000 + n));
    keys.set(n, key);
  }
  return key;
}

/** Deep-freeze a value, so any attempt to change it throws in strict mode. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export const encode = (envelope: Envelope<unknown>): Uint8Array => canonicalBytes(envelope);

export const MODEL_BYTES = new TextEncoder().encode('pretend this is an ONNX model');
export const SAMPLE_BYTES = new TextEncoder().encode('{"input":[[1,2]],"output":[[0.1,0.9]]}');
export const PROFILE_BYTES = new TextEncoder().encode('{"features":{}}');

export const DEVICE: DeviceFacts = {
  deviceId: 'dev-001',
  hardwareClass: 'jetson-orin',
  ortVersion: '1.20.1',
  executionProviders: ['CUDAExecutionProvider', 'CPUExecutionProvider'],
  maxOpset: 21,
};

export interface World {
  /** Root role: keys[0..2], threshold 2. */
  readonly rootKeys: readonly SigningKey[];
  /** Release role: keys[0..2], threshold 2. */
  readonly releaseKeys: readonly SigningKey[];
  /** Deploy role: one key, threshold 1. */
  readonly deployKeys: readonly SigningKey[];
  /** A key no role trusts. */
  readonly strangerKey: SigningKey;
  readonly root: Root;
  readonly rootBytes: Uint8Array;
  /**
   * A device that has accepted directive 10 and installed release counter 5 of `resnet`, with a
   * time floor two hours before T0. Deep-frozen.
   */
  readonly state: TrustState;
  /** The valid release: counter 7 of `resnet`. */
  release(overrides?: Partial<ReleaseDocument>): ReleaseDocument;
  /** The valid directive (counter 11) for `releaseEnvelope`. */
  directive(releaseEnvelope: Envelope<ReleaseDocument>, overrides?: Partial<Directive>): Directive;
  /** Sign with the first two release keys unless told otherwise. Does not validate. */
  signRelease(release: ReleaseDocument, keys?: readonly SigningKey[]): Envelope<ReleaseDocument>;
  /** Sign with the deploy key unless told otherwise. Does not validate. */
  signDirective(directive: Directive, keys?: readonly SigningKey[]): Envelope<Directive>;
  /** The bytes of a valid desired message, with optional changes to either document. */
  desired(changes?: {
    readonly release?: Partial<ReleaseDocument>;
    readonly directive?: Partial<Directive>;
  }): { directiveBytes: Uint8Array; releaseBytes: Uint8Array };
}

let cached: World | undefined;

/** The shared test world (built once: Ed25519 in pure JS is slow). */
export function testWorld(): World {
  cached ??= buildWorld();
  return cached;
}

function buildWorld(): World {
  const rootKeys = [testKey(1), testKey(2), testKey(3)];
  const releaseKeys = [testKey(11), testKey(12), testKey(13)];
  const deployKeys = [testKey(21)];
  const strangerKey = testKey(99);
  const root = createRoot({
    version: 1,
    expires: iso(T0 + 365 * DAY),
    roles: {
      root: { keys: rootKeys, threshold: 2 },
      release: { keys: releaseKeys, threshold: 2 },
      deploy: { keys: deployKeys, threshold: 1 },
    },
  });
  const rootBytes = encode(signEnvelope(root, rootKeys.slice(0, 2)));

  const release = (overrides: Partial<ReleaseDocument> = {}): ReleaseDocument => ({
    _type: 'release',
    releaseId: 'rel-resnet-7',
    model: { name: 'resnet', version: '7.0.0' },
    releaseCounter: 7,
    files: {
      'model.onnx': { sha256: sha256Hex(MODEL_BYTES), length: MODEL_BYTES.length },
      'sample.json': { sha256: sha256Hex(SAMPLE_BYTES), length: SAMPLE_BYTES.length },
      'reference-profile.json': { sha256: sha256Hex(PROFILE_BYTES), length: PROFILE_BYTES.length },
    },
    modelFile: 'model.onnx',
    compat: {
      hardwareClasses: ['jetson-orin', 'x86-64'],
      ort: { min: '1.18.0', maxExclusive: '2.0.0' },
      opset: 17,
      requiredEps: ['CUDAExecutionProvider'],
    },
    featureSpec: {
      inputs: [{ kind: 'tabular', input: 'x', columns: ['a', 'b'] }],
      outputs: [{ kind: 'classifier', output: 'y', scores: 'probabilities' }],
    },
    healthCheck: { sample: 'sample.json', atol: 1e-4, rtol: 1e-3 },
    referenceProfile: 'reference-profile.json',
    createdAt: iso(T0 - DAY),
    expires: iso(T0 + 30 * DAY),
    ...overrides,
  });

  const directive = (
    releaseEnvelope: Envelope<ReleaseDocument>,
    overrides: Partial<Directive> = {},
  ): Directive => ({
    _type: 'directive',
    deviceId: DEVICE.deviceId,
    releaseId: releaseEnvelope.signed.releaseId,
    releaseSha256: releaseSha256(releaseEnvelope),
    directiveCounter: 11,
    issuedAt: iso(T0 - HOUR),
    expires: iso(T0 + 7 * DAY),
    ...overrides,
  });

  const signRel = (r: ReleaseDocument, keys: readonly SigningKey[] = releaseKeys.slice(0, 2)) =>
    signEnvelope(r, keys);
  const signDir = (d: Directive, keys: readonly SigningKey[] = deployKeys) => signEnvelope(d, keys);

  const installed = signRel(release({ releaseId: 'rel-resnet-5', releaseCounter: 5 }));
  const signDesired = (r?: Partial<ReleaseDocument>, d?: Partial<Directive>) => {
    const rel = signRel(release(r));
    return { directiveBytes: encode(signDir(directive(rel, d))), releaseBytes: encode(rel) };
  };
  let baseline: ReturnType<typeof signDesired> | undefined;
  const state: TrustState = deepFreeze({
    root,
    rootVersion: 1,
    directiveCounter: 10,
    releases: { resnet: { counter: 5, sha256: releaseSha256(installed) } },
    timeFloor: T0 - 2 * HOUR,
  });

  return {
    rootKeys,
    releaseKeys,
    deployKeys,
    strangerKey,
    root,
    rootBytes,
    state,
    release,
    directive,
    signRelease: signRel,
    signDirective: signDir,
    desired(changes = {}) {
      if (changes.release !== undefined || changes.directive !== undefined) {
        return signDesired(changes.release, changes.directive);
      }
      baseline ??= signDesired();
      // Copies: the baseline is shared between tests.
      return {
        directiveBytes: baseline.directiveBytes.slice(),
        releaseBytes: baseline.releaseBytes.slice(),
      };
    },
  };
}
