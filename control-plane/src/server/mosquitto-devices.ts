/**
 * The devices an external Mosquitto must know: every device with an active token, as the `$7$` hash
 * stored at enrollment (the same hash format Mosquitto's password file takes). Used by `edgefleet broker
 * mosquitto-config` and by anything that regenerates the password file while the server runs.
 */
import type { MosquittoDevice } from '../broker/mosquitto-config.js';
import type { Database } from '../db/database.js';
import { listDevices } from '../db/devices.js';
import { listActiveDeviceTokens } from '../db/tokens.js';

const PAGE = 1000;

export async function listMosquittoDevices(db: Database): Promise<MosquittoDevice[]> {
  const devices: MosquittoDevice[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await listDevices(db, { limit: PAGE, ...(after ? { after } : {}) });
    for (const d of page) {
      const [token] = await listActiveDeviceTokens(db, d.id);
      if (token) devices.push({ id: d.id, tokenHash: token.tokenHash });
    }
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.id;
  }
  return devices;
}
