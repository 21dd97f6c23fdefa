/**
 * Headless channel server: `npm run serve -- --host 127.0.0.1 --port 8787 [options]`, built to
 * out/cli/serve.js (scripts/build-cli.mjs). Prints `channel server listening on ws://HOST:PORT/channel`
 * first, then who may connect; JSON logs go to stderr. SIGTERM or SIGINT stops it gracefully:
 * /readyz turns 503 at once, members are told their sessions end, sockets close, exit 0. With
 * --redis, a Redis not reached at start (startTimeoutMs), refusing the credentials or not
 * answering as Redis ends it with exit 1 and one line on stderr.
 */
import pino from 'pino'
import { MAX_TIMER_MS } from '../channel/limits'
import { ChannelMetrics } from '../channel/metrics'
import { RedisRegistry } from '../channel/redis/redis-registry'
import { ChannelServer } from '../channel/server'
import { type Logger, createLogger, errorText } from '../log'
import { REDIS_ENV, SERVE_USAGE, parseServeArgs } from './serve-options'

/** Past the server's own close timeout, a shutdown that still hangs ends the process anyway. */
export const SHUTDOWN_GRACE_MS = 5_000

async function main(): Promise<void> {
  const config = parseServeArgs(process.argv.slice(2), process.env)
  if (config.help) {
    console.log(SERVE_USAGE)
    return
  }
  const log = createLogger({
    level: config.logLevel,
    destination: pino.destination({ dest: 2, sync: false }),
    base: { component: 'channel-server' }
  })
  // With --redis, sessions live in Redis and are shared with the other processes on it.
  let redis: RedisRegistry | null = null
  const metrics = new ChannelMetrics()
  const redisUrl = config.redisUrl
  const server = new ChannelServer({
    ...config.server,
    logger: log,
    metrics,
    ...(redisUrl
      ? {
          registry: (ctx) =>
            (redis = new RedisRegistry(ctx, {
              ...config.redisLimits,
              url: redisUrl,
              logger: log.child({ component: 'redis' }),
              metrics: metrics.redis
            }))
        }
      : {})
  })
  if (redis !== null) {
    const store: RedisRegistry = redis
    // Nothing listens yet: the process ends (non-zero), and the line says what to fix.
    await store.start().catch((e: unknown) => {
      throw new Error(`${errorText(e)}; check --redis / $${REDIS_ENV}`)
    })
    server.addReadinessCheck(store.readinessCheck())
  }
  const url = await server.listen()
  console.log(`channel server listening on ${url}`)
  for (const line of server.accessNotice()) console.log(line)
  if (server.operatorToken)
    console.log('presence: operator connections list sessions with the operator token')
  handleSignals(server, log)
}

function handleSignals(server: ChannelServer, log: Logger): void {
  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    // A terminal's Ctrl-C reaches npm and the server both, and npm passes it on: once is enough.
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    // Capped: a longer delay would make Node fire it after 1 ms.
    const deadline = setTimeout(
      () => {
        log.error('shutdown did not finish in time; exiting')
        log.flush(() => process.exit(1))
      },
      Math.min(server.limits.closeTimeoutMs + SHUTDOWN_GRACE_MS, MAX_TIMER_MS)
    )
    deadline.unref()
    server.close().then(
      () => log.flush(() => process.exit(0)),
      (e: unknown) => {
        log.error({ fault: errorText(e) }, 'shutdown failed')
        log.flush(() => process.exit(1))
      }
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((e: unknown) => {
  console.error(`channel server could not start: ${errorText(e)}`)
  process.exit(1)
})
