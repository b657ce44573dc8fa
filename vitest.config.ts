import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@gradcache/source'] },
  ssr: { resolve: { conditions: ['@gradcache/source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/src/**/*.test.ts'],
    pool: 'forks',
    setupFiles: ['./packages/testing/src/console-guard.ts', './packages/testing/src/seeded-random.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
