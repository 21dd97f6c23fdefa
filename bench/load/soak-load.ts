/**
 * Load generator of the soak, run as its own process (the server runs in another): N device/web
 * pairs of the app's own ChannelClient, connected through a proxy that cuts single connections at
 * random, exchange numbered data frames both ways for a fixed time. At the end every receiver must
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
import { ChannelClient } from '../../src/main/channel/client'
import { sleep } from '../lib/proc-stats'
import { percentileOfSorted } from '../lib/stats'
import { TcpProxy } from '../../tests/helpers/tcp-proxy'

export interface SoakLoadOptions {
  /** ws://127.0.0.1:PORT/channel of the server (the clients connect through the proxy instead). */
  url: string
  pairs: number
  durationMs: number
  /** Data frames per second each side of a pair sends. */
  framesPerSecond: number
  /** Connections cut per second, each one picked at random among the live ones. */
  cutsPerSecond: number
  /** After the sending stops: how long everything may take to arrive. */
  drainMs: number
  progressMs: number
  seed: number
  /** Pairs being set up at once. */
  setupConcurrency: number
}

/** What one direction of one pair saw. */
interface Stream {
  sent: number
  /** The next number expected. */
  next: number
  delivered: number
  duplicates: number
  /** Frames that arrived after a gap (the numbers skipped are counted in `gaps`). */
  outOfOrder: number
  gaps: number
}

interface SideCounters {
  reconnects: number
  restored: number
  lost: number
  expired: number
  missed: number
  dropped: number
  /** join/leave/destroy notifies: a member's grace period ran out (or a session ended). */
  membershipNotifies: number
  errors: number
}

export interface SoakTotals {
  pairs: number
  clients: number
  cuts: number
  proxyConnections: number
  framesSent: number
  framesDelivered: number
  /** Per direction: device → web, web → device. */
  byDirection: Record<'deviceToWeb' | 'webToDevice', { sent: number; delivered: number }>
  /** Frames sent that never arrived (sent − delivered, over the pairs). */
  lost: number
  duplicates: number
  outOfOrder: number
  gaps: number
  reconnects: number
  sessionsRestored: number
  sessionsLost: number
  expired: number
  missed: number
  dropped: number
  membershipNotifies: number
  clientErrors: number
  /** Pairs with any frame lost, duplicated or out of order. */
  pairsWithLoss: number
  /** From a client's connection lost to its session restored, in ms. */
  backInSessionMs: { count: number; p50: number; p99: number; max: number }
}

export interface SoakProgress {
  elapsedS: number
  cuts: number
  framesSent: number
  framesDelivered: number
  reconnects: number
  clientsReady: number
  liveConnections: number
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
}

/** Small seeded generator (mulberry32): the same seed gives the same cuts and backoff jitter. */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** From connection lost to session restored, every time, for all clients. */
const backInSession: number[] = []

const newStream = (): Stream => ({ sent: 0, next: 1, delivered: 0, duplicates: 0, outOfOrder: 0, gaps: 0 })
const newCounters = (): SideCounters => ({
  reconnects: 0,
  restored: 0,
  lost: 0,
  expired: 0,
  missed: 0,
  dropped: 0,
  membershipNotifies: 0,
  errors: 0
})

class Pair {
  readonly device: ChannelClient
  readonly web: ChannelClient
  sessionid = ''
  /** device → web and web → device. */
  readonly toWeb = newStream()
  readonly toDevice = newStream()
  readonly deviceCounters = newCounters()
  readonly webCounters = newCounters()
  private timers: ReturnType<typeof setInterval>[] = []

  constructor(
    readonly index: number,
    url: string,
    random: () => number
  ) {
    const common = { url, random, connectTimeoutMs: 15_000, requestTimeoutMs: 15_000 }
    this.device = new ChannelClient({ ...common, uuid: `soak-device-${index}` })
    this.web = new ChannelClient({ ...common, uuid: `soak-web-${index}` })
    this.watch(this.device, this.deviceCounters, this.toDevice)
    this.watch(this.web, this.webCounters, this.toWeb)
  }

  async setUp(): Promise<void> {
    await Promise.all([this.device.connect(), this.web.connect()])
    this.sessionid = await this.device.createSession()
    // Sending starts once the device has seen the join: its frames from then on are the web's.
    const joined = new Promise<void>((resolve) => {
      const onNotify = (f: { operation?: string }): void => {
        if (f.operation !== 'join_session') return
        this.device.off('notify', onNotify)
        resolve()
      }
      this.device.on('notify', onNotify)
    })
    await this.web.joinSession(this.sessionid)
    await joined
    // join_session counted by watch() is the expected one of the set-up, not a membership change.
    this.deviceCounters.membershipNotifies = 0
  }

  startSending(framesPerSecond: number, random: () => number): void {
    const period = 1000 / framesPerSecond
    for (const [client, stream, role] of [
      [this.device, this.toWeb, 'device'],
      [this.web, this.toDevice, 'web']
    ] as const) {
      // A random phase per side, so that 2N senders do not all fire in the same millisecond.
      const first = setTimeout(() => {
        const send = (): void => {
          stream.sent++
          client.sendData(this.sessionid, { type: 'soak', from: role, n: stream.sent })
        }
        send()
        this.timers.push(setInterval(send, period))
      }, random() * period)
      this.timers.push(first as unknown as ReturnType<typeof setInterval>)
    }
  }

