// Finds the Chromium the end-to-end suite runs in, and installs Debian's package where it may:
// `npm test` runs it first, so that a machine without Chromium learns so in seconds, not after
// the whole suite.
import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'

/** Names tried on PATH, in order, after CHROMIUM_PATH. */
export const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome']

/** The one line printed when no Chromium can be had. */
export const INSTALL_HINT =
  'Chromium not found: install it (Debian/Ubuntu: apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium or Chrome binary'

function onPath(name, env) {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return null
}

/** CHROMIUM_PATH when set (null if it names nothing), else the first of CHROMIUM_NAMES on PATH. */
export function findChromium(env = process.env) {
  if (env.CHROMIUM_PATH) return existsSync(env.CHROMIUM_PATH) ? env.CHROMIUM_PATH : null
  for (const name of CHROMIUM_NAMES) {
    const found = onPath(name, env)
    if (found) return found
  }
  return null
}

/**
 * The path of a Chromium, installing Debian's `chromium` when none is found and this is root
 * with apt-get; null (after printing INSTALL_HINT) when there is none to be had.
 */
export function ensureChromium({ env = process.env, log = console.log, error = console.error } = {}) {
  const found = findChromium(env)
  if (found) return found
  const aptGet = env.CHROMIUM_PATH ? null : onPath('apt-get', env)
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  if (aptGet && root) {
    log("Chromium not found: installing Debian's chromium package with apt-get")
    const opts = {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...env, DEBIAN_FRONTEND: 'noninteractive' }
    }
    spawnSync(aptGet, ['update', '-qq'], opts)
    const r = spawnSync(aptGet, ['install', '-y', '-qq', 'chromium'], opts)
    const installed = r.status === 0 ? findChromium(env) : null
    if (installed) {
      log(`Chromium installed: ${installed}`)
      return installed
    }
  }
  error(
    env.CHROMIUM_PATH ? `${INSTALL_HINT} (CHROMIUM_PATH=${env.CHROMIUM_PATH} does not exist)` : INSTALL_HINT
  )
  return null
}
