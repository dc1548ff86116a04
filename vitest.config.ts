import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Docker e2e tests share one engine; keep files parallel but bounded to the 2-core machine.
    maxWorkers: 2,
  },
});