  stopSending(): void {
    for (const t of this.timers) clearInterval(t)
    this.timers = []
  }

  get complete(): boolean {
    return this.toWeb.next > this.toWeb.sent && this.toDevice.next > this.toDevice.sent
  }

  dispose(): number {
    this.stopSending()
    this.device.dispose()
    this.web.dispose()
    return this.device.activeHandles + this.web.activeHandles
  }

  private watch(client: ChannelClient, counters: SideCounters, incoming: Stream): void {
    let awaySince: number | null = null
    client.on('state', (state) => {
      if (state !== 'reconnecting') return
      counters.reconnects++
      awaySince ??= performance.now()
    })
    client.on('sessionRestored', () => {
      counters.restored++
      if (awaySince !== null) backInSession.push(performance.now() - awaySince)
      awaySince = null
    })
    client.on('sessionLost', () => counters.lost++)
    client.on('expired', (frames) => (counters.expired += frames.length))
    client.on('missed', (_s, n) => (counters.missed += n))
    client.on('dropped', (_s, n) => (counters.dropped += n))
    client.on('error', () => counters.errors++)
    client.on('notify', (f) => {
      if (
        f.operation === 'join_session' ||
        f.operation === 'leave_session' ||
        f.operation === 'destroy_session'
      )
        counters.membershipNotifies++
    })
    client.on('data', (f) => {
      const data = f.data as { type?: unknown; n?: unknown }
      if (data.type !== 'soak' || typeof data.n !== 'number') return
      const n = data.n
      if (n === incoming.next) {
        incoming.next++
        incoming.delivered++
      } else if (n < incoming.next) {
        incoming.duplicates++
      } else {
        incoming.outOfOrder++
        incoming.gaps += n - incoming.next
        incoming.delivered++
        incoming.next = n + 1
      }
    })
  }
}

function totals(pairs: readonly Pair[], proxy: TcpProxy): SoakTotals {
  const t: SoakTotals = {
    pairs: pairs.length,
    clients: pairs.length * 2,
    cuts: proxy.cuts,
    proxyConnections: proxy.accepted,
    framesSent: 0,
    framesDelivered: 0,
    byDirection: { deviceToWeb: { sent: 0, delivered: 0 }, webToDevice: { sent: 0, delivered: 0 } },
    lost: 0,
    duplicates: 0,
    outOfOrder: 0,
    gaps: 0,
    reconnects: 0,
    sessionsRestored: 0,
    sessionsLost: 0,
    expired: 0,
    missed: 0,
    dropped: 0,
    membershipNotifies: 0,
    clientErrors: 0,
    pairsWithLoss: 0,
    backInSessionMs: { count: 0, p50: NaN, p99: NaN, max: NaN }
  }
  const sorted = Float64Array.from(backInSession).sort()
  t.backInSessionMs = {
    count: sorted.length,
    p50: percentileOfSorted(sorted, 50),
    p99: percentileOfSorted(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN
  }
  for (const p of pairs) {
    for (const [stream, key] of [
      [p.toWeb, 'deviceToWeb'],
      [p.toDevice, 'webToDevice']
    ] as const) {
      t.byDirection[key].sent += stream.sent
      t.byDirection[key].delivered += stream.delivered
      t.framesSent += stream.sent
      t.framesDelivered += stream.delivered
      t.lost += stream.sent - stream.delivered
      t.duplicates += stream.duplicates
      t.outOfOrder += stream.outOfOrder
      t.gaps += stream.gaps
    }
    for (const c of [p.deviceCounters, p.webCounters]) {
      t.reconnects += c.reconnects
      t.sessionsRestored += c.restored
      t.sessionsLost += c.lost
      t.expired += c.expired
      t.missed += c.missed
      t.dropped += c.dropped
      t.membershipNotifies += c.membershipNotifies
      t.clientErrors += c.errors
    }
    if (!pairClean(p)) t.pairsWithLoss++
  }
  return t
}

function pairClean(p: Pair): boolean {
  return [p.toWeb, p.toDevice].every(
    (s) => s.delivered === s.sent && s.duplicates === 0 && s.outOfOrder === 0 && s.next === s.sent + 1
  )
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
  const proxy = new TcpProxy(Number(target.port))
  await proxy.start()
  const viaProxy = `ws://127.0.0.1:${proxy.port}${target.pathname}`

  const t0 = performance.now()
  const pairs = Array.from(
    { length: options.pairs },
    (_, i) => new Pair(i, viaProxy, seeded(options.seed + i + 1))
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
  const cutTimer = setInterval(() => proxy.cutOne(random), 1000 / options.cutsPerSecond)
  const progressTimer = setInterval(() => {
    const t = totals(pairs, proxy)
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
      liveConnections: proxy.liveConnections
    }
    console.log(`progress ${JSON.stringify(progress)}`)
  }, options.progressMs)

  await sleep(options.durationMs)
  clearInterval(cutTimer)
  for (const p of pairs) p.stopSending()
  const sendingMs = performance.now() - sendingStart

  // Whatever is still queued or being resent arrives now; no more cuts.
  const drainStart = performance.now()
  while (!pairs.every((p) => p.complete) && performance.now() - drainStart < options.drainMs) await sleep(100)
  const drainedMs = performance.now() - drainStart
  const drained = pairs.every((p) => p.complete)
  clearInterval(progressTimer)
  const final = totals(pairs, proxy)
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
    examples
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
