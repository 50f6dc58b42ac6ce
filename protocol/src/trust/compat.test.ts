import { describe, expect, it } from 'vitest';
import {
  checkCompat,
  compareSemver,
  parseSemver,
  type Compat,
  type DeviceFacts,
} from './compat.js';

const v = (s: string) => {
  const parsed = parseSemver(s);
  if (parsed === undefined) throw new Error(`not semver: ${s}`);
  return parsed;
};

describe('semver', () => {
  it('orders versions by semver precedence', () => {
    const ordered = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.2.0',
      '1.10.0',
      '2.0.0',
    ];
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect(compareSemver(v(ordered[i]!), v(ordered[i + 1]!))).toBeLessThan(0);
      expect(compareSemver(v(ordered[i + 1]!), v(ordered[i]!))).toBeGreaterThan(0);
    }
  });

  it('ignores build metadata', () => {
    expect(compareSemver(v('1.20.1+cuda12'), v('1.20.1'))).toBe(0);
  });

  it.each(['1.20', '1.20.1.2', '01.2.3', '1.2.3-', '1.2.3-01', '1.2.3+', 'v1.2.3', '1.2.x', ''])(
    'refuses %j',
    (s) => {
      expect(parseSemver(s)).toBeUndefined();
    },
  );
});

describe('checkCompat', () => {
  const device: DeviceFacts = {
    deviceId: 'dev-1',
    hardwareClass: 'rpi5',
    ortVersion: '1.20.1',
    executionProviders: ['XnnpackExecutionProvider', 'CPUExecutionProvider'],
    maxOpset: 21,
  };
  const any: Compat = { hardwareClasses: [], requiredEps: [] };
  const factOf = (compat: Compat, d: DeviceFacts = device) => {
    const r = checkCompat(compat, d);
    return r.ok ? 'ok' : `${r.code}:${String(r.details?.fact)}`;
  };

  it('accepts any device when nothing is required', () => {
    expect(factOf(any)).toBe('ok');
  });

  it('accepts a device within every requirement', () => {
    const compat: Compat = {
      hardwareClasses: ['rpi5'],
      ort: { min: '1.20.0', maxExclusive: '1.21.0' },
      opset: 21,
      requiredEps: ['XnnpackExecutionProvider'],
    };
    expect(factOf(compat)).toBe('ok');
  });

  it('names the hardware class when it is not listed', () => {
    expect(factOf({ ...any, hardwareClasses: ['jetson-orin'] })).toBe(
      'EF_INCOMPATIBLE:hardwareClass',
    );
  });

  it('names the onnxruntime version below the minimum', () => {
    expect(factOf({ ...any, ort: { min: '1.20.2' } })).toBe('EF_INCOMPATIBLE:ortVersion');
  });

  it('treats the upper onnxruntime bound as exclusive', () => {
    expect(factOf({ ...any, ort: { maxExclusive: '1.20.1' } })).toBe('EF_INCOMPATIBLE:ortVersion');
    expect(factOf({ ...any, ort: { maxExclusive: '1.20.2' } })).toBe('ok');
  });

  it('refuses a pre-release runtime below a release minimum', () => {
    const d = { ...device, ortVersion: '1.21.0-dev.20250101' };
    expect(factOf({ ...any, ort: { min: '1.21.0' } }, d)).toBe('EF_INCOMPATIBLE:ortVersion');
  });

  it('refuses a runtime version that is not semver when a range is required', () => {
    const d = { ...device, ortVersion: 'unknown' };
    expect(factOf({ ...any, ort: {} }, d)).toBe('EF_INCOMPATIBLE:ortVersion');
    expect(factOf(any, d)).toBe('ok');
  });

  it('names the opset above what the runtime supports', () => {
    expect(factOf({ ...any, opset: 22 })).toBe('EF_INCOMPATIBLE:opset');
  });

  it('does not check the opset when the device does not state its maximum', () => {
    const { maxOpset: _unused, ...d } = device;
    expect(factOf({ ...any, opset: 99 }, d)).toBe('ok');
  });

  it('lists the missing execution providers', () => {
    const r = checkCompat(
      { ...any, requiredEps: ['CUDAExecutionProvider', 'CPUExecutionProvider'] },
      device,
    );
    expect(r).toMatchObject({
      ok: false,
      code: 'EF_INCOMPATIBLE',
      details: { fact: 'executionProviders', missing: ['CUDAExecutionProvider'] },
    });
  });
});
