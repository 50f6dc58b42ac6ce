/** Paths shared by the cross-part tests. */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_MODELS = resolve(REPO_ROOT, '..', 'shared', 'models');
export const SHARED_MODELS_AVAILABLE = existsSync(SHARED_MODELS);
export const SHARED_MODELS_SKIP = `skipped: ${SHARED_MODELS} not found (clone outside the workspace)`;
export const CLI = resolve(REPO_ROOT, 'control-plane', 'dist', 'cli', 'main.js');
