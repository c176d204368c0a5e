import { defineConfig } from 'vitest/config';

// Browser tests: the built UI served by a real `tickgraph serve` (TICKGRAPH_BIN), driven in
// Debian's Chromium by playwright-core. One file at a time: each starts its own server.
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
