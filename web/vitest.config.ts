import { defineConfig } from 'vitest/config';

// Unit and component tests: the data plumbing (stream reducer, series merge, graph layout,
// the add-node form) in jsdom. The browser tests have their own config (vitest.e2e.config.ts).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    environment: 'jsdom',
  },
});
