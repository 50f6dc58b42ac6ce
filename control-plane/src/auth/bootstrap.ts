/**
 * The bootstrap admin token: on first start the control plane creates an admin token, prints it once
 * and writes it to `<dataDir>/admin-token` (mode 0600) so the operator can create personal tokens. With
 * `EDGEFLEET_ADMIN_TOKEN` set, that token is used instead (and registered if new).
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from '../db/database.js';
import { getMeta, setMeta } from '../db/meta.js';
import { createOperatorToken, findActiveOperatorToken, hashToken } from '../db/tokens.js';
import { newToken } from './authenticate.js';

export const ADMIN_TOKEN_FILE = 'admin-token';
const META_KEY = 'bootstrap_admin_token_id';

export interface BootstrapResult {
  /** The token in clear when it was created now (print it once), else undefined. */
  readonly created: string | undefined;
  /** Where the token was written, when it was created now. */
  readonly file: string | undefined;
}

export async function ensureAdminToken(
  db: Database,
  dataDir: string,
  fromEnv: string | undefined,
): Promise<BootstrapResult> {
  if (fromEnv !== undefined) {
    if (!(await findActiveOperatorToken(db, hashToken(fromEnv)))) {
      await createOperatorToken(db, {
        id: randomUUID(),
        tokenHash: hashToken(fromEnv),
        name: 'admin (EDGEFLEET_ADMIN_TOKEN)',
        role: 'admin',
      });
    }
    return { created: undefined, file: undefined };
  }
  if ((await getMeta(db, META_KEY)) !== undefined) return { created: undefined, file: undefined };
  const token = newToken('efo');
  const id = randomUUID();
  await createOperatorToken(db, {
    id,
    tokenHash: hashToken(token),
    name: 'bootstrap admin',
    role: 'admin',
  });
  await setMeta(db, META_KEY, id);
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  await writeFile(file, token + '\n', { mode: 0o600 });
  return { created: token, file };
}
