/**
 * Test fixtures shared by the telemetry, drift and webhook tests: databases (PGlite always, and
 * PostgreSQL in a fresh scratch database when DATABASE_URL is set), devices, and telemetry messages
 * built from values.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  createRandom,
  DDSketch,
  emptyFeatureSketch,
  encodeMessage,
  encodeProfile,
  Profile,
  type FeatureSketch,
  type FeatureSpec,
  type RandomSource,
  type TelemetryMessage,
} from '@edgefleet/protocol';
import { afterAll, beforeAll } from 'vitest';
import type { Database } from '../db/database.js';
import { recordArtifact } from '../db/artifacts.js';
import { createDevice } from '../db/devices.js';
import { TelemetryIngest, type TelemetryIngestOptions } from './ingest.js';
import { createModelVersion } from '../db/models.js';
import { createRelease } from '../db/releases.js';
import { openDatabase, type OpenedDatabase } from '../db/open.js';
import { createScratchDatabase } from '../db/scratch-database.test-support.js';
import type { Device, Labels } from '../db/schema.js';

export const DATABASE_URL = process.env.DATABASE_URL;

export interface TestDatabase {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Database;
  close(): Promise<void>;
}

/** Backends to run database tests on: PGlite, plus PostgreSQL when DATABASE_URL is set. */
export const BACKENDS: readonly ('pglite' | 'postgres')[] =
  DATABASE_URL === undefined ? ['pglite'] : ['pglite', 'postgres'];

/** A fresh, empty, migrated database of that kind (PostgreSQL: a scratch database, dropped on close). */
export async function openTestDatabase(kind: 'pglite' | 'postgres'): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const store = await openDatabase();
    return { kind, db: store.db, close: () => store.close() };
  }
  const url = DATABASE_URL;
  if (url === undefined) throw new Error('DATABASE_URL is not set');
  const scratch = await createScratchDatabase(url);
  let store: OpenedDatabase;
  try {
    store = await openDatabase({ databaseUrl: scratch.url, maxConnections: 4 });
  } catch (err) {
    await scratch.drop();
    throw err;
  }
  return {
    kind,
    db: store.db,
    async close() {
      await store.close();
      await scratch.drop();
    },
  };
}

/** Enroll a device directly in the table. */
export async function seedDevice(
  db: Database,
  id: string,
  labels: Labels = {},
  hardwareClass = 'rpi4',
): Promise<Device> {
  return createDevice(db, {
    id,
    hardwareClass,
    os: 'linux',
    arch: 'arm64',
    ortVersion: '1.20.0',
    executionProviders: ['cpu'],
    labels,
  });
}

/**
 * Store a release of a new model whose signed document carries `featureSpec` (the rest of the
 * envelope is a stand-in: ingest and rollups read only the spec), or whose envelope is the given
 * text. Returns the release id.
 */
export async function seedRelease(
  db: Database,
  featureSpec: FeatureSpec | { readonly envelope: string },
): Promise<string> {
  const model = `m-${randomBytes(4).toString('hex')}`;
  const sha256 = createHash('sha256').update(model).digest('hex');
  await recordArtifact(db, { sha256, length: 1, mediaType: 'application/onnx' });
  await createModelVersion(db, {
    modelName: model,
    version: '1',
    artifactSha256: sha256,
    inspection: { opset: 17, inputs: [] },
    metadata: {},
  });
  const release = await createRelease(db, {
    modelName: model,
    modelVersion: '1',
    build: (counter) => ({
      releaseId: `${model}-r${counter}`,
      envelope: JSON.stringify({
        signed: { releaseCounter: counter, featureSpec },
        signatures: [],
      }),
      sha256,
      expiresAt: new Date(Date.now() + 3_600_000),
    }),
  });
  return release.releaseId;
}

/** A numeric feature sketch of these values. */
export function numericSketch(values: Iterable<number>, random?: RandomSource): FeatureSketch {
  const s = emptyFeatureSketch('numeric', { random });
  if (s.kind !== 'numeric') throw new Error('unreachable');
  for (const x of values) {
    s.summary.update(x);
    s.kll.update(x);
  }
  return s;
}

