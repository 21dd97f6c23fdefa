import { defineConfig } from '@playwright/test'

// Two cores here: one test at a time, each with its own browsers and host. No retries: a flaky
// test is a defect to fix, not to hide.
export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.e2e.ts',
  workers: 1,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  outputDir: 'test-results',
  use: { actionTimeout: 15_000 }
})
