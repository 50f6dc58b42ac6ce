/**
 * Faults on demand for scenarios: a hardware class whose accelerator computes wrong outputs for one
 * model (a broken kernel, a bad driver). `for(hardwareClass)` returns the runtime that class's agents
 * use; `corrupt(hardwareClass, sha256)` makes every model file with that content, loaded on that
 * class from then on, add `offset` to its float outputs, so the release's health check (outputs
 * compared with what the control plane computed) fails there and nowhere else.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { LoadedModel, LoadOptions, ModelRuntime, TensorData } from '@edgefleet/agent';

export class FaultInjection {
  private readonly faults = new Map<string, Set<string>>();
  private readonly perClass = new Map<string, ModelRuntime>();

  constructor(
    private readonly inner: ModelRuntime,
    private readonly offset = 1,
  ) {}

  /** Make `sha256` (a model file's content hash) compute wrong outputs on `hardwareClass`. */
  corrupt(hardwareClass: string, sha256: string): void {
    let set = this.faults.get(hardwareClass);
    if (!set) this.faults.set(hardwareClass, (set = new Set()));
    set.add(sha256);
  }

  /** Remove every fault. */
  clear(): void {
    this.faults.clear();
  }

  /** The runtime agents of `hardwareClass` load their models with. */
  for(hardwareClass: string): ModelRuntime {
    let runtime = this.perClass.get(hardwareClass);
    if (!runtime) {
      runtime = this.classRuntime(hardwareClass);
      this.perClass.set(hardwareClass, runtime);
    }
    return runtime;
  }

  private classRuntime(hardwareClass: string): ModelRuntime {
    const load = async (modelPath: string, options: LoadOptions): Promise<LoadedModel> => {
      const faults = this.faults.get(hardwareClass);
      const loaded = await this.inner.load(modelPath, options);
      if (faults === undefined || faults.size === 0) return loaded;
      const sha = createHash('sha256')
        .update(await readFile(modelPath))
        .digest('hex');
      if (!faults.has(sha)) return loaded;
      const offset = this.offset;
      return {
        ...loaded,
        run: async function corruptedRun(feeds, runOptions) {
          const out = await loaded.run(feeds, runOptions);
          return Object.fromEntries(
            Object.entries(out).map(([name, t]) => [name, shifted(t, offset)]),
          );
        },
        dispose: () => loaded.dispose(),
      };
    };
    // Closing is the owner's business: the inner runtime is closed by whoever made it.
    return { load, close: () => Promise.resolve() };
  }
}

function shifted(t: TensorData, offset: number): TensorData {
  if (t.type !== 'float32' && t.type !== 'float64') return t;
  const data = t.type === 'float32' ? Float32Array.from(t.data) : Float64Array.from(t.data);
  for (let i = 0; i < data.length; i++) data[i] = data[i]! + offset;
  return { ...t, data } as TensorData;
}
