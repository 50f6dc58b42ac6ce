import { describe, expect, it } from 'vitest';
import { EdgefleetError } from '../errors.js';
import { keyIdOf } from '../crypto/keys.js';
import { verifyThreshold } from '../crypto/envelope.js';
import { createRoot, RootSchema, signRoot, type CreateRootOptions } from './root.js';
import { testKey } from './fixtures.test-support.js';

const [a, b, c] = [testKey(1), testKey(2), testKey(3)];
const options = (roles: Partial<CreateRootOptions['roles']> = {}): CreateRootOptions => ({
  version: 1,
  expires: '2031-01-01T00:00:00Z',
  roles: {
    root: { keys: [a, b], threshold: 2 },
    release: { keys: [b, c], threshold: 1 },
    deploy: { keys: [c.publicKey], threshold: 1 },
    ...roles,
  },
});

function thrownCode(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof EdgefleetError ? e.code : 'not an EdgefleetError';
  }
  return undefined;
}

describe('createRoot', () => {
  it('lists every key once under its key id and the roles by key id', () => {
    const root = createRoot(options());
    expect(Object.keys(root.keys).sort()).toEqual([a.keyid, b.keyid, c.keyid].sort());
    expect(root.keys[c.keyid]).toEqual(c.publicKey);
    expect(root.roles.release).toEqual({ keyids: [b.keyid, c.keyid], threshold: 1 });
    expect(root.specVersion).toBe('1.0');
    expect(RootSchema.safeParse(root).success).toBe(true);
  });

  it('throws EF_THRESHOLD_INVALID for a threshold of 0', () => {
    expect(thrownCode(() => createRoot(options({ deploy: { keys: [c], threshold: 0 } })))).toBe(
      'EF_THRESHOLD_INVALID',
    );
  });

  it('throws EF_THRESHOLD_INVALID for a threshold above the number of keys', () => {
    expect(thrownCode(() => createRoot(options({ root: { keys: [a], threshold: 2 } })))).toBe(
      'EF_THRESHOLD_INVALID',
    );
  });

  it('throws EF_MALFORMED for a key given twice to one role', () => {
    expect(thrownCode(() => createRoot(options({ root: { keys: [a, a], threshold: 1 } })))).toBe(
      'EF_MALFORMED',
    );
  });

  it('throws EF_THRESHOLD_INVALID for a role without keys', () => {
    expect(thrownCode(() => createRoot(options({ release: { keys: [], threshold: 1 } })))).toBe(
      'EF_THRESHOLD_INVALID',
    );
  });

  it('throws EF_MALFORMED for an expiry that is not an ISO-8601 UTC timestamp', () => {
    expect(thrownCode(() => createRoot({ ...options(), expires: 'next year' }))).toBe(
      'EF_MALFORMED',
    );
  });
});

describe('RootSchema', () => {
  const root = createRoot(options());

  it('refuses a role key id that the keys map does not list', () => {
    const bad = {
      ...root,
      roles: { ...root.roles, deploy: { keyids: ['0'.repeat(64)], threshold: 1 } },
    };
    expect(RootSchema.safeParse(bad).success).toBe(false);
  });

  it('refuses a key listed under a key id that is not its hash', () => {
    const bad = { ...root, keys: { ...root.keys, ['1'.repeat(64)]: a.publicKey } };
    expect(RootSchema.safeParse(bad).success).toBe(false);
    expect(keyIdOf(a.publicKey)).not.toBe('1'.repeat(64));
  });

  it('refuses another major spec version', () => {
    expect(RootSchema.safeParse({ ...root, specVersion: '2.0' }).success).toBe(false);
  });
});

describe('signRoot', () => {
  it('signs with the given keys', () => {
    const root = createRoot(options());
    const env = signRoot(root, [a, b]);
    expect(verifyThreshold(env, root.roles.root, root.keys).ok).toBe(true);
  });

  it('refuses to sign an invalid root', () => {
    const root = createRoot(options());
    const bad = { ...root, version: 0 };
    expect(thrownCode(() => signRoot(bad, [a]))).toBe('EF_MALFORMED');
  });
});
