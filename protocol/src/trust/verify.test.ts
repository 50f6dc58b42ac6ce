import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Result } from '../errors.js';
import { releaseSha256 } from './release.js';
import { DEVICE, encode, HOUR, iso, T0, testWorld } from './fixtures.test-support.js';
import { verifyDesired, verifyDirective, verifyRelease } from './verify.js';

const w = testWorld();
const value = <T>(r: Result<T>): T => {
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.value;
};
const codeOf = (r: Result<unknown>) => (r.ok ? 'ok' : r.code);

describe('verifyDesired', () => {
  it('returns both documents, the release hash and the next state', () => {
    const rel = w.signRelease(w.release());
    const dir = w.signDirective(w.directive(rel));
    const v = value(
      verifyDesired(
        w.state,
        { directiveBytes: encode(dir), releaseBytes: encode(rel) },
        DEVICE,
        T0,
      ),
    );
    expect(v.release).toEqual(rel.signed);
    expect(v.directive).toEqual(dir.signed);
    expect(v.releaseEnvelope).toEqual(rel);
    expect(v.releaseSha256).toBe(releaseSha256(rel));
    expect(v.nextState).toEqual({ ...w.state, directiveCounter: 11, timeFloor: T0 });
  });

  it('leaves the release counter to recordInstalled', () => {
    const v = value(verifyDesired(w.state, w.desired(), DEVICE, T0));
    expect(v.nextState.releases).toEqual(w.state.releases);
  });

  it('raises the time floor to the issue time when the clock is behind it', () => {
    const desired = w.desired({ directive: { issuedAt: iso(T0 - HOUR) } });
    const v = value(verifyDesired(w.state, desired, DEVICE, T0 - 90 * 60_000));
    expect(v.nextState.timeFloor).toBe(T0 - HOUR);
  });

  it('never lowers the time floor', () => {
    const state = { ...w.state, timeFloor: T0 + HOUR };
    const v = value(verifyDesired(state, w.desired(), DEVICE, T0));
    expect(v.nextState.timeFloor).toBe(T0 + HOUR);
  });

  it('accepts any counter for a model the device never installed', () => {
    const desired = w.desired({
      release: { model: { name: 'yolo', version: '1' }, releaseCounter: 1 },
    });
    expect(codeOf(verifyDesired(w.state, desired, DEVICE, T0))).toBe('ok');
  });

  it('allows a lower release counter for a local revert', () => {
    const desired = w.desired({ release: { releaseCounter: 4 } });
    expect(codeOf(verifyDesired(w.state, desired, DEVICE, T0))).toBe('EF_ROLLBACK_REFUSED');
    expect(codeOf(verifyDesired(w.state, desired, DEVICE, T0, { localRevert: true }))).toBe('ok');
  });

  it('refuses the installed counter with other content even for a local revert', () => {
    const desired = w.desired({ release: { releaseCounter: 5 } });
    const r = verifyDesired(w.state, desired, DEVICE, T0, { localRevert: true });
    expect(codeOf(r)).toBe('EF_ROLLBACK_REFUSED');
  });

  it('accepts a release that expires after max(clock, floor)', () => {
    const desired = w.desired({ release: { expires: iso(T0 + 1000) } });
    expect(codeOf(verifyDesired(w.state, desired, DEVICE, T0))).toBe('ok');
    expect(codeOf(verifyDesired(w.state, desired, DEVICE, T0 + 1000))).toBe('EF_EXPIRED');
  });

  it('checks byte caps of both documents before parsing either', () => {
    const { releaseBytes } = w.desired();
    const r = verifyDesired(
      w.state,
      { directiveBytes: new Uint8Array(20_000), releaseBytes: releaseBytes.subarray(1) },
      DEVICE,
      T0,
    );
    expect(codeOf(r)).toBe('EF_TOO_LARGE');
  });

  it('checks signatures before expiry', () => {
    const rel = w.signRelease(w.release({ expires: iso(T0 - 1) }), []);
    const desired = {
      directiveBytes: encode(w.signDirective(w.directive(rel))),
      releaseBytes: encode(rel),
    };
    expect(codeOf(verifyDesired(w.state, desired, DEVICE, T0))).toBe('EF_SIGNATURE_INVALID');
  });

  it('checks expiry before the device binding', () => {
    const desired = w.desired({ directive: { deviceId: 'dev-002', expires: iso(T0 - 1) } });
    expect(codeOf(verifyDesired(w.state, desired, DEVICE, T0))).toBe('EF_EXPIRED');
  });

  it('checks the device binding before compatibility', () => {
    const desired = w.desired({
      directive: { deviceId: 'dev-002' },
      release: { compat: { hardwareClasses: ['other'], requiredEps: [] } },
    });
    expect(codeOf(verifyDesired(w.state, desired, DEVICE, T0))).toBe('EF_WRONG_DEVICE');
  });

  it('reports which compatibility fact failed', () => {
    const desired = w.desired({
      release: { compat: { hardwareClasses: ['other'], requiredEps: [] } },
    });
    expect(verifyDesired(w.state, desired, DEVICE, T0)).toMatchObject({
      ok: false,
      code: 'EF_INCOMPATIBLE',
      details: { fact: 'hardwareClass', actual: 'jetson-orin' },
    });
  });

  it('never throws on random bytes', () => {
    const { directiveBytes, releaseBytes } = w.desired();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (junk, asDirective) => {
        const desired = asDirective
          ? { directiveBytes: junk, releaseBytes }
          : { directiveBytes, releaseBytes: junk };
        expect(verifyDesired(w.state, desired, DEVICE, T0).ok).toBe(false);
      }),
      { seed: 2, numRuns: 200 },
    );
  });
});

describe('verifyDirective', () => {
  it('accepts the directive alone and advances its counter', () => {
    const { directiveBytes } = w.desired();
    const v = value(verifyDirective(w.state, directiveBytes, DEVICE.deviceId, T0));
    expect(v.directive.directiveCounter).toBe(11);
    expect(v.nextState.directiveCounter).toBe(11);
  });

  it('refuses a directive bound to another device', () => {
    const { directiveBytes } = w.desired();
    expect(codeOf(verifyDirective(w.state, directiveBytes, 'dev-999', T0))).toBe('EF_WRONG_DEVICE');
  });
});

describe('verifyRelease', () => {
  it('accepts the release alone and returns its hash', () => {
    const rel = w.signRelease(w.release());
    const v = value(verifyRelease(w.state, encode(rel), T0));
    expect(v.sha256).toBe(releaseSha256(rel));
  });

  it('refuses an expired release', () => {
    const rel = w.signRelease(w.release({ expires: iso(T0) }));
    expect(codeOf(verifyRelease(w.state, encode(rel), T0))).toBe('EF_EXPIRED');
  });

  it('allows a lower counter only for a local revert', () => {
    const rel = encode(w.signRelease(w.release({ releaseCounter: 1 })));
    expect(codeOf(verifyRelease(w.state, rel, T0))).toBe('EF_ROLLBACK_REFUSED');
    expect(codeOf(verifyRelease(w.state, rel, T0, { localRevert: true }))).toBe('ok');
  });
});
