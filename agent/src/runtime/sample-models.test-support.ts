/**
 * Test support: the protocol's sample ONNX models, and a temporary directory to write them to
 * (the runtimes load model files, as the agent does from its slots).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyLinear,
  failingModel,
  identityModel,
  linearClassifier,
  linearParameters,
  slowModel,
} from '@edgefleet/protocol';

/** The sample model factories the runtime and API tests use. */
export const sampleModels = {
  applyLinear,
  failingModel,
  identityModel,
  linearClassifier,
  linearParameters,
  slowModel,
};

/** A temporary directory of model files; `cleanup()` removes it. */
export interface ModelDir {
  readonly dir: string;
  write(name: string, bytes: Uint8Array): Promise<string>;
  cleanup(): Promise<void>;
}

export async function modelDir(): Promise<ModelDir> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-models-'));
  return {
    dir,
    async write(name, bytes) {
      const path = join(dir, name);
      await writeFile(path, bytes);
      return path;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
