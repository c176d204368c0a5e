import { defineConfig } from 'vitest/config';

// The UI benchmark (bench/web_bench.sh): e2e/*.measure.ts, one at a time, output shown.
export default defineConfig({
  test: {
    include: ['e2e/**/*.measure.ts'],
    environment: 'node',
    testTimeout: 300_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
