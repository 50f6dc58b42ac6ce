/**
 * Streaming check of a downloaded file against the `{sha256, length}` its release signs.
 *
 * Length is checked on every chunk, so an endless-data attack (TUF threat model) is cut
 * off at the first byte past the signed length, before that byte is hashed or written.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { fail, ok, type Failure, type Result } from '../errors.js';

/** An incremental hash function (SHA-256 by default). */
export interface Hasher {
  update(bytes: Uint8Array): void;
  digestHex(): string;
}

/** A SHA-256 hasher backed by @noble/hashes. */
export function createSha256Hasher(): Hasher {
  const h = sha256.create();
  return {
    update: (bytes) => {
      h.update(bytes);
    },
    digestHex: () => bytesToHex(h.digest()),
  };
}

/** What the release signs for one file. */
export interface SignedFileInfo {
  readonly sha256: string;
  readonly length: number;
}

/** A checker fed with a file's chunks in order. After the first failure every call fails the same way. */
export interface FileCheck {
  /** Feed the next chunk. EF_LENGTH_MISMATCH as soon as the file exceeds its signed length. */
  update(chunk: Uint8Array): Result<void>;
  /** The file is complete: EF_LENGTH_MISMATCH if shorter than signed, EF_HASH_MISMATCH if the hash differs. */
  finish(): Result<void>;
  /** Bytes accepted so far. */
  readonly received: number;
}

/** A streaming checker for one file. */
export function createFileCheck(
  expected: SignedFileInfo,
  hasher: Hasher = createSha256Hasher(),
): FileCheck {
  let received = 0;
  let outcome: Result<void> | undefined; // set once failed or finished

  const failWith = (f: Failure): Failure => {
    outcome = f;
    return f;
  };

  return {
    get received() {
      return received;
    },
    update(chunk) {
      if (outcome !== undefined) {
        return outcome.ok ? fail('EF_INTERNAL', 'update() after finish()') : outcome;
      }
      if (chunk.length > expected.length - received) {
        return failWith(
          fail(
            'EF_LENGTH_MISMATCH',
            `file is longer than its signed length of ${expected.length} bytes`,
            { expectedLength: expected.length, receivedAtLeast: received + chunk.length },
          ),
        );
      }
      hasher.update(chunk);
      received += chunk.length;
      return ok(undefined);
    },
    finish() {
      if (outcome !== undefined) return outcome;
      if (received !== expected.length) {
        return failWith(
          fail(
            'EF_LENGTH_MISMATCH',
            `file has ${received} bytes; its release signs ${expected.length}`,
            { expectedLength: expected.length, receivedLength: received },
          ),
        );
      }
      const actual = hasher.digestHex();
      if (actual !== expected.sha256) {
        return failWith(
          fail('EF_HASH_MISMATCH', 'file sha256 differs from the one its release signs', {
            expected: expected.sha256,
            actual,
          }),
        );
      }
      outcome = ok(undefined);
      return outcome;
    },
  };
}
