import { defineConfig } from 'vite';

// Workspace packages are read from source (their '@gradcache/source' export condition): no build
// step before `pnpm --filter @gradcache/example-browser dev`.
export default defineConfig({
  resolve: { conditions: ['@gradcache/source', 'module', 'browser', 'development|production'] },
  build: { target: 'es2022', chunkSizeWarningLimit: 4000 },
  optimizeDeps: { esbuildOptions: { target: 'es2022' } },
});
