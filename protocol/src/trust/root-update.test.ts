import { describe, expect, it } from 'vitest';
import { signEnvelope } from '../crypto/envelope.js';
import { createRoot } from './root.js';
import { updateRoot, updateRootChain } from './root-update.js';
import { DAY, encode, iso, T0, testKey, testWorld } from './fixtures.test-support.js';

const w = testWorld();
const rootBytes = (roles: { deploy?: number; release?: number; rootKeys?: number } = {}) =>
  encode(
    signEnvelope(
      createRoot({
        version: 2,
        expires: iso(T0 + DAY),
        roles: {
          root: { keys: w.rootKeys, threshold: roles.rootKeys ?? 2 },
          release: {
            keys: roles.release === undefined ? w.releaseKeys : [testKey(roles.release)],
            threshold: roles.release === undefined ? 2 : 1,
          },
          deploy: {
            keys: roles.deploy === undefined ? w.deployKeys : [testKey(roles.deploy)],
            threshold: 1,
          },
        },
      }),
      w.rootKeys,
    ),
  );

const accepted = (r: ReturnType<typeof updateRoot>) => {
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.value;
};

describe('updateRoot', () => {
  it('keeps both counters when no role keys change', () => {
    const next = accepted(updateRoot(w.state, rootBytes({ rootKeys: 3 }), T0));
    expect(next.root.roles.root.threshold).toBe(3);
    expect(next.directiveCounter).toBe(w.state.directiveCounter);
    expect(next.releases).toEqual(w.state.releases);
  });

  it('resets only the directive counter when the deploy keys change', () => {
    const next = accepted(updateRoot(w.state, rootBytes({ deploy: 40 }), T0));
    expect(next.directiveCounter).toBe(0);
    expect(next.releases).toEqual(w.state.releases);
  });

  it('resets only the release counters when the release keys change', () => {
    const next = accepted(updateRoot(w.state, rootBytes({ release: 41 }), T0));
    expect(next.releases).toEqual({});
    expect(next.directiveCounter).toBe(w.state.directiveCounter);
  });

  it('keeps the time floor', () => {
    expect(accepted(updateRoot(w.state, rootBytes(), T0)).timeFloor).toBe(w.state.timeFloor);
  });

  it('refuses a root that expires at the current time', () => {
    expect(updateRoot(w.state, rootBytes(), T0 + DAY)).toMatchObject({
      ok: false,
      code: 'EF_EXPIRED',
    });
  });
});

describe('updateRootChain', () => {
  it('returns the same state for an empty chain', () => {
    expect(updateRootChain(w.state, [], T0)).toEqual({ ok: true, value: w.state });
  });

  it('resets a counter when any step of the chain rotates its role', () => {
    const v2 = createRoot({
      version: 2,
      expires: iso(T0 + DAY),
      roles: {
        root: { keys: w.rootKeys, threshold: 2 },
        release: { keys: w.releaseKeys, threshold: 2 },
        deploy: { keys: [testKey(40)], threshold: 1 },
      },
    });
    const v3 = {
      ...v2,
      version: 3,
      roles: { ...v2.roles, deploy: w.root.roles.deploy },
      keys: w.root.keys,
    };
    const chain = [encode(signEnvelope(v2, w.rootKeys)), encode(signEnvelope(v3, w.rootKeys))];
    const next = accepted(updateRootChain(w.state, chain, T0));
    // v3 restores the original deploy key, but the counter was reset on the way.
    expect(next.root.roles.deploy).toEqual(w.root.roles.deploy);
    expect(next.directiveCounter).toBe(0);
  });
});
