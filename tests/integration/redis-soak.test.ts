/**
 * The cross-process soak (`npm run soak -- --redis`) in short, inside the suite: three
 * `npm run serve -- --redis` processes on one redis-server, behind a balancer; 20 device/web pairs
 * of the app's ChannelClient exchange numbered data frames; one process is killed -9 mid-run and
 * started again on its port. Its clients reconnect through the balancer to the other processes and
 * take their places back. Every frame each side's app sent must reach the other side's app once
 * and in order, and no client may report a loss (expired, missed, dropped, a session not taken back)
 * or see a membership notify.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Pair, seeded, totals } from '../../bench/load/soak-pairs'
import { RedisServer, describeWithRedis } from '../helpers/redis-server'
import { TcpBalancer } from '../helpers/tcp-balancer'
import { ServeProcess, buildEntry } from '../helpers/topology'

const PROCESSES = 3
const PAIRS = 20
/** Data frames per second each side of a pair sends. */
const RATE = 5
/** Sending before the kill, the kill to the restart, and after the restart (past the reaping). */
const BEFORE_KILL_MS = 6_000
const DOWN_MS = 1_000
const AFTER_RESTART_MS = 12_000
const DRAIN_MS = 30_000

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describeWithRedis('a short soak: 20 pairs over three processes on Redis, one killed -9 and restarted', () => {
  let redis: RedisServer
  const procs: ServeProcess[] = []
  let balancer: TcpBalancer
  const pairs: Pair[] = []

  beforeAll(async () => {
    buildEntry()
    redis = await RedisServer.start()
    for (let i = 0; i < PROCESSES; i++) procs.push(await ServeProcess.start(redis.url))
    balancer = new TcpBalancer(procs.map((p) => p.port))
    await balancer.start()
  }, 60_000)

  afterAll(async () => {
    for (const p of pairs) p.dispose()
    await balancer?.stop()
    await Promise.all(procs.map((p) => p.stop()))
    await redis?.stop()
  }, 30_000)

  it('nothing is lost, duplicated or reordered for the app across the kill', async () => {
    const path = new URL(procs[0]!.url).pathname
    const url = `ws://127.0.0.1:${balancer.port}${path}`
    const backInSession: number[] = []
    for (let i = 0; i < PAIRS; i++) pairs.push(new Pair(i, url, seeded(i + 1), backInSession))
    await Promise.all(pairs.map((p) => p.setUp()))
    // The balancer spreads the clients: every process has some, and so will the victim.
    const spread = balancer.liveByTarget()
    for (const p of procs) expect(spread[p.port]).toBeGreaterThan(0)

    const random = seeded(99)
    for (const p of pairs) p.startSending(RATE, random)
    await sleep(BEFORE_KILL_MS)

    const victim = 0
    const port = procs[victim]!.port
    const onVictim = balancer.liveByTarget()[port]!
    await procs[victim]!.kill()
    await sleep(DOWN_MS)
    procs[victim] = await ServeProcess.start(redis.url, {}, port)
    // Past the other processes' reaping of the dead one (its heartbeat 5 s old), while sending.
    await sleep(AFTER_RESTART_MS)
    for (const p of pairs) p.stopSending()

    const drainStart = Date.now()
    while (!pairs.every((p) => p.complete) && Date.now() - drainStart < DRAIN_MS) await sleep(100)
    const t = totals(pairs, balancer, backInSession)

    // Each of the victim's clients came back, through another process, to its own place.
    expect(onVictim).toBeGreaterThan(0)
    expect(t.sessionsRestored).toBeGreaterThanOrEqual(onVictim)
    expect(t.sessionsLost).toBe(0)
    // Every frame sent arrived, once, in order, and nobody gave any up or was told of a change.
    const perPair = pairs.map((p) => ({
      pair: p.index,
      toWeb: p.toWeb,
      toDevice: p.toDevice
    }))
    for (const p of perPair) {
      for (const s of [p.toWeb, p.toDevice]) {
        expect(s.sent, `pair ${p.pair}`).toBeGreaterThan(RATE * 10)
        expect({ pair: p.pair, ...s }).toEqual({
          pair: p.pair,
          sent: s.sent,
          next: s.sent + 1,
          delivered: s.sent,
          duplicates: 0,
          outOfOrder: 0,
          gaps: 0
        })
      }
    }
    expect({ expired: t.expired, missed: t.missed, dropped: t.dropped }).toEqual({
      expired: 0,
      missed: 0,
      dropped: 0
    })
    expect(t.membershipNotifies).toBe(0)
    expect(t.lost).toBe(0)
    // The balancer placed every connection (some past the dead process: refused there).
    expect(balancer.unplaced).toBe(0)
  }, 120_000)
})
