import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releases } from '../db/schema.js';
import {
  BACKENDS,
  openTestDatabase,
  seedRelease,
  type TestDatabase,
} from './fixtures.test-support.js';
import { ReleaseOutputs } from './release-outputs.js';
import { eq } from 'drizzle-orm';

for (const backend of BACKENDS) {
  describe(`release output features on ${backend}`, () => {
    let store: TestDatabase;
    beforeAll(async () => {
      store = await openTestDatabase(backend);
    });
    afterAll(async () => {
      await store.close();
    });

    it("names a release's output features from its signed spec, and keeps them", async () => {
      const id = await seedRelease(store.db, {
        inputs: [{ kind: 'tabular', input: 'in', columns: ['x'] }],
        outputs: [
          { kind: 'classifier', output: 'probs', scores: 'probabilities' },
          { kind: 'regressor', output: 'y', names: ['a', 'b'] },
        ],
      });
      const outputs = new ReleaseOutputs(store.db);
      const names = ['probs.class', 'probs.top_score', 'y.a', 'y.b'];
      expect([...(await outputs.of(id))].sort()).toEqual(names);
      // Releases never change: the second answer comes from memory, even with the row gone.
      await store.db.delete(releases).where(eq(releases.releaseId, id));
      expect([...(await outputs.of(id))].sort()).toEqual(names);
      expect(await outputs.sets([id, id])).toEqual(new Map([[id, new Set(names)]]));
    });

    it('names none for an unknown release, and asks again later', async () => {
      const outputs = new ReleaseOutputs(store.db);
      expect(await outputs.of('no-such-release')).toEqual([]);
    });

    it('names none for an envelope without a valid spec instead of failing', async () => {
      for (const envelope of ['{}', 'not json', '{"signed":{"featureSpec":{"inputs":7}}}']) {
        const id = await seedRelease(store.db, { envelope });
        expect(await new ReleaseOutputs(store.db).of(id)).toEqual([]);
      }
    });
  });
}
