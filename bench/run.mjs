// Entry of `npm run bench` (arguments pass through: `npm run bench -- --help`) and, with `--soak`,
// of `npm run soak` (bench/soak.ts, not part of the suite).
// Runs the TypeScript entry under tsx as the leader of its own process group, so that every process
// it starts (servers, load generators, the build) is stopped with it, even if it dies abruptly.
// (Chromium, which Playwright starts in a group of its own, exits when its control pipe closes.)
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const soak = args.includes('--soak')
const entry = soak ? 'bench/soak.ts' : 'bench/main.ts'
const minutesAt = args.indexOf('--minutes')
const soakMinutes = minutesAt >= 0 ? Number(args[minutesAt + 1]) : 10
// A last resort: the suite is meant to finish well within 10 minutes, the soak within a few
// minutes of its own length.
const WATCHDOG_MS = (soak ? (Number.isFinite(soakMinutes) ? soakMinutes : 10) + 15 : 20) * 60 * 1000

const suite = spawn(process.execPath, ['--import', 'tsx', entry, ...args.filter((a) => a !== '--soak')], {
  cwd: root,
  stdio: 'inherit',
  detached: true
})

function stopGroup() {
  try {
    process.kill(-suite.pid, 'SIGKILL')
  } catch {
    // the group is already empty
  }
}

const watchdog = setTimeout(() => {
  console.error(`bench: still running after ${WATCHDOG_MS / 60000} minutes; stopping everything`)
  stopGroup()
  process.exit(1)
}, WATCHDOG_MS)

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    stopGroup()
    process.exit(130)
  })
}

suite.on('exit', (code, signal) => {
  clearTimeout(watchdog)
  stopGroup()
  process.exit(code ?? (signal ? 1 : 0))
})
