// The one test command (`npm test`): first a Chromium for the end-to-end suite (found, or
// installed where it may be), then typecheck, lint, unit + integration tests, build, and the
// end-to-end suite in real Chromium (and in Electron too where its runtime is installed).
// `node scripts/test.mjs --preflight` checks for Chromium only.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { ensureChromium } from './chromium.mjs'

const e2e = existsSync('playwright.config.ts')
if (e2e || process.argv.includes('--preflight')) {
  const chromium = ensureChromium()
  if (!chromium) process.exit(1)
  // The end-to-end suite launches this one (e2e/support/browser.ts).
  process.env.CHROMIUM_PATH = chromium
  if (process.argv.includes('--preflight')) {
    console.log(`Chromium: ${chromium}`)
    process.exit(0)
  }
}

const steps = [
  ['typecheck', 'npm', ['run', '--silent', 'typecheck']],
  ['lint', 'npm', ['run', '--silent', 'lint']],
  ['unit and integration tests', 'npx', ['vitest', 'run']],
  ['build', 'npx', ['electron-vite', 'build']],
  ['electron security audit', 'node', ['scripts/electronegativity.mjs']]
]
if (e2e) steps.push(['end-to-end tests', 'npx', ['playwright', 'test']])

/**
 * Runs a step in its own process group and, once it has exited, ends whatever it left in that
 * group (a browser host or a server of a failed test), so that no run leaves a process behind.
 */
function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit', detached: true })
    const forward = (signal) => child.pid && process.kill(-child.pid, signal)
    process.on('SIGINT', forward)
    process.on('SIGTERM', forward)
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward)
      process.off('SIGTERM', forward)
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // the group is empty
      }
      resolve({ status: code, signal })
    })
  })
}

for (const [title, cmd, args] of steps) {
  console.log(`\n=== ${title} ===`)
  const started = Date.now()
  const r = await run(cmd, args)
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  if (r.status !== 0) {
    console.error(`\n${title} failed (exit ${r.status ?? r.signal}) after ${seconds} s`)
    process.exit(r.status || 1)
  }
  console.log(`=== ${title}: ok in ${seconds} s ===`)
}
