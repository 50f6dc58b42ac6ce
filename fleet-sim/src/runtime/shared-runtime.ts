/**
 * One model session per distinct model file, shared by every simulated agent that installed it: agents
 * load from their own state directories, but files with the same content (sha256) map to one session,
 * counted by reference and disposed when the last agent lets go. Thousands of agents then cost one
 * onnxruntime session per model, as on a single device.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { LoadedModel, LoadOptions, ModelRuntime } from '@edgefleet/agent';

interface Entry {
  model: Promise<LoadedModel>;
  refs: number;
}

export class SharedRuntime implements ModelRuntime {
  private readonly sessions = new Map<string, Entry>();

  constructor(private readonly inner: ModelRuntime) {}

  /** Distinct sessions open now. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  async load(modelPath: string, options: LoadOptions): Promise<LoadedModel> {
    const key = `${createHash('sha256')
      .update(await readFile(modelPath))
      .digest('hex')}|${options.executionProviders.join(',')}`;
    let entry = this.sessions.get(key);
    if (!entry) {
      entry = { model: this.inner.load(modelPath, options), refs: 0 };
      this.sessions.set(key, entry);
      entry.model.catch(() => {
        this.sessions.delete(key);
      });
    }
    entry.refs++;
    const shared = await entry.model;
    let disposed = false;
    const release = async () => {
      if (disposed) return;
      disposed = true;
      const e = this.sessions.get(key);
      if (e && --e.refs === 0) {
        this.sessions.delete(key);
        await shared.dispose();
      }
    };
    return {
      inputs: shared.inputs,
      outputs: shared.outputs,
      executionProvider: shared.executionProvider,
      providerFallbacks: shared.providerFallbacks,
      run: (feeds, runOptions) => shared.run(feeds, runOptions),
      dispose: release,
    };
  }

  /** Dispose every shared session and close the inner runtime. */
  async close(): Promise<void> {
    const entries = [...this.sessions.values()];
    this.sessions.clear();
    for (const e of entries) {
      await e.model.then(
        (m) => m.dispose(),
        () => undefined,
      );
    }
    await this.inner.close();
  }
}
