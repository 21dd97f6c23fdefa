/**
 * Browser host entry: `npm run host -- [--port 0] [--host 127.0.0.1] [--server ws://…] [--data-dir DIR]`.
 * Prints one line `Genie Bridge at http://127.0.0.1:PORT/?token=TOKEN`.
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { AppCore } from '../core/app-core'
import { BrowserHost } from '../host/browser-host'
import { lastArg, parseArgs, portArg } from './args'

export const DEFAULT_HOST_PORT = 8780

function defaultDataDir(): string {
  const base = process.env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config')
  return join(base, 'genie-bridge')
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (args.has('help')) {
    console.log(
      'usage: npm run host -- [--port 8780] [--host 127.0.0.1] [--server ws://host:port/channel] [--operator-token TOKEN] [--data-dir DIR]'
    )
    return
  }
  const rendererDir = resolve(lastArg(args, 'renderer') ?? 'out/renderer')
  if (!existsSync(join(rendererDir, 'index.html'))) {
    throw new Error(
      `the renderer is not built (${rendererDir}/index.html is missing): run \`npm run build\` first`
    )
  }
  const serverUrl = lastArg(args, 'server')
  // The --server's operator token (presence); the embedded server makes its own.
  const operatorToken = lastArg(args, 'operator-token')
  const core = await AppCore.start({
    host: 'browser',
    version: process.env['npm_package_version'] ?? '0.0.0',
    ...(serverUrl ? { embeddedServer: false as const, serverUrl } : {}),
    ...(operatorToken ? { operatorToken } : {}),
    dataDir: lastArg(args, 'data-dir') ?? defaultDataDir()
  })
  const host = new BrowserHost({
    core,
    rendererDir,
    host: lastArg(args, 'host') ?? '127.0.0.1',
    port: portArg(args, 'port', DEFAULT_HOST_PORT)
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
