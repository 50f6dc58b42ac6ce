/**
 * The models the agent holds: the one serving, and while a new release soaks, the one it replaced
 * (kept loaded, so a rollback is a pointer swap and not a reload). Each carries the profiler of
 * its release's feature spec, which telemetry rolls over window by window.
 */
import { join } from 'node:path';
import { Profiler, type ReleaseDocument } from '@edgefleet/protocol';
import type { Logger } from 'pino';
import type { ActiveModel } from '../api/local-api.js';
import type { LoadOptions, ModelRuntime } from '../runtime/model-runtime.js';
import type { SlotName } from '../store/slots.js';

/** A loaded release. */
export interface ServingModel extends ActiveModel {
  readonly release: ReleaseDocument;
  readonly slot: SlotName;
  /** Null when the release's feature spec names nothing (or is invalid). */
  readonly profiler: Profiler | null;
}

export class ModelHost {
  private activeModel: ServingModel | undefined;
  private previousModel: ServingModel | undefined;

  constructor(
    private readonly runtime: ModelRuntime,
    private readonly loadOptions: LoadOptions,
    private readonly logger: Logger,
  ) {}

  /** The model serving inference. */
  get active(): ServingModel | undefined {
    return this.activeModel;
  }

  /** The model kept loaded to go back to while the active one soaks. */
  get previous(): ServingModel | undefined {
    return this.previousModel;
  }

  /** The loaded model of `releaseId` (active or previous). */
  byRelease(releaseId: string): ServingModel | undefined {
    if (this.activeModel?.releaseId === releaseId) return this.activeModel;
    if (this.previousModel?.releaseId === releaseId) return this.previousModel;
    return undefined;
  }

  /** Load a release's model from its slot directory. Rejects with EF_LOAD_FAILED. */
  async load(release: ReleaseDocument, dir: string, slot: SlotName): Promise<ServingModel> {
    const loaded = await this.runtime.load(join(dir, release.modelFile), this.loadOptions);
    return {
      releaseId: release.releaseId,
      model: { name: release.model.name, version: release.model.version },
      loaded,
      release,
      slot,
      profiler: createProfiler(release, this.logger),
    };
  }

  /** Serve `model` (after a restart); whatever served before is disposed. */
  async setActive(model: ServingModel | undefined, previous?: ServingModel): Promise<void> {
    const old = [this.activeModel, this.previousModel];
    this.activeModel = model;
    this.previousModel = previous;
    for (const m of old) if (m !== undefined && m !== model && m !== previous) await dispose(m);
  }

  /** Serve `next`; the model it replaces stays loaded as `previous` until `commit` or `revert`. */
  async switchTo(next: ServingModel): Promise<void> {
    if (this.previousModel !== undefined) await dispose(this.previousModel);
    this.previousModel = this.activeModel;
    this.activeModel = next;
  }

  /** The new model passed its soak: release the previous one. */
  async commit(): Promise<void> {
    const previous = this.previousModel;
    this.previousModel = undefined;
    if (previous !== undefined) await dispose(previous);
  }

  /** Go back to the previous model (possibly none); the active one is released. */
  async revert(): Promise<void> {
    const failed = this.activeModel;
    this.activeModel = this.previousModel;
    this.previousModel = undefined;
    if (failed !== undefined) await dispose(failed);
  }

  async disposeAll(): Promise<void> {
    await this.setActive(undefined);
  }
}

async function dispose(model: ServingModel): Promise<void> {
  try {
    await model.loaded.dispose();
  } catch {
    // Disposing is best effort: the session is gone either way.
  }
}

function createProfiler(release: ReleaseDocument, logger: Logger): Profiler | null {
  const spec = release.featureSpec;
  if (spec.inputs.length === 0 && spec.outputs.length === 0) return null;
  const profiler = Profiler.create(spec);
  if (profiler.ok) return profiler.value;
  logger.warn(
    { releaseId: release.releaseId, err: profiler.message },
    'the release feature spec is invalid; no profiles will be reported',
  );
  return null;
}
