/**
 * The browser host's command line (`npm run host -- …`), read into what host.ts starts. Kept apart
 * from the entry, which starts the host when imported, so that it can be tested on its own.
 */
import { DEFAULT_LIMITS, type ServerLimits, limitProblem } from '../channel/limits'
import { HOST_LIMITS, type HostLimits } from '../host/browser-host'
import { LOG_LEVELS, type LogLevel } from '../log'
import { type LimitFamily, last, limitArgs, logLevelArg, parseCommandLine, portArg } from './args'
import { limitOverrides } from './serve-options'

export const DEFAULT_HOST_PORT = 8780
/** The host is a person's own app: its embedded server reports faults only, unless asked for more. */
export const DEFAULT_HOST_LOG_LEVEL: LogLevel = 'warn'
export const DEFAULT_RENDERER_DIR = 'out/renderer'

export const HOST_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  port: { type: 'string', multiple: true },
  host: { type: 'string', multiple: true },
  server: { type: 'string', multiple: true },
  'data-dir': { type: 'string', multiple: true },
  renderer: { type: 'string', multiple: true },
  'strict-kt': { type: 'boolean' },
  'operator-token': { type: 'string', multiple: true },
  limit: { type: 'string', multiple: true },
  'host-limit': { type: 'string', multiple: true },
  'log-level': { type: 'string', multiple: true }
} as const

/**
 * The browser host's own limits, as `--host-limit` sets them: each at least 1, as a 0 would refuse
 * every message, page or command (or cut every page off at its first queued message).
 */
export const HOST_LIMIT_FAMILY: LimitFamily<HostLimits> = {
  defaults: HOST_LIMITS,
  problem: (name, value) => limitProblem(name, value, 1)
}

export const HOST_USAGE = `usage: npm run host -- [options]
  --port N               port of the page (default ${DEFAULT_HOST_PORT}; 0 picks a free one)
  --host ADDRESS         interface to bind (default 127.0.0.1)
  --server URL           use this channel server (ws://host:port/channel) instead of the embedded one
  --operator-token TOKEN the --server's operator token (presence); the embedded server makes its own
  --data-dir DIR         settings and history (default $XDG_CONFIG_HOME/genie-bridge, else ~/.config/genie-bridge)
  --renderer DIR         the built renderer (default ${DEFAULT_RENDERER_DIR})
  --strict-kt            the speaker behaves as a real GiGA Genie
  --limit NAME=VALUE     override a limit of the embedded server (repeatable): ${Object.keys(DEFAULT_LIMITS).join(', ')}
  --host-limit NAME=VALUE
                         override a limit of the browser host itself (repeatable): ${Object.keys(HOST_LIMITS).join(', ')}
  --log-level LEVEL      JSON log lines on stderr from this level up: ${LOG_LEVELS.join(', ')}
                         (default ${DEFAULT_HOST_LOG_LEVEL}: the embedded server's faults)
  -h, --help             this text`

export interface HostConfig {
  help: boolean
  logLevel: LogLevel
  host: string
  port: number
  /** Another channel server to use, or null: the embedded one. */
  serverUrl: string | null
  /** The --server's operator token, or null. */
  operatorToken: string | null
  /** Null: the default folder (host.ts). */
  dataDir: string | null
  rendererDir: string
  strictKt: boolean
  /** `--limit`: the embedded server's limits. */
  serverLimits: Partial<ServerLimits>
  /** `--host-limit`: the browser host's own (HOST_LIMITS). */
  hostLimits: Partial<HostLimits>
}

/** Reads the host's command line; throws an Error saying what to fix, before anything starts. */
export function parseHostArgs(argv: readonly string[]): HostConfig {
  const v = parseCommandLine(argv, HOST_OPTIONS)
  const config: HostConfig = {
    help: v.help === true,
    logLevel: DEFAULT_HOST_LOG_LEVEL,
    host: last(v.host) ?? '127.0.0.1',
    port: DEFAULT_HOST_PORT,
    serverUrl: last(v.server) ?? null,
    operatorToken: last(v['operator-token']) || null,
    dataDir: last(v['data-dir']) ?? null,
    rendererDir: last(v.renderer) ?? DEFAULT_RENDERER_DIR,
    strictKt: v['strict-kt'] === true,
    serverLimits: {},
    hostLimits: {}
  }
  if (config.help) return config
  return {
    ...config,
    logLevel: logLevelArg(last(v['log-level']) ?? DEFAULT_HOST_LOG_LEVEL),
    port: portArg('port', last(v.port), DEFAULT_HOST_PORT),
    serverLimits: limitOverrides(v.limit ?? []),
    hostLimits: limitArgs('host-limit', v['host-limit'] ?? [], HOST_LIMIT_FAMILY)
  }
}
