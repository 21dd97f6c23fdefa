/**
 * The soak's device/web pairs of the app's own ChannelClient, shared by the load generator
 * (soak-load.ts) and the test that runs a short cross-process soak inside the suite: each pair
 * exchanges numbered data frames both ways, and each receiver checks that frame n is the one
 * after the last it got (lost, duplicated, reordered), besides what the client itself reports
 * as given up (`expired`, `missed`, `dropped`) and sessions it could not take back.
 */
import { performance } from 'node:perf_hooks'
import { ChannelClient } from '../../src/main/channel/client'
import { percentileOfSorted } from '../lib/stats'

/** What one direction of one pair saw. */
export interface Stream {
  sent: number
  /** The next number expected. */
  next: number
  delivered: number
  duplicates: number
  /** Frames that arrived after a gap (the numbers skipped are counted in `gaps`). */
  outOfOrder: number
  gaps: number
}

export interface SideCounters {
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

/** Small seeded generator (mulberry32): the same seed gives the same cuts and backoff jitter. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

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

export class Pair {
  readonly device: ChannelClient
  readonly web: ChannelClient
  sessionid = ''
  /** device → web and web → device. */
  readonly toWeb = newStream()
  readonly toDevice = newStream()
  readonly deviceCounters = newCounters()
  readonly webCounters = newCounters()
  private timers: ReturnType<typeof setInterval>[] = []

  /** `backInSession`: where the times from connection lost to session restored go (all pairs). */
  constructor(
    readonly index: number,
    url: string,
    random: () => number,
    private readonly backInSession: number[]
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
      if (awaySince !== null) this.backInSession.push(performance.now() - awaySince)
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

/** What the clients' connections went through: a TcpProxy or a TcpBalancer. */
export interface Links {
  cuts: number
  accepted: number
}

export function totals(pairs: readonly Pair[], proxy: Links, backInSession: readonly number[]): SoakTotals {
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

export function pairClean(p: Pair): boolean {
  return [p.toWeb, p.toDevice].every(
    (s) => s.delivered === s.sent && s.duplicates === 0 && s.outOfOrder === 0 && s.next === s.sent + 1
  )
}
