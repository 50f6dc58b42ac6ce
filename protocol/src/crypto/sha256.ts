/** SHA-256 as lower-case hex, the form used for key ids, file hashes and document hashes. */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { z } from 'zod';

/** 64 lower-case hex digits. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A SHA-256 digest written as 64 lower-case hex digits. */
export const Sha256HexSchema = z.string().regex(SHA256_HEX, 'must be 64 lower-case hex digits');

/** Lower-case hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return bytesToHex(sha256(bytes));
}
