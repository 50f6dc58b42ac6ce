/**
 * The attack suite (ARCHITECTURE §3), after python-tuf's key-rotation tests, tuf-conformance and
 * the Uptane attack vectors. Each case starts from the baseline desired message (accepted by the
 * first test), changes one thing, and asserts the refusal, its exact code, and that the trusted
 * state (root, counters, time floor) did not change.
 */
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { canonicalBytes } from '../canonical-json.js';
import { type Envelope, signEnvelope } from '../crypto/envelope.js';
import { type SigningKey } from '../crypto/keys.js';
import type { ErrorCode, Result } from '../errors.js';
import type { Directive } from './directive.js';
import { createFileCheck, type Hasher, createSha256Hasher } from './file-check.js';
import { checkOfferedFiles } from './paths.js';
import type { ReleaseDocument } from './release.js';
import { createRoot, type Root, type TrustRoleName } from './root.js';
import { MAX_ROOT_CHAIN, updateRoot, updateRootChain } from './root-update.js';
import { MAX_DIRECTIVE_BYTES, MAX_RELEASE_BYTES, MAX_ROOT_BYTES } from './signed-document.js';
import { recordInstalled, type TrustState } from './state.js';
import {
  DAY,
  DEVICE,
  deepFreeze,
  encode,
  iso,
  MINUTE,
  MODEL_BYTES,
  T0,
  testKey,
  testWorld,
} from './fixtures.test-support.js';
import { verifyDesired } from './verify.js';

const w = testWorld();
const MAX = Number.MAX_SAFE_INTEGER;

/** Run `attempt` on `state` and assert: refused, with `code`, state unchanged. */
function expectRefused<T>(
  state: TrustState,
  code: ErrorCode,
  attempt: (s: TrustState) => Result<T>,
): void {
  const before = structuredClone(state);
  const r = attempt(state);
  if (r.ok) expect.fail(`expected ${code}, but it was accepted`);
  expect(r.code, r.message).toBe(code);
  expect(state).toEqual(before);
}

function expectAccepted<T>(r: Result<T>): T {
  if (!r.ok) expect.fail(`expected acceptance, got ${r.code}: ${r.message}`);
  return r.value;
}

/** The desired message for a release envelope and directive changes, signed by the deploy key. */
function desiredFor(
  release: Envelope<ReleaseDocument>,
  directive: Partial<Directive> = {},
  deployKeys: readonly SigningKey[] = w.deployKeys,
) {
  return {
    directiveBytes: encode(w.signDirective(w.directive(release, directive), deployKeys)),
    releaseBytes: encode(release),
  };
}

const verify = (
  desired: { directiveBytes: Uint8Array; releaseBytes: Uint8Array },
  now = T0,
  device = DEVICE,
) => {
  return (s: TrustState) => verifyDesired(s, desired, device, now);
};

