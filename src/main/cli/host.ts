/**
 * Browser host entry: `npm run host -- [--port 0] [--host 127.0.0.1] [--server ws://…] [--data-dir DIR]`.
 * Prints one line `Genie Bridge at http://127.0.0.1:PORT/?token=TOKEN`.
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import pino from 'pino'
import { AppCore } from '../core/app-core'
import { BrowserHost } from '../host/browser-host'
import { LOG_LEVELS, type LogLevel, createLogger, isLogLevel } from '../log'
import { last, parseCommandLine, portArg } from './args'
import { limitOverrides } from './serve-options'

export const DEFAULT_HOST_PORT = 8780

function defaultDataDir(): string {
  const base = process.env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config')
  return join(base, 'genie-bridge')
}

const HOST_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  port: { type: 'string', multiple: true },
  host: { type: 'string', multiple: true },
  server: { type: 'string', multiple: true },
  'data-dir': { type: 'string', multiple: true },
  renderer: { type: 'string', multiple: true },
  'strict-kt': { type: 'boolean' },
  'operator-token': { type: 'string', multiple: true },
  limit: { type: 'string', multiple: true },
  'log-level': { type: 'string', multiple: true }
} as const

/** The host is a person's own app: its embedded server reports faults only, unless asked for more. */
export const DEFAULT_HOST_LOG_LEVEL: LogLevel = 'warn'

async function main(): Promise<void> {
  const args = parseCommandLine(process.argv.slice(2), HOST_OPTIONS)
  if (args.help) {
    console.log(
      'usage: npm run host -- [--port 8780] [--host 127.0.0.1] [--server ws://host:port/channel] [--operator-token TOKEN] [--data-dir DIR]\n' +
        `                        [--log-level ${LOG_LEVELS.join('|')}] (JSON lines on stderr; default ${DEFAULT_HOST_LOG_LEVEL})\n` +
        '                        [--strict-kt] (the speaker behaves as a real GiGA Genie) [--limit NAME=VALUE] (embedded server limits)'
    )
    return
  }
  const level = last(args['log-level']) ?? DEFAULT_HOST_LOG_LEVEL
  if (!isLogLevel(level))
    throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`)
  const log = createLogger({ level, destination: pino.destination({ dest: 2, sync: false }) })
  const rendererDir = resolve(last(args.renderer) ?? 'out/renderer')
  if (!existsSync(join(rendererDir, 'index.html'))) {
    throw new Error(
      `the renderer is not built (${rendererDir}/index.html is missing): run \`npm run build\` first`
    )
  }
  const serverUrl = last(args.server)
  const core = await AppCore.start({
    host: 'browser',
    version: process.env['npm_package_version'] ?? '0.0.0',
    embeddedServer: serverUrl
      ? false
      : { logger: log.child({ component: 'channel-server' }), limits: limitOverrides(args.limit ?? []) },
    strictKt: args['strict-kt'] === true,
    // The --server's operator token (presence); the embedded server makes its own.
    ...(last(args['operator-token']) ? { operatorToken: last(args['operator-token']) as string } : {}),
    ...(serverUrl ? { serverUrl } : {}),
    dataDir: last(args['data-dir']) ?? defaultDataDir()
  })
  const host = new BrowserHost({
    core,
    rendererDir,
    host: last(args.host) ?? '127.0.0.1',
    port: portArg('port', last(args.port), DEFAULT_HOST_PORT)
  })
  console.log(`Genie Bridge at ${await host.start()}`)
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    void host
      .stop()
      .then(() => core.stop())
      .then(() => process.exit(0))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((e: unknown) => {
  console.error(`Genie Bridge could not start: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
