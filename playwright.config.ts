import { defineConfig } from '@playwright/test'
// @ts-expect-error: a plain .mjs script without type declarations
import { electronRuntimePath } from './scripts/electron-runtime.mjs'

const electron = (electronRuntimePath as () => string | null)()

// Two cores here: one test at a time, each with its own browsers and host. No retries: a flaky
// test is a defect to fix, not to hide.
// The suite runs in Debian's Chromium always, and also in the desktop app itself where the
// Electron runtime is installed (`--project=chromium` or `--project=electron` picks one; the
// electron project needs a display, e.g. `xvfb-run npx playwright test --project=electron`).
export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.e2e.ts',
  workers: 1,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  outputDir: 'test-results',
  use: { actionTimeout: 15_000 },
  projects: [
    { name: 'chromium' },
    ...(electron ? [{ name: 'electron', metadata: { electronPath: electron } }] : [])
  ]
})
