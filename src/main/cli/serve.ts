/**
 * Headless channel server: `npm run serve -- --host 127.0.0.1 --port 8787 [--limit name=value]`.
 * Prints one line `channel server listening on ws://HOST:PORT/channel`; Ctrl-C stops it cleanly.
 */
import { ChannelServer } from '../channel/server'
import { DEFAULT_LIMITS, type ServerLimits } from '../channel/limits'
import { lastArg, parseArgs, portArg } from './args'

export const DEFAULT_SERVE_PORT = 8787

function limitOverrides(values: string[]): Partial<ServerLimits> {
  const out: Partial<ServerLimits> = {}
  for (const pair of values) {
    const [name, raw] = pair.split('=')
    if (!name || raw === undefined || !(name in DEFAULT_LIMITS)) {
      throw new Error(`--limit takes name=value with name one of: ${Object.keys(DEFAULT_LIMITS).join(', ')}`)
    }
    out[name as keyof ServerLimits] = Number(raw)
  }
  return out
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (args.has('help')) {
    console.log('usage: npm run serve -- [--host 127.0.0.1] [--port 8787] [--limit name=value ...]')
    return
  }
  const server = new ChannelServer({
    host: lastArg(args, 'host') ?? '127.0.0.1',
    port: portArg(args, 'port', DEFAULT_SERVE_PORT),
    limits: limitOverrides(args.get('limit') ?? [])
  })
  const url = await server.listen()
  console.log(`channel server listening on ${url}`)
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    void server.close().then(() => process.exit(0))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((e: unknown) => {
  console.error(`channel server could not start: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
