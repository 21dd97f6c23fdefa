/**
 * Load generator of the soak, run as its own process (the server runs in another): N device/web
 * pairs of the app's own ChannelClient, connected through a proxy that cuts single connections at
 * random, exchange numbered data frames both ways for a fixed time. With `ports` (the soak across
 * processes on Redis) the clients connect through a balancer in front of those server processes
 * instead, so that a client whose process was killed reconnects to another one. At the end every receiver must
 * have had every frame of its peer once and in order; the client's own reports of frames it gave up
 * on (`expired`, `missed`, `dropped`) are counted separately. Then every client is disposed.
 *
 * Input: one JSON argument (SoakLoadOptions). Output, on stdout: `ready {json}` once every pair is in
 * its session, `progress {json}` every `progressMs`, `disposed {json}` (SoakLoadResult) once the
 * clients are disposed; then it waits for a `close` line on stdin (the runner reads the server's
 * descriptors meanwhile). It stops by itself: the time is fixed and the process has a deadline.
 */
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { sleep } from '../lib/proc-stats'
import { TcpBalancer } from '../../tests/helpers/tcp-balancer'
import { TcpProxy } from '../../tests/helpers/tcp-proxy'
import { Pair, type SoakTotals, pairClean, seeded, totals } from './soak-pairs'

export interface SoakLoadOptions {
  /** ws://127.0.0.1:PORT/channel of the server (the clients connect through the proxy instead). */
  url: string
  /** Ports of several server processes (url's path on each): the clients go through a balancer. */
  ports?: number[]
  pairs: number
  durationMs: number
  /** Data frames per second each side of a pair sends. */
  framesPerSecond: number
  /** Connections cut per second, each one picked at random among the live ones (0: none). */
  cutsPerSecond: number
  /** After the sending stops: how long everything may take to arrive. */
  drainMs: number
  progressMs: number
  seed: number
  /** Pairs being set up at once. */
  setupConcurrency: number
}

export interface SoakProgress {
  elapsedS: number
  cuts: number
  framesSent: number
  framesDelivered: number
  reconnects: number
  clientsReady: number
  liveConnections: number
  /** With a balancer: live connections per server port. */
  byPort?: Record<number, number>
}

export interface SoakLoadResult {
  totals: SoakTotals
  setupMs: number
  sendingMs: number
  /** Time from the end of sending until every frame had arrived (or the drain time ran out). */
  drainedMs: number
  drained: boolean
  /** Clients whose activeHandles was not 0 right after dispose(), and their handles in all. */
  clientsWithHandles: number
  clientHandles: number
  /** What keeps this process alive after everything was closed (stdin only, when nothing leaks). */
  activeResources: string[]
  /** Pairs with a problem, first few, for the reader of the JSON file. */
  examples: unknown[]
  /** With a balancer: connections it forwarded to a second or later choice, and could not place. */
  balancer?: { accepted: number; failovers: number; unplaced: number }
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as SoakLoadOptions
  // A deadline of its own, whatever happens to the runner.
  const deadline = (ms: number): ReturnType<typeof setTimeout> =>
    setTimeout(() => {
      console.error('soak load generator: deadline passed, stopping')
      process.exit(2)
    }, ms).unref()
  let stopAt = deadline(options.durationMs + options.drainMs + 10 * 60_000)

  const random = seeded(options.seed)
  const target = new URL(options.url)
  const balancer = options.ports ? new TcpBalancer(options.ports) : null
  const proxy = balancer ?? new TcpProxy(Number(target.port))
  await proxy.start()
  const viaProxy = `ws://127.0.0.1:${proxy.port}${target.pathname}`

  const t0 = performance.now()
  const backInSession: number[] = []
  const pairs = Array.from(
    { length: options.pairs },
    (_, i) => new Pair(i, viaProxy, seeded(options.seed + i + 1), backInSession)
  )
  let nextSetUp = 0
  await Promise.all(
    Array.from({ length: Math.min(options.setupConcurrency, pairs.length) }, async () => {
      while (nextSetUp < pairs.length) await pairs[nextSetUp++]!.setUp()
    })
  )
  const setupMs = performance.now() - t0
  console.log(`ready ${JSON.stringify({ pairs: pairs.length, setupMs })}`)

  const sendingStart = performance.now()
  for (const p of pairs) p.startSending(options.framesPerSecond, random)
  // Cuts at a fixed rate: at most cutsPerSecond × duration in all.
  const cutTimer =
    options.cutsPerSecond > 0 ? setInterval(() => proxy.cutOne(random), 1000 / options.cutsPerSecond) : null
  const progressTimer = setInterval(() => {
    const t = totals(pairs, proxy, backInSession)
    const progress: SoakProgress = {
      elapsedS: (performance.now() - sendingStart) / 1000,
      cuts: t.cuts,
      framesSent: t.framesSent,
      framesDelivered: t.framesDelivered,
      reconnects: t.reconnects,
      clientsReady: pairs.reduce(
        (n, p) => n + (p.device.state === 'ready' ? 1 : 0) + (p.web.state === 'ready' ? 1 : 0),
        0
      ),
      liveConnections: proxy.liveConnections,
      ...(balancer ? { byPort: balancer.liveByTarget() } : {})
    }
    console.log(`progress ${JSON.stringify(progress)}`)
  }, options.progressMs)

  await sleep(options.durationMs)
  if (cutTimer) clearInterval(cutTimer)
  for (const p of pairs) p.stopSending()
  const sendingMs = performance.now() - sendingStart

  // Whatever is still queued or being resent arrives now; no more cuts.
  const drainStart = performance.now()
  while (!pairs.every((p) => p.complete) && performance.now() - drainStart < options.drainMs) await sleep(100)
  const drainedMs = performance.now() - drainStart
  const drained = pairs.every((p) => p.complete)
  clearInterval(progressTimer)
  const final = totals(pairs, proxy, backInSession)
  const examples = pairs
    .filter((p) => !pairClean(p))
    .slice(0, 5)
    .map((p) => ({
      pair: p.index,
      deviceToWeb: p.toWeb,
      webToDevice: p.toDevice,
      device: { state: p.device.state, ...p.deviceCounters },
      web: { state: p.web.state, ...p.webCounters }
    }))

  let clientsWithHandles = 0
  let clientHandles = 0
  for (const p of pairs) {
    const handles = p.dispose()
    clientHandles += handles
    if (handles > 0) clientsWithHandles++
  }
  // The clients' close frames go through the proxy: let them pass before it stops.
  const closeStart = performance.now()
  while (proxy.liveConnections > 0 && performance.now() - closeStart < 10_000) await sleep(50)
  await proxy.stop()
  await sleep(200)
  // Its own deadline aside, nothing of this process should be left but its standard streams.
  clearTimeout(stopAt)
  const activeResources = process.getActiveResourcesInfo()
  stopAt = deadline(120_000)
  const result: SoakLoadResult = {
    totals: final,
    setupMs,
    sendingMs,
    drainedMs,
    drained,
    clientsWithHandles,
    clientHandles,
    activeResources,
    examples,
    ...(balancer
      ? {
          balancer: {
            accepted: balancer.accepted,
            failovers: balancer.failovers,
            unplaced: balancer.unplaced
          }
        }
      : {})
  }
  console.log(`disposed ${JSON.stringify(result)}`)

  const input = createInterface({ input: process.stdin })
  for await (const line of input) if (line.trim() === 'close') break
  process.exit(0)
}

main().catch((e: unknown) => {
  console.error(`soak load generator failed: ${e instanceof Error ? e.stack : String(e)}`)
  process.exit(1)
})