/** A categorical feature sketch of these labels. */
export function categoricalSketch(labels: Iterable<string>): FeatureSketch {
  const s = emptyFeatureSketch('categorical');
  if (s.kind !== 'categorical') throw new Error('unreachable');
  for (const l of labels) s.items.update(l);
  return s;
}

/** A profile with one numeric feature per entry (and categorical ones for string arrays). */
export function profileOf(
  features: Record<string, readonly number[] | readonly string[]>,
  random?: RandomSource,
  window?: { start: string; end: string },
): Profile {
  return new Profile(
    Object.entries(features).map(([name, values]) => [
      name,
      typeof values[0] === 'string'
        ? categoricalSketch(values as readonly string[])
        : numericSketch(values as readonly number[], random),
    ]),
    window,
  );
}

export function latencySketch(values: Iterable<number>): DDSketch {
  const s = new DDSketch();
  for (const v of values) s.update(v);
  return s;
}

export interface TelemetryInput {
  readonly deviceId: string;
  readonly seq: number;
  /** Window start (epoch ms) and length (default 60 s). */
  readonly start: number;
  readonly durationMs?: number;
  readonly releaseId?: string | null;
  readonly requests?: number;
  readonly errors?: number;
  readonly latencies?: readonly number[];
  readonly profile?: Profile | null;
  readonly executionProvider?: string | null;
  readonly droppedWindows?: number;
  readonly late?: boolean;
}

export function telemetryMessage(i: TelemetryInput): TelemetryMessage {
  const duration = i.durationMs ?? 60_000;
  const latencies = i.latencies ?? [];
  return {
    v: 1,
    type: 'telemetry',
    deviceId: i.deviceId,
    seq: i.seq,
    window: {
      start: new Date(i.start).toISOString(),
      end: new Date(i.start + duration).toISOString(),
    },
    releaseId: i.releaseId === undefined ? 'rel-1' : i.releaseId,
    executionProvider: i.executionProvider === undefined ? 'cpu' : i.executionProvider,
    requests: i.requests ?? latencies.length,
    errors: i.errors ?? 0,
    latencyMs: latencies.length === 0 ? null : latencySketch(latencies).toJSON(),
    profile: i.profile === undefined || i.profile === null ? null : encodeProfile(i.profile),
    droppedWindows: i.droppedWindows ?? 0,
    late: i.late ?? false,
  };
}

/** The bytes a device would publish on its telemetry topic. */
export function telemetryBytes(i: TelemetryInput): Uint8Array {
  return encodeMessage('telemetry', telemetryMessage(i));
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Timers the test fires by hand (no sleeping). */
export class ManualTimers {
  private next = 1;
  private readonly pending = new Map<number, { fn: () => void; ms: number }>();

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.next++;
    this.pending.set(id, { fn, ms });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.pending.delete(handle as number);
  };

  /** Delays of the armed timers. */
  get armed(): number[] {
    return [...this.pending.values()].map((p) => p.ms);
  }

  /** Fire every armed timer. */
  fireAll(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const p of due) p.fn();
  }
}

/**
 * A test database for a `describe` block (opened before its tests, closed after them) and a factory
 * of ingests on it with a fixed clock, manual timers and seeded randomness (`defaults`, then each
 * call's options, override these); every ingest made is closed with the database.
 */
export function useIngestDatabase(
  backend: 'pglite' | 'postgres',
  now: number,
  defaults: Partial<TelemetryIngestOptions> = {},
): {
  db: () => Database;
  newIngest: (options?: Partial<TelemetryIngestOptions>) => TelemetryIngest;
} {
  let store: TestDatabase | undefined;
  const ingests: TelemetryIngest[] = [];
  const db = (): Database => {
    if (store === undefined) throw new Error('the test database opens in beforeAll');
    return store.db;
  };
  beforeAll(async () => {
    store = await openTestDatabase(backend);
  });
  afterAll(async () => {
    for (const i of ingests) await i.close();
    await store?.close();
  });
  return {
    db,
    newIngest(options = {}) {
      const ingest = new TelemetryIngest({
        db: db(),
        now: () => new Date(now),
        timers: new ManualTimers(),
        random: createRandom(1),
        ...defaults,
        ...options,
      });
      ingests.push(ingest);
      return ingest;
    },
  };
}
