import { describe, expect, it } from 'vitest';
import { canonicalBytes } from '../canonical-json.js';
import { sha256Hex } from '../crypto/sha256.js';
import { EdgefleetError } from '../errors.js';
import { DirectiveSchema, signDirective } from './directive.js';
import { releaseSha256, ReleaseDocumentSchema, signRelease } from './release.js';
import { testWorld } from './fixtures.test-support.js';
import { parseWith } from './validate.js';

const w = testWorld();
const codeOf = (value: unknown) => {
  const r = parseWith(ReleaseDocumentSchema, value, 'release');
  return r.ok ? 'ok' : r.code;
};

describe('release document schema', () => {
  it('accepts the test release', () => {
    expect(codeOf(w.release())).toBe('ok');
  });

  it('accepts a release without health check and reference profile', () => {
    const { referenceProfile: _unused, ...rest } = w.release({ healthCheck: null });
    expect(codeOf(rest)).toBe('ok');
  });

  it('refuses a model file that is not listed', () => {
    expect(codeOf(w.release({ modelFile: 'other.onnx' }))).toBe('EF_MALFORMED');
  });

  it('refuses a health-check sample that is not listed', () => {
    const healthCheck = { sample: 'missing.json', atol: 0, rtol: 0 };
    expect(codeOf(w.release({ healthCheck }))).toBe('EF_MALFORMED');
  });

  it('refuses a reference profile that is not listed', () => {
    expect(codeOf(w.release({ referenceProfile: 'missing.json' }))).toBe('EF_MALFORMED');
  });

  it('refuses a model file named by a path with EF_PATH_INVALID', () => {
    expect(codeOf(w.release({ modelFile: '../model.onnx' }))).toBe('EF_PATH_INVALID');
  });

  it('refuses a listed file named by a path with EF_PATH_INVALID', () => {
    const files = { ...w.release().files, 'a/b': { sha256: 'a'.repeat(64), length: 1 } };
    expect(codeOf(w.release({ files }))).toBe('EF_PATH_INVALID');
  });

  it('refuses a release without files', () => {
    expect(codeOf(w.release({ files: {} }))).toBe('EF_MALFORMED');
  });

  it('refuses an upper-case sha256', () => {
    const files = { 'model.onnx': { sha256: 'A'.repeat(64), length: 1 } };
    expect(codeOf(w.release({ files, healthCheck: null, referenceProfile: undefined }))).toBe(
      'EF_MALFORMED',
    );
  });

  it('refuses a negative file length', () => {
    const files = { ...w.release().files, 'model.onnx': { sha256: 'a'.repeat(64), length: -1 } };
    expect(codeOf(w.release({ files }))).toBe('EF_MALFORMED');
  });

  it('refuses a feature spec that does not match its schema', () => {
    const featureSpec = { inputs: [{ kind: 'audio' }], outputs: [] } as never;
    expect(codeOf(w.release({ featureSpec }))).toBe('EF_MALFORMED');
  });

  it('refuses a release counter of 0', () => {
    expect(codeOf(w.release({ releaseCounter: 0 }))).toBe('EF_MALFORMED');
  });
});

describe('signRelease and releaseSha256', () => {
  it('hashes the canonical bytes of the signed part', () => {
    const env = signRelease(w.release(), w.releaseKeys.slice(0, 2));
    expect(releaseSha256(env)).toBe(sha256Hex(canonicalBytes(env.signed)));
  });

  it('gives different hashes to releases that differ in one field', () => {
    const a = signRelease(w.release(), w.releaseKeys.slice(0, 1));
    const b = signRelease(w.release({ releaseCounter: 8 }), w.releaseKeys.slice(0, 1));
    expect(releaseSha256(a)).not.toBe(releaseSha256(b));
  });

  it('refuses to sign an invalid release', () => {
    expect(() => signRelease(w.release({ modelFile: '../x' }), w.releaseKeys)).toThrow(
      EdgefleetError,
    );
  });
});

describe('directive schema', () => {
  const directive = () => w.directive(w.signRelease(w.release()));
  const directiveCode = (value: unknown) => {
    const r = parseWith(DirectiveSchema, value, 'directive');
    return r.ok ? 'ok' : r.code;
  };

  it('accepts the test directive, with or without a soak', () => {
    expect(directiveCode(directive())).toBe('ok');
    const soak = { minInferences: 100, durationSec: 600, maxErrorRate: 0.01 };
    expect(directiveCode({ ...directive(), soak })).toBe('ok');
  });

  it('refuses a device id outside the topic alphabet', () => {
    expect(directiveCode({ ...directive(), deviceId: 'dev/+' })).toBe('EF_MALFORMED');
  });

  it('refuses a soak error rate above 1', () => {
    expect(directiveCode({ ...directive(), soak: { maxErrorRate: 1.5 } })).toBe('EF_MALFORMED');
  });

  it('refuses to sign an invalid directive', () => {
    expect(() => signDirective({ ...directive(), directiveCounter: 0 }, w.deployKeys)).toThrow(
      EdgefleetError,
    );
  });
});
