import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DDSketch } from '../sketches/ddsketch.js';
import { profileFromRows } from '../profiles/from-rows.js';
import { encodeProfile } from '../profiles/wire.js';
import {
  decodeMessage,
  encodeMessage,
  MESSAGE_BYTE_CAPS,
  MESSAGE_SCHEMAS,
  type MessageType,
} from './codec.js';

const at = '2026-11-26T10:00:00.000Z';
const latency = new DDSketch();
for (const x of [1.2, 3.4, 2.2]) latency.update(x);
const spec = {
  inputs: [{ kind: 'tabular' as const, input: 'input', columns: ['a', 'b'] }],
  outputs: [],
};
const profile = profileFromRows(
  [
    { a: 1, b: 2 },
    { a: 3, b: 4 },
  ],
  spec,
);
if (!profile.ok) throw new Error(profile.message);

const VALID: { [T in MessageType]: unknown } = {
  desired: {
    v: 1,
    type: 'desired',
    directive: '{"signatures":[],"signed":{}}',
    release: '{"signatures":[],"signed":{}}',
  },
  cmd: { v: 1, type: 'cmd', id: 'c1', command: 'flush_telemetry', issuedAt: at },
  status: {
    v: 1,
    type: 'status',
    deviceId: 'dev-1',
    releaseId: 'r1',
    directiveCounter: 3,
    state: 'failed',
    reason: 'hash_mismatch',
    at,
  },
  state: {
    v: 1,
    type: 'state',
    deviceId: 'dev-1',
    agentVersion: '0.1.0',
    hardwareClass: 'rpi5',
    release: { releaseId: 'r1', model: 'm', version: '1', releaseCounter: 1 },
    previousRelease: null,
    slot: 'a',
    runtime: { ortVersion: '1.30.0', executionProvider: 'cpu', availableProviders: ['cpu'] },
    labels: { site: 'berlin' },
    rootVersion: 1,
    directiveCounter: 3,
    deployment: null,
    at,
  },
  telemetry: {
    v: 1,
    type: 'telemetry',
    deviceId: 'dev-1',
    seq: 7,
    window: { start: at, end: '2026-11-26T10:00:10.000Z' },
    releaseId: 'r1',
    executionProvider: 'cpu',
    requests: 10,
    errors: 1,
    latencyMs: latency.toJSON(),
    profile: encodeProfile(profile.value),
    droppedWindows: 0,
    late: false,
  },
  presence: { v: 1, type: 'presence', deviceId: 'dev-1', online: false, at },
  trust_root: { v: 1, type: 'trust_root', roots: ['{"signatures":[],"signed":{}}'] },
};

const bytes = (x: unknown) =>
  new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));
const TYPES = Object.keys(MESSAGE_SCHEMAS) as MessageType[];

describe('message codec', () => {
  it.each(TYPES)('decodes a valid %s message and round-trips it through encodeMessage', (type) => {
    const r = decodeMessage(type, bytes(VALID[type]));
    expect(r.ok, r.ok ? '' : r.message).toBe(true);
    if (!r.ok) return;
    const again = decodeMessage(type, encodeMessage(type, r.value as never));
    expect(again).toEqual(r);
  });

  it('refuses a payload over the byte cap before parsing it', () => {
    const big = new Uint8Array(MESSAGE_BYTE_CAPS.presence + 1).fill(0x20);
    expect(decodeMessage('presence', big)).toMatchObject({ ok: false, code: 'EF_TOO_LARGE' });
  });

  it('reports an unknown schema version as EF_UNSUPPORTED_VERSION', () => {
    const r = decodeMessage('presence', bytes({ ...(VALID.presence as object), v: 2 }));
    expect(r).toMatchObject({ ok: false, code: 'EF_UNSUPPORTED_VERSION' });
  });

  it('refuses a message of another type on the topic', () => {
    expect(decodeMessage('status', bytes(VALID.presence))).toMatchObject({
      ok: false,
      code: 'EF_MALFORMED',
    });
  });

  it.each([
    ['not JSON', '{"v":1,'],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d])],
    ['an array', '[1,2]'],
    ['null', 'null'],
    ['deep nesting', '['.repeat(100_000) + ']'.repeat(100_000)],
  ])('returns EF_MALFORMED for %s', (_name, input) => {
    const r = decodeMessage('status', input instanceof Uint8Array ? input : bytes(input));
    expect(r.ok).toBe(false);
  });

  it('requires a reason with failed and rolled_back, and only with them', () => {
    const { reason: _r, ...noReason } = VALID.status as Record<string, unknown>;
    expect(decodeMessage('status', bytes(noReason)).ok).toBe(false);
    expect(
      decodeMessage('status', bytes({ ...(VALID.status as object), state: 'soaking' })).ok,
    ).toBe(false);
  });

  it('rejects unknown fields (strict schemas)', () => {
    expect(decodeMessage('presence', bytes({ ...(VALID.presence as object), extra: 1 })).ok).toBe(
      false,
    );
  });

  it('refuses to encode an invalid message at the sender', () => {
    expect(() =>
      encodeMessage('presence', {
        v: 1,
        type: 'presence',
        deviceId: 'a/b',
        online: true,
        at,
      } as never),
    ).toThrow(TypeError);
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fc.uint8Array({ maxLength: 2048 }), (type, b) => {
        const r = decodeMessage(type, b);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 500, seed: 42 },
    );
  });

  it('never throws on mutated valid messages', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...TYPES),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (type, edits) => {
          const b = bytes(VALID[type]);
          for (const [i, v] of edits) b[i % b.length] = v;
          const r = decodeMessage(type, b);
          expect(typeof r.ok).toBe('boolean');
        },
      ),
      { numRuns: 1000, seed: 7 },
    );
  });

  it('never throws on structurally mutated valid messages', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fc.string(), fc.jsonValue(), (type, key, value) => {
        const m = { ...(VALID[type] as Record<string, unknown>), [key]: value };
        const r = decodeMessage(type, bytes(m));
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 500, seed: 9 },
    );
  });
});
