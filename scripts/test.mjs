// The one test command (`npm test`): typecheck, lint, unit + integration tests, build, then the
// end-to-end suite in real Chromium (and in Electron too where its runtime is installed).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const steps = [
  ['typecheck', 'npm', ['run', '--silent', 'typecheck']],
  ['lint', 'npm', ['run', '--silent', 'lint']],
  ['unit and integration tests', 'npx', ['vitest', 'run']],
  ['build', 'npx', ['electron-vite', 'build']],
  ['electron security audit', 'node', ['scripts/electronegativity.mjs']]
]
if (existsSync('playwright.config.ts')) steps.push(['end-to-end tests', 'npx', ['playwright', 'test']])

for (const [title, cmd, args] of steps) {
  console.log(`\n=== ${title} ===`)
  const started = Date.now()
  const r = spawnSync(cmd, args, { stdio: 'inherit' })
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  if (r.status !== 0) {
    console.error(`\n${title} failed (exit ${r.status ?? r.signal}) after ${seconds} s`)
    process.exit(r.status || 1)
  }
  console.log(`=== ${title}: ok in ${seconds} s ===`)
}
