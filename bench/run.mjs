// Entry of `npm run bench` (arguments pass through: `npm run bench -- --help`).
// Runs the TypeScript suite under tsx as the leader of its own process group, so that every process
// it starts (servers, load generators, the build) is stopped with it, even if it dies abruptly.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
// A last resort: the suite is meant to finish well within 10 minutes.
const WATCHDOG_MS = 20 * 60 * 1000

const suite = spawn(process.execPath, ['--import', 'tsx', 'bench/main.ts', ...process.argv.slice(2)], {
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