/** A copy of an Ed25519 signature with S + L in place of S: still accepted by tweetnacl. */
function malleate(sigHex: string): string {
  const sig = hexToBytes(sigHex);
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
  s += L;
  for (let i = 32; i < 64; i++) {
    sig[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return bytesToHex(sig);
}

/** Root `version` with the baseline roles unless replaced. Valid (createRoot checks it). */
function rootV(
  version: number,
  roles: Partial<Record<TrustRoleName, { keys: readonly SigningKey[]; threshold: number }>> = {},
  expires = T0 + 365 * DAY,
): Root {
  return createRoot({
    version,
    expires: iso(expires),
    roles: {
      root: roles.root ?? { keys: w.rootKeys, threshold: 2 },
      release: roles.release ?? { keys: w.releaseKeys, threshold: 2 },
      deploy: roles.deploy ?? { keys: w.deployKeys, threshold: 1 },
    },
  });
}

const signed = (root: Root, keys: readonly SigningKey[]) => encode(signEnvelope(root, keys));
const oldRootKeys = () => w.rootKeys.slice(0, 2);

describe('baseline', () => {
  it('accepts the baseline desired message that every case below changes in one way', () => {
    const v = expectAccepted(verify(w.desired())(w.state));
    expect(v.nextState.directiveCounter).toBe(11);
    expect(v.release.releaseCounter).toBe(7);
  });
});

describe('arbitrary software: signatures and thresholds', () => {
  it('refuses an unsigned directive', () => {
    const rel = w.signRelease(w.release());
    const dir = { signed: w.directive(rel), signatures: [] };
    const desired = { directiveBytes: encode(dir), releaseBytes: encode(rel) };
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', verify(desired));
  });

  it('refuses an unsigned release', () => {
    const rel = { signed: w.release(), signatures: [] };
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', verify(desiredFor(rel)));
  });

  it('refuses a directive signed by a key the root does not list', () => {
    const rel = w.signRelease(w.release());
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', verify(desiredFor(rel, {}, [w.strangerKey])));
  });

  it('refuses a release signed by 1 of the 2 release keys its threshold needs', () => {
    const rel = w.signRelease(w.release(), [w.releaseKeys[0]!]);
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', verify(desiredFor(rel)));
  });

  it('counts a signature duplicated verbatim once', () => {
    const one = w.signRelease(w.release(), [w.releaseKeys[0]!]);
    const rel = { signed: one.signed, signatures: [one.signatures[0]!, one.signatures[0]!] };
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', verify(desiredFor(rel)));
  });

  it('refuses a malleated (S + L) signature that tweetnacl alone accepts', () => {
    const rel = w.signRelease(w.release());
    const second = rel.signatures[1]!;
    const forged = { keyid: second.keyid, sig: malleate(second.sig) };
    // The forgery verifies under plain tweetnacl: only the strict S < L check stops it.
    const pub = hexToBytes(w.releaseKeys[1]!.publicKey.keyval.public);
    const message = canonicalBytes(rel.signed);
    expect(nacl.sign.detached.verify(message, hexToBytes(forged.sig), pub)).toBe(true);
    const tampered = { signed: rel.signed, signatures: [rel.signatures[0]!, forged] };
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', verify(desiredFor(tampered)));
  });

  it('refuses a release signed by the deploy key in place of a second release key', () => {
    const rel = w.signRelease(w.release(), [w.releaseKeys[0]!, w.deployKeys[0]!]);
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', verify(desiredFor(rel)));
  });

  it('refuses a directive signed by release keys instead of the deploy key', () => {
    const rel = w.signRelease(w.release());
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', verify(desiredFor(rel, {}, w.releaseKeys)));
  });

  it('accepts extra invalid and unknown signatures once the threshold is met', () => {
    const rel = w.signRelease(w.release());
    const bogus = { keyid: rel.signatures[0]!.keyid, sig: '00'.repeat(64) };
    const stranger = signEnvelope(rel.signed, [w.strangerKey]).signatures[0]!;
    const third = { keyid: w.releaseKeys[2]!.keyid, sig: malleate(rel.signatures[0]!.sig) };
    const noisy = { signed: rel.signed, signatures: [bogus, ...rel.signatures, stranger, third] };
    expectAccepted(verify(desiredFor(noisy))(w.state));
  });
});

describe('wrong type', () => {
  it('refuses a signed release presented as the directive', () => {
    const rel = w.signRelease(w.release());
    const desired = { directiveBytes: encode(rel), releaseBytes: encode(rel) };
    expectRefused(w.state, 'EF_WRONG_TYPE', verify(desired));
  });

  it('refuses a signed directive presented as the release', () => {
    const { directiveBytes } = w.desired();
    expectRefused(
      w.state,
      'EF_WRONG_TYPE',
      verify({ directiveBytes, releaseBytes: directiveBytes }),
    );
  });

  it('refuses a signed directive presented as a new root', () => {
    const { directiveBytes } = w.desired();
    expectRefused(w.state, 'EF_WRONG_TYPE', (s) => updateRoot(s, directiveBytes, T0));
  });
});

describe('device binding and compatibility', () => {
  it('refuses a directive for another device', () => {
    expectRefused(
      w.state,
      'EF_WRONG_DEVICE',
      verify(w.desired({ directive: { deviceId: 'dev-002' } })),
    );
  });

  it('refuses a release for another hardware class', () => {
    const compat = { ...w.release().compat, hardwareClasses: ['x86-64'] };
    expectRefused(w.state, 'EF_INCOMPATIBLE', verify(w.desired({ release: { compat } })));
  });

  it('refuses a release that needs a newer onnxruntime than the device runs', () => {
    const compat = { ...w.release().compat, ort: { min: '1.21.0' } };
    expectRefused(w.state, 'EF_INCOMPATIBLE', verify(w.desired({ release: { compat } })));
  });

  it('refuses a release whose onnxruntime range ends at the version the device runs', () => {
    const compat = { ...w.release().compat, ort: { maxExclusive: '1.20.1' } };
    expectRefused(w.state, 'EF_INCOMPATIBLE', verify(w.desired({ release: { compat } })));
  });

  it('refuses a release that needs an execution provider the device lacks', () => {
    const compat = { ...w.release().compat, requiredEps: ['TensorrtExecutionProvider'] };
    expectRefused(w.state, 'EF_INCOMPATIBLE', verify(w.desired({ release: { compat } })));
  });

  it('refuses a model whose opset is above what the device runtime supports', () => {
    const compat = { ...w.release().compat, opset: 22 };
    expectRefused(w.state, 'EF_INCOMPATIBLE', verify(w.desired({ release: { compat } })));
  });
});

describe('rollback and replay', () => {
  it('refuses a release counter below the installed one', () => {
    expectRefused(
      w.state,
      'EF_ROLLBACK_REFUSED',
      verify(w.desired({ release: { releaseCounter: 4 } })),
    );
  });

  it('refuses a directive counter below the last accepted one', () => {
    expectRefused(
      w.state,
      'EF_ROLLBACK_REFUSED',
      verify(w.desired({ directive: { directiveCounter: 9 } })),
    );
  });

  it('refuses a directive counter equal to the last accepted one', () => {
    expectRefused(
      w.state,
      'EF_ROLLBACK_REFUSED',
      verify(w.desired({ directive: { directiveCounter: 10 } })),
    );
  });

  it('refuses a replay of the directive it has just accepted', () => {
    const desired = w.desired();
    const next = deepFreeze(expectAccepted(verify(desired)(w.state)).nextState);
    expectRefused(next, 'EF_ROLLBACK_REFUSED', verify(desired));
  });

  it('refuses the installed release counter with different content', () => {
    expectRefused(
      w.state,
      'EF_ROLLBACK_REFUSED',
      verify(w.desired({ release: { releaseCounter: 5 } })),
    );
  });

  it('refuses a directive counter above 2^53-1', () => {
    expectRefused(
      w.state,
      'EF_MALFORMED',
      verify(w.desired({ directive: { directiveCounter: MAX + 1 } })),
    );
  });

  it('refuses a release counter above 2^53-1', () => {
    expectRefused(
      w.state,
      'EF_MALFORMED',
      verify(w.desired({ release: { releaseCounter: MAX + 1 } })),
    );
  });

  it('refuses a counter written with more digits than a double holds', () => {
    const { directiveBytes, releaseBytes } = w.desired();
    const text = new TextDecoder().decode(directiveBytes);
    const inflated = text.replace('"directiveCounter":11', '"directiveCounter":9007199254740993');
    expect(inflated).not.toBe(text);
    const desired = { directiveBytes: new TextEncoder().encode(inflated), releaseBytes };
    expectRefused(w.state, 'EF_NOT_CANONICAL', verify(desired));
  });
});

describe('freeze', () => {
  it('refuses an expired release', () => {
    expectRefused(
      w.state,
      'EF_EXPIRED',
      verify(w.desired({ release: { expires: iso(T0 - MINUTE) } })),
    );
  });

  it('refuses an expired directive', () => {
    expectRefused(
      w.state,
      'EF_EXPIRED',
      verify(w.desired({ directive: { expires: iso(T0 - MINUTE) } })),
    );
  });

  it('refuses a directive the clock says is valid when the clock is set back below the time floor', () => {
    const clock = T0 - 10 * DAY;
    const desired = w.desired({
      directive: { issuedAt: iso(T0 - 11 * DAY), expires: iso(T0 - 5 * DAY) },
    });
    // Control: with no floor, the set-back clock would accept it.
    expectAccepted(verify(desired, clock)({ ...w.state, timeFloor: 0 }));
    expectRefused(w.state, 'EF_EXPIRED', verify(desired, clock));
  });
});

describe('fast-forward attack recovery', () => {
  it('recovers from a stolen deploy key pushing the directive counter to 2^53-1 by rotating it', () => {
    const rel = w.signRelease(w.release());
    const stolen = w.deployKeys;
    const attack = desiredFor(rel, { directiveCounter: MAX }, stolen);
    const poisoned = deepFreeze(expectAccepted(verify(attack)(w.state)).nextState);
    expect(poisoned.directiveCounter).toBe(MAX);
    // The poisoned counter now blocks every honest directive.
    expectRefused(
      poisoned,
      'EF_ROLLBACK_REFUSED',
      verify(desiredFor(rel, { directiveCounter: 12 })),
    );

    const newDeploy = testKey(22);
    const v2 = rootV(2, { deploy: { keys: [newDeploy], threshold: 1 } });
    const rotated = deepFreeze(expectAccepted(updateRoot(poisoned, signed(v2, oldRootKeys()), T0)));
    expect(rotated.directiveCounter).toBe(0);
    expect(rotated.releases).toEqual(poisoned.releases);

    expectAccepted(verify(desiredFor(rel, { directiveCounter: 1 }, [newDeploy]))(rotated));
    expectRefused(rotated, 'EF_SIGNATURE_INVALID', verify(attack));
  });

  it('recovers from stolen release keys pushing the release counter to 2^53-1 by rotating them', () => {
    const evil = w.signRelease(w.release({ releaseId: 'rel-evil', releaseCounter: MAX }));
    const accepted = expectAccepted(verify(desiredFor(evil))(w.state));
    const poisoned = deepFreeze(recordInstalled(accepted.nextState, accepted.release));
    expect(poisoned.releases.resnet?.counter).toBe(MAX);
    const honest = w.release({ releaseId: 'rel-resnet-8', releaseCounter: 8 });
    const next = (keys: readonly SigningKey[]) =>
      desiredFor(w.signRelease(honest, keys), { directiveCounter: 12 });
    expectRefused(poisoned, 'EF_ROLLBACK_REFUSED', verify(next(w.releaseKeys)));

    const newRelease = [testKey(14), testKey(15)];
    const v2 = rootV(2, { release: { keys: newRelease, threshold: 2 } });
    const rotated = deepFreeze(expectAccepted(updateRoot(poisoned, signed(v2, oldRootKeys()), T0)));
    expect(rotated.releases).toEqual({});
    expect(rotated.directiveCounter).toBe(poisoned.directiveCounter);

    expectAccepted(verify(next(newRelease))(rotated));
    expectRefused(
      rotated,
      'EF_SIGNATURE_INVALID',
      verify(desiredFor(evil, { directiveCounter: 12 })),
    );
  });
});

describe('encoding: canonical bytes, caps, schema', () => {
  const baseline = () => w.desired();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const bytes = (s: string) => new TextEncoder().encode(s);

  it('refuses a directive with white space between tokens', () => {
    const { directiveBytes, releaseBytes } = baseline();
    const spaced = JSON.stringify(JSON.parse(text(directiveBytes)), null, 1);
    expectRefused(
      w.state,
      'EF_NOT_CANONICAL',
      verify({ directiveBytes: bytes(spaced), releaseBytes }),
    );
  });

  it('refuses a directive with a duplicate member', () => {
    const { directiveBytes, releaseBytes } = baseline();
    const doubled = text(directiveBytes).replace(
      '"deviceId":"dev-001"',
      '"deviceId":"dev-002","deviceId":"dev-001"',
    );
    expect(doubled).not.toBe(text(directiveBytes));
    expectRefused(
      w.state,
      'EF_NOT_CANONICAL',
      verify({ directiveBytes: bytes(doubled), releaseBytes }),
    );
  });

  it('refuses a release with members out of canonical order', () => {
    const { directiveBytes, releaseBytes } = baseline();
    const env = JSON.parse(text(releaseBytes)) as Envelope<unknown>;
    const reordered = JSON.stringify({ signed: env.signed, signatures: env.signatures });
    expectRefused(
      w.state,
      'EF_NOT_CANONICAL',
      verify({ directiveBytes, releaseBytes: bytes(reordered) }),
    );
  });

  it('refuses a directive over the 16 KiB cap', () => {
    const { directiveBytes, releaseBytes } = baseline();
    const padded = bytes(text(directiveBytes) + ' '.repeat(MAX_DIRECTIVE_BYTES));
    expectRefused(w.state, 'EF_TOO_LARGE', verify({ directiveBytes: padded, releaseBytes }));
  });

  it('refuses a validly signed release over the 256 KiB cap', () => {
    const columns = Array.from({ length: 3000 }, (_, i) => `column-${i}-`.padEnd(90, 'x'));
    const featureSpec = {
      inputs: [{ kind: 'tabular' as const, input: 'x', columns }],
      outputs: [],
    };
    const desired = w.desired({ release: { featureSpec } });
    expect(desired.releaseBytes.length).toBeGreaterThan(MAX_RELEASE_BYTES);
    expectRefused(w.state, 'EF_TOO_LARGE', verify(desired));
  });

  it('refuses a root over the 256 KiB cap', () => {
    const padded = bytes(text(signed(rootV(2), oldRootKeys())) + ' '.repeat(MAX_ROOT_BYTES));
    expectRefused(w.state, 'EF_TOO_LARGE', (s) => updateRoot(s, padded, T0));
  });

  it('refuses a signed directive with a member the schema does not define', () => {
    const rel = w.signRelease(w.release());
    const dir = { ...w.directive(rel), priority: 'urgent' } as Directive;
    const desired = { directiveBytes: encode(w.signDirective(dir)), releaseBytes: encode(rel) };
    expectRefused(w.state, 'EF_MALFORMED', verify(desired));
  });

  it('refuses a signed release listing a file named __proto__, which parsing would drop', () => {
    const base = w.release();
    const files = { ...base.files, ['__proto__']: base.files['model.onnx']! };
    expect(Object.keys(files)).toContain('__proto__');
    expectRefused(w.state, 'EF_MALFORMED', verify(w.desired({ release: { files } })));
  });
});

describe('files: endless data, tampering, extraneous files, traversal', () => {
  let verified: ReleaseDocument | undefined;
  /** The baseline release, verified (once: verification is the slow part). */
  const release = () => (verified ??= expectAccepted(verify(w.desired())(w.state)).release);
  const info = () => release().files[release().modelFile]!;

  /** A SHA-256 hasher that records how many bytes reached it. */
  function countingHasher(): Hasher & { bytes: number } {
    const inner = createSha256Hasher();
    const h = {
      bytes: 0,
      update(b: Uint8Array) {
        h.bytes += b.length;
        inner.update(b);
      },
      digestHex: () => inner.digestHex(),
    };
    return h;
  }

  function expectFileRefused(code: ErrorCode, r: Result<void>): void {
    expectRefused(w.state, code, () => r);
  }

  it('refuses a file whose sha256 differs from the signed one', () => {
    const check = createFileCheck(info());
    const tampered = MODEL_BYTES.slice();
    tampered[0] = tampered[0]! ^ 1;
    expect(check.update(tampered).ok).toBe(true);
    expectFileRefused('EF_HASH_MISMATCH', check.finish());
  });

  it('stops a file that runs past its signed length at byte length+1, before hashing it', () => {
    const hasher = countingHasher();
    const check = createFileCheck(info(), hasher);
    expect(check.update(MODEL_BYTES).ok).toBe(true);
    expectFileRefused('EF_LENGTH_MISMATCH', check.update(new Uint8Array(1)));
    expect(check.received).toBe(MODEL_BYTES.length);
    expect(hasher.bytes).toBe(MODEL_BYTES.length);
  });

  it('refuses a file shorter than its signed length', () => {
    const check = createFileCheck(info());
    expect(check.update(MODEL_BYTES.subarray(0, MODEL_BYTES.length - 1)).ok).toBe(true);
    expectFileRefused('EF_LENGTH_MISMATCH', check.finish());
  });

  it('refuses to install a file the release does not list', () => {
    expectFileRefused(
      'EF_EXTRANEOUS_FILE',
      checkOfferedFiles(release(), ['model.onnx', 'evil.so']),
    );
  });

  it.each(['../x', '/x', 'a/b', 'a\\b', '..'])(
    'refuses to install a file offered as %j',
    (path) => {
      expectFileRefused('EF_PATH_INVALID', checkOfferedFiles(release(), [path]));
    },
  );

  it('refuses a signed release that lists a file as ../x', () => {
    const base = w.release();
    const files = { ...base.files, '../x': base.files['sample.json']! };
    expectRefused(w.state, 'EF_PATH_INVALID', verify(w.desired({ release: { files } })));
  });
});

describe('mix and match', () => {
  it('refuses a directive that names a different release document', () => {
    const named = w.signRelease(w.release());
    const other = w.signRelease(w.release({ releaseCounter: 8, releaseId: 'rel-resnet-8' }));
    const desired = {
      directiveBytes: encode(w.signDirective(w.directive(named))),
      releaseBytes: encode(other),
    };
    expectRefused(w.state, 'EF_MIX_AND_MATCH', verify(desired));
  });

  it('refuses a directive whose release id disagrees with the release it hashes', () => {
    expectRefused(
      w.state,
      'EF_MIX_AND_MATCH',
      verify(w.desired({ directive: { releaseId: 'rel-resnet-8' } })),
    );
  });
});

describe('root rotation', () => {
  const K = (n: number) => testKey(n);

  it('walks a valid rotation 1 -> 2 -> 3 that replaces every root key', () => {
    const v2 = rootV(2, { root: { keys: [w.rootKeys[1]!, w.rootKeys[2]!, K(4)], threshold: 2 } });
    const v3 = rootV(3, { root: { keys: [K(4), K(5), K(6)], threshold: 2 } });
    const r2 = signed(v2, [w.rootKeys[1]!, w.rootKeys[2]!]);
    const r3 = signed(v3, [w.rootKeys[1]!, K(4), K(5)]);
    const s2 = deepFreeze(expectAccepted(updateRoot(w.state, r2, T0)));
    const s3 = expectAccepted(updateRoot(s2, r3, T0));
    expect(s3.rootVersion).toBe(3);
    expect(s3.root).toEqual(v3);
    expect(expectAccepted(updateRootChain(w.state, [r2, r3], T0))).toEqual(s3);
    // Deploy and release keys did not change: counters survive.
    expect(s3.directiveCounter).toBe(w.state.directiveCounter);
    expect(s3.releases).toEqual(w.state.releases);
  });

  it('refuses root N+1 not signed by a threshold of root N', () => {
    const v2 = rootV(2, { root: { keys: [K(4), K(5), K(6)], threshold: 2 } });
    expectAccepted(updateRoot(w.state, signed(v2, [...oldRootKeys(), K(4), K(5)]), T0));
    const r2 = signed(v2, [w.rootKeys[0]!, K(4), K(5)]);
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', (s) => updateRoot(s, r2, T0));
  });

  it('refuses root N+1 not signed by a threshold of its own root keys', () => {
    const v2 = rootV(2, { root: { keys: [K(4), K(5), K(6)], threshold: 2 } });
    const r2 = signed(v2, [...oldRootKeys(), K(4)]);
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', (s) => updateRoot(s, r2, T0));
  });

  it('refuses a root that skips a version', () => {
    const r3 = signed(rootV(3), oldRootKeys());
    expectRefused(w.state, 'EF_ROOT_VERSION_INVALID', (s) => updateRoot(s, r3, T0));
  });

  it('refuses a root with the trusted version', () => {
    expectRefused(w.state, 'EF_ROOT_VERSION_INVALID', (s) => updateRoot(s, w.rootBytes, T0));
  });

  it(`refuses a chain of more than ${MAX_ROOT_CHAIN} roots`, () => {
    // After v2 a single root key signs, to keep the 32-step control cheap.
    const single = { root: { keys: [w.rootKeys[0]!], threshold: 1 } };
    const chain = Array.from({ length: MAX_ROOT_CHAIN + 1 }, (_, i) =>
      signed(rootV(i + 2, single), i === 0 ? oldRootKeys() : [w.rootKeys[0]!]),
    );
    expectAccepted(updateRootChain(w.state, chain.slice(0, MAX_ROOT_CHAIN), T0));
    expectRefused(w.state, 'EF_ROOT_CHAIN_TOO_LONG', (s) => updateRootChain(s, chain, T0));
  });

  it('accepts an expired intermediate root when the final one is current', () => {
    const r2 = signed(rootV(2, {}, T0 - DAY), oldRootKeys());
    const r3 = signed(rootV(3), oldRootKeys());
    expect(expectAccepted(updateRootChain(w.state, [r2, r3], T0)).rootVersion).toBe(3);
  });

  it('refuses a chain whose final root has expired', () => {
    const r2 = signed(rootV(2), oldRootKeys());
    const r3 = signed(rootV(3, {}, T0 - DAY), oldRootKeys());
    expectRefused(w.state, 'EF_EXPIRED', (s) => updateRootChain(s, [r2, r3], T0));
  });

  it('refuses a new root the clock says is current but the time floor says has expired', () => {
    const clock = T0 - 10 * DAY;
    const r2 = signed(rootV(2, {}, T0 - 5 * DAY), oldRootKeys());
    expectAccepted(updateRoot({ ...w.state, timeFloor: 0 }, r2, clock));
    expectRefused(w.state, 'EF_EXPIRED', (s) => updateRoot(s, r2, clock));
  });

  it('refuses a chain that breaks midway and keeps the trusted root', () => {
    const r2 = signed(rootV(2), oldRootKeys());
    const r3 = signed(rootV(3), [w.rootKeys[0]!]);
    expectRefused(w.state, 'EF_SIGNATURE_INVALID', (s) => updateRootChain(s, [r2, r3], T0));
  });

  it('refuses a root whose role threshold is 0', () => {
    const bad = {
      ...rootV(2),
      roles: { ...rootV(2).roles, release: { ...rootV(2).roles.release, threshold: 0 } },
    };
    expectRefused(w.state, 'EF_THRESHOLD_INVALID', (s) =>
      updateRoot(s, signed(bad, oldRootKeys()), T0),
    );
  });

  it('refuses a root whose role threshold is above its number of keys', () => {
    const base = rootV(2);
    const bad = {
      ...base,
      roles: { ...base.roles, deploy: { ...base.roles.deploy, threshold: 2 } },
    };
    expectRefused(w.state, 'EF_THRESHOLD_INVALID', (s) =>
      updateRoot(s, signed(bad, oldRootKeys()), T0),
    );
  });

  it('refuses a root that lists one key id twice in a role', () => {
    const base = rootV(2);
    const [a, b] = base.roles.release.keyids;
    const bad = {
      ...base,
      roles: { ...base.roles, release: { keyids: [a!, a!, b!], threshold: 2 } },
    };
    expectRefused(w.state, 'EF_MALFORMED', (s) => updateRoot(s, signed(bad, oldRootKeys()), T0));
  });

  it('refuses a root that lists one key under a second, made-up key id', () => {
    const base = rootV(2);
    const real = base.roles.release.keyids[0]!;
    const alias = 'f'.repeat(64);
    const bad = {
      ...base,
      keys: { ...base.keys, [alias]: base.keys[real]! },
      roles: { ...base.roles, release: { keyids: [real, alias], threshold: 2 } },
    };
    expectRefused(w.state, 'EF_MALFORMED', (s) => updateRoot(s, signed(bad, oldRootKeys()), T0));
  });
});
