import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources of each workspace package, not its dist/.
    alias: {
      '@edgefleet/protocol': src('protocol'),
      '@edgefleet/control-plane': src('control-plane'),
      '@edgefleet/agent': src('agent'),
      '@edgefleet/fleet-sim': src('fleet-sim'),
    },
  },
  test: {
    include: ['{protocol,control-plane,agent,fleet-sim}/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
