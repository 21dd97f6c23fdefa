/**
 * The desktop app's own command-line switches, read from the whole argv: Electron and Chromium put
 * their own switches (and, unpackaged, the app path) in the same list, so unknown entries are
 * skipped rather than refused.
 *
 *   --kiosk          full screen on the kiosk view
 *   --server URL     use this channel server instead of starting the embedded one
 *   --route ROUTE    open the window on this view (e.g. /device, /console)
 *   --strict-kt      the speaker behaves as a real GiGA Genie (see Settings.strictKt)
 *   --log-level L    how much the main-process log (<userData>/logs/main.log) records
 */
import { parseArgs } from 'node:util'
import { LOG_LEVELS, type LogLevel, isLogLevel } from '../log'

export interface MainArgs {
  kiosk: boolean
  strictKt: boolean
  serverUrl?: string
  route?: string
  logLevel?: LogLevel
}

/** A view path of the renderer's hash router: a slash and a lower-case name, nothing that could escape the hash. */
const ROUTE = /^\/([a-z][a-z0-9-]*)?$/

/**
 * node:util's parseArgs, not strict: Electron's and Chromium's switches pass through as unknown
 * options. Values are kept as lists so that the last one wins and a missing one can be told.
 */
const OPTIONS = {
  kiosk: { type: 'boolean' },
  'strict-kt': { type: 'boolean' },
  server: { type: 'string', multiple: true },
  route: { type: 'string', multiple: true },
  'log-level': { type: 'string', multiple: true }
} as const

/** The last value of a switch; a value never starts with a dash (that is the next switch). */
function valueOf(values: readonly (string | boolean)[] | undefined, name: string): string | undefined {
  const found = values?.at(-1)
  if (found === undefined) return undefined
  // Not strict, parseArgs stores a switch with no value as `true` and takes a following switch as one.
  if (typeof found !== 'string' || found.startsWith('-')) throw new Error(`--${name} needs a value`)
  return found
}

/** Throws with a message a person can act on when a switch has a value the app cannot use. */
export function parseMainArgs(argv: readonly string[]): MainArgs {
  // Everything after `--` is positional to parseArgs, as it should be.
  const { values } = parseArgs({ args: [...argv], options: OPTIONS, strict: false, allowPositionals: true })
  const out: MainArgs = { kiosk: values['kiosk'] === true, strictKt: values['strict-kt'] === true }
  const server = valueOf(values['server'] as (string | boolean)[] | undefined, 'server')
  if (server !== undefined) {
    let ok = false
    try {
      const url = new URL(server)
      ok = (url.protocol === 'ws:' || url.protocol === 'wss:') && url.hostname !== ''
    } catch {
      ok = false
    }
    if (!ok) throw new Error(`--server must be a ws:// or wss:// URL, got "${server}"`)
    out.serverUrl = server
  }
  const route = valueOf(values['route'] as (string | boolean)[] | undefined, 'route')
  if (route !== undefined) {
    if (!ROUTE.test(route))
      throw new Error(`--route must be a view such as /device or /console, got "${route}"`)
    out.route = route
  }
  const logLevel = valueOf(values['log-level'] as (string | boolean)[] | undefined, 'log-level')
  if (logLevel !== undefined) {
    if (!isLogLevel(logLevel))
      throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`)
    out.logLevel = logLevel
  }
  return out
}
