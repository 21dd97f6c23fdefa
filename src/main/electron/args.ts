/**
 * The desktop app's own command-line switches, read from the whole argv: Electron and Chromium put
 * their own switches (and, unpackaged, the app path) in the same list, so unknown entries are
 * skipped rather than refused.
 *
 *   --kiosk          full screen on the kiosk view
 *   --server URL     use this channel server instead of starting the embedded one
 *   --route ROUTE    open the window on this view (e.g. /device, /console)
 *   --strict-kt      the speaker behaves as a real GiGA Genie (see Settings.strictKt)
 */
export interface MainArgs {
  kiosk: boolean
  strictKt: boolean
  serverUrl?: string
  route?: string
}

/** A view path of the renderer's hash router: a slash and a lower-case name, nothing that could escape the hash. */
const ROUTE = /^\/([a-z][a-z0-9-]*)?$/

/** Reads `--name value` or `--name=value` (the last one wins); a value never starts with a dash. */
function valueOf(argv: readonly string[], name: string): string | undefined {
  let found: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === `--${name}`) {
      const next = argv[i + 1]
      if (next === undefined || next.startsWith('-')) throw new Error(`--${name} needs a value`)
      found = next
      i++
    } else if (arg.startsWith(`--${name}=`)) {
      found = arg.slice(name.length + 3)
    }
  }
  return found
}

/** Throws with a message a person can act on when a switch has a value the app cannot use. */
export function parseMainArgs(argv: readonly string[]): MainArgs {
  const end = argv.indexOf('--')
  const args = end === -1 ? argv : argv.slice(0, end)
  const out: MainArgs = { kiosk: args.includes('--kiosk'), strictKt: args.includes('--strict-kt') }
  const server = valueOf(args, 'server')
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
  const route = valueOf(args, 'route')
  if (route !== undefined) {
    if (!ROUTE.test(route))
      throw new Error(`--route must be a view such as /device or /console, got "${route}"`)
    out.route = route
  }
  return out
}
