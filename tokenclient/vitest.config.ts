import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    // Every test uses fake timers where time matters; none sleeps for real.
    testTimeout: 10_000,
  },
});
