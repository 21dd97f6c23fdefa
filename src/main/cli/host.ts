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
import { createLogger } from '../log'
import { HOST_USAGE, parseHostArgs } from './host-options'

function defaultDataDir(): string {
  const base = process.env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config')
  return join(base, 'genie-bridge')
}

async function main(): Promise<void> {
  const config = parseHostArgs(process.argv.slice(2))
  if (config.help) {
    console.log(HOST_USAGE)
    return
  }
  const log = createLogger({
    level: config.logLevel,
    destination: pino.destination({ dest: 2, sync: false })
  })
  const rendererDir = resolve(config.rendererDir)
  if (!existsSync(join(rendererDir, 'index.html'))) {
    throw new Error(
      `the renderer is not built (${rendererDir}/index.html is missing): run \`npm run build\` first`
    )
  }
  const serverUrl = config.serverUrl
  const core = await AppCore.start({
    host: 'browser',
    version: process.env['npm_package_version'] ?? '0.0.0',
    embeddedServer: serverUrl
      ? false
      : { logger: log.child({ component: 'channel-server' }), limits: config.serverLimits },
    strictKt: config.strictKt,
    // The --server's operator token (presence); the embedded server makes its own.
    ...(config.operatorToken !== null ? { operatorToken: config.operatorToken } : {}),
    ...(serverUrl ? { serverUrl } : {}),
    dataDir: config.dataDir ?? defaultDataDir()
  })
  const host = new BrowserHost({
    core,
    rendererDir,
    host: config.host,
    port: config.port,
    limits: config.hostLimits
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
