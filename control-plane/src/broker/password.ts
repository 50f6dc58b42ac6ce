/**
 * Device tokens at rest, in the `$7$` form that Mosquitto 2.x's `password_file` and `mosquitto_passwd`
 * use: `$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512 digest>`, 101 iterations, a 12-byte
 * salt and a 64-byte digest. One stored form serves both the embedded broker (which calls
 * {@link verifyToken}) and an external Mosquitto (which reads the generated password file).
 *
 * 101 iterations is Mosquitto's own choice and is kept for compatibility: it is cheap, which is acceptable
 * only because device tokens are long random strings, never human-chosen passwords.
 */
import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

const ITERATIONS = 101;
const SALT_BYTES = 12;
const DIGEST_BYTES = 64;
/** Refuse to verify hashes that ask for more work than this: a stored hash is not a CPU budget. */
const MAX_ITERATIONS = 100_000;
const HASH_FORM = /^\$7\$([1-9][0-9]{0,5})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

interface ParsedHash {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly digest: Buffer;
}

function parseHash(hash: string): ParsedHash | undefined {
  const m = HASH_FORM.exec(hash);
  if (!m) return undefined;
  const iterations = Number(m[1]);
  const salt = Buffer.from(m[2]!, 'base64');
  const digest = Buffer.from(m[3]!, 'base64');
  if (iterations > MAX_ITERATIONS || salt.length === 0 || digest.length !== DIGEST_BYTES) {
    return undefined;
  }
  return { iterations, salt, digest };
}

/** True if `hash` is a `$7$` hash this module can verify (and Mosquitto 2.x can read). */
export function isTokenHash(hash: string): boolean {
  return parseHash(hash) !== undefined;
}

/** Hash a device token for storage, with a fresh random salt. Throws TypeError on an empty token. */
export async function hashToken(token: string): Promise<string> {
  if (token.length === 0) throw new TypeError('a device token must not be empty');
  const salt = randomBytes(SALT_BYTES);
  const digest = await pbkdf2Async(token, salt, ITERATIONS, DIGEST_BYTES, 'sha512');
  return `$7$${ITERATIONS}$${salt.toString('base64')}$${digest.toString('base64')}`;
}

/** True if `token` matches `hash`; false for a wrong token or a malformed hash. Compares in constant time. */
export async function verifyToken(token: string, hash: string): Promise<boolean> {
  const parsed = parseHash(hash);
  if (!parsed) return false;
  const digest = await pbkdf2Async(token, parsed.salt, parsed.iterations, DIGEST_BYTES, 'sha512');
  return timingSafeEqual(digest, parsed.digest);
}
