import { describe, expect, it } from 'vitest';
import { signEnvelope } from '../crypto/envelope.js';
import { releaseSha256 } from './release.js';
import { initTrustState, parseTrustState, recordInstalled } from './state.js';
import { encode, testWorld } from './fixtures.test-support.js';

const w = testWorld();

describe('initTrustState', () => {
  it('starts from the pinned root with no counters and the given time floor', () => {
    const r = initTrustState(w.rootBytes, { timeFloor: 5 });
    expect(r).toEqual({
      ok: true,
      value: { root: w.root, rootVersion: 1, directiveCounter: 0, releases: {}, timeFloor: 5 },
    });
  });

  it('refuses a pinned root not signed by a threshold of its own root keys', () => {
    const bytes = encode(signEnvelope(w.root, w.rootKeys.slice(0, 1)));
    expect(initTrustState(bytes)).toMatchObject({ ok: false, code: 'EF_SIGNATURE_INVALID' });
  });

  it('refuses a pinned root that is not canonical', () => {
    const text = new TextDecoder().decode(w.rootBytes);
    const bytes = new TextEncoder().encode(`${text}\n`);
    expect(initTrustState(bytes)).toMatchObject({ ok: false, code: 'EF_NOT_CANONICAL' });
  });
});

describe('parseTrustState', () => {
  it('accepts a state written as JSON and read back', () => {
    expect(parseTrustState(JSON.parse(JSON.stringify(w.state)))).toEqual({
      ok: true,
      value: w.state,
    });
  });

  it('refuses a root version that disagrees with the root', () => {
    expect(parseTrustState({ ...w.state, rootVersion: 2 })).toMatchObject({
      ok: false,
      code: 'EF_MALFORMED',
    });
  });

  it('refuses a negative directive counter', () => {
    expect(parseTrustState({ ...w.state, directiveCounter: -1 }).ok).toBe(false);
  });
});

describe('recordInstalled', () => {
  const installed = w.release();
  const sha256 = releaseSha256({ signed: installed });

  it('records the counter and hash of the installed release in a new state', () => {
    const next = recordInstalled(w.state, installed);
    expect(next.releases.resnet).toEqual({ counter: 7, sha256 });
    expect(w.state.releases.resnet?.counter).toBe(5);
  });

  it('records a first release of a model next to the others', () => {
    const other = w.release({ model: { name: 'yolo', version: '1' }, releaseCounter: 1 });
    const next = recordInstalled(w.state, other);
    expect(Object.keys(next.releases).sort()).toEqual(['resnet', 'yolo']);
  });

  it('keeps the higher counter when a local revert installs an older release', () => {
    const next = recordInstalled(w.state, w.release({ releaseCounter: 3 }));
    expect(next.releases).toEqual(w.state.releases);
  });
});
