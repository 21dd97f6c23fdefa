/**
 * A Redis that stalls while still connected (here CLIENT PAUSE WRITE, as a long script elsewhere
 * or a frozen host would): a create_session or join_session is answered 503 once the registry's
 * commandTimeoutMs has passed, not when Redis answers, and the connection's later frames are
 * answered too. The step may still run in Redis once the stall ends: a place it took under a new
 * token is given up after it, while a place a client resumes with its token stays. A real
 * redis-server, a channel server in this process on the Redis registry, real sockets on 127.0.0.1.
 */
import type { RedisClientType } from 'redis'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import type { RedisMetrics } from '../../src/main/channel/metrics'
import { RedisRegistry } from '../../src/main/channel/redis/redis-registry'
import { ChannelServer } from '../../src/main/channel/server'
import { type Json, RawClient } from '../helpers/raw-client'
import { RedisServer, adminClient, describeWithRedis } from '../helpers/redis-server'
import { TcpProxy } from '../helpers/tcp-proxy'

/** The registry's deadline for a reply (commandTimeoutMs), and how long Redis stalls. */
const DEADLINE_MS = 500
const STALL_MS = 2_500
/** What a reply may take past the deadline. */
const MARGIN_MS = 400
const GRACE_MS = 10_000
const WAIT = { timeout: 15_000, interval: 5 }
const UNREACHABLE = 'the shared session store (Redis) is unreachable; try again shortly'

describeWithRedis('a session step while Redis stalls', () => {
  let redis: RedisServer
  let admin: RedisClientType
  let server: ChannelServer
  let faults: string[] = []
  const cleanups: (() => unknown)[] = []

  beforeAll(async () => {
    redis = await RedisServer.start()
    admin = await adminClient(redis)
  })
  afterAll(async () => {
    await admin?.close()
    await redis?.stop()
  })
  afterEach(async () => {
    await admin.sendCommand(['CLIENT', 'UNPAUSE'])
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  async function start(): Promise<void> {
    faults = []
    const metrics: RedisMetrics = {
      observeRoundTrip: () => undefined,
      countError: (kind) => faults.push(kind)
    }
    let store: RedisRegistry | null = null
    server = new ChannelServer({
      limits: { reconnectGraceMs: GRACE_MS, sweepIntervalMs: 200, maxJoinersPerSession: 1 },
      registry: (ctx) =>
        (store = new RedisRegistry(ctx, {
          url: redis.url,
          metrics,
          commandTimeoutMs: DEADLINE_MS,
          inboxBlockMs: 200
        }))
    })
    await store!.start()
    await server.listen()
    cleanups.push(() => server.close())
  }

  async function authed(uuid: string, port = server.listeningPort): Promise<RawClient> {
    const c = await RawClient.authed(`ws://127.0.0.1:${port}/channel`, uuid)
    cleanups.push(() => c.close())
    return c
  }

  /** Redis takes no writes (scripts included) for STALL_MS from now; returns when it began. */
  async function stall(): Promise<number> {
    await admin.sendCommand(['CLIENT', 'PAUSE', String(STALL_MS), 'WRITE'])
    return Date.now()
  }

  /** Waits out the stall that began at `since`. */
  async function stallOver(since: number): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.max(0, since + STALL_MS - Date.now())))
    await admin.sendCommand(['CLIENT', 'UNPAUSE'])
  }

  /**
   * Sends `request` (with `trxid`) from `c` and expects 503 within the deadline, measured from
   * `sentAt` or now, and before the stall that began at `since` ends.
   */
  async function unanswered(c: RawClient, request: Json, trxid: string, since: number): Promise<void> {
    const sentAt = Date.now()
    c.send({ msgtype: 'request', trxid, ...request })
    const reply = await c.next((f) => f.msgtype === 'reply' && f.trxid === trxid, STALL_MS + 2_000)
    const took = Date.now() - sentAt
    expect(reply).toMatchObject({ result_cd: 503, trxid })
    expect(String(reply.result_msg)).toContain(UNREACHABLE)
    expect(took).toBeLessThan(DEADLINE_MS + MARGIN_MS)
    expect(Date.now()).toBeLessThan(since + STALL_MS)
  }

  /** The uuids of the places Redis holds for the session (its hash's p:<token> fields). */
  async function storedUuids(sessionid: string): Promise<string[]> {
    const all = await admin.hGetAll(`gb:s:${sessionid}`)
    return Object.entries(all)
      .filter(([k]) => k.startsWith('p:'))
      .map(([, v]) => (JSON.parse(v) as { u: string }).u)
      .sort()
  }

  function notified(c: RawClient, operation: string, sessionid: string, from = 0): Promise<Json> {
    return c.next(
      (f) => f.msgtype === 'notify' && f.operation === operation && f.sessionid === sessionid,
      WAIT.timeout,
      from
    )
  }

  it('join_session: 503 at the deadline, the next join answered too, and the late places are given up', async () => {
    await start()
    const device = await authed('K-stall-join')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sid = sessionid as string
    const web = await authed('W-stall-join')
    const since = await stall()
    await unanswered(web, { operation: 'join_session', sessionid: sid }, 'T:late', since)
    await unanswered(web, { operation: 'join_session', sessionid: sid }, 'T:again', since)
    expect(faults).toContain('timeout')
    await stallOver(since)

    // Both joins ran in Redis once it took writes again, and each was undone after it.
    const first = device.frames.indexOf(await notified(device, 'leave_session', sid))
    await notified(device, 'leave_session', sid, first + 1)
    // The session takes a joiner (it takes one only): nothing of the late joins is left.
    const next = await authed('W-stall-join-next')
    const joined = await next.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    expect(joined).toMatchObject({ result_cd: 200 })
    expect(joined.resumed).toBeUndefined()
    expect(await storedUuids(sid)).toEqual(['K-stall-join', 'W-stall-join-next'])
    device.send({ msgtype: 'data', sessionid: sid, data: { n: 1 } })
    expect(await next.next((f) => f.msgtype === 'data', WAIT.timeout)).toMatchObject({
      sessionid: sid,
      data: { n: 1 }
    })
  }, 40_000)

  it('create_session: 503 at the deadline, the next create answered too, and the late sessions are gone', async () => {
    await start()
    const sid = `stalled-create-${process.pid}`
    const device = await authed('K-stall-create')
    const since = await stall()
    await unanswered(device, { operation: 'create_session', sessionid: sid }, 'T:late', since)
    await unanswered(device, { operation: 'create_session', sessionid: `${sid}-2` }, 'T:again', since)
    await stallOver(since)

    // Runs in Redis after the late steps (the registry's commands are run in order).
    const web = await authed('W-stall-create')
    expect(
      await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    ).toMatchObject({ result_cd: 404 })
    expect(await admin.exists([`gb:s:${sid}`, `gb:s:${sid}-2`])).toBe(0)
    expect(await admin.sMembers('gb:u:K-stall-create')).toEqual([])
    expect(server.listSessions()).toEqual([])

    const created = await device.request({ msgtype: 'request', operation: 'create_session', sessionid: sid })
    expect(created).toMatchObject({ result_cd: 200, sessionid: sid })
    expect(created.resumed).toBeUndefined()
  }, 40_000)

  it('a resume with its token: 503 at the deadline, and the place is kept for the retry', async () => {
    await start()
    const device = await authed('K-stall-resume')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sid = sessionid as string
    const proxy = new TcpProxy(server.listeningPort)
    cleanups.push(() => proxy.stop())
    const web = await authed('W-stall-resume', await proxy.start())
    const joined = await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    expect(joined).toMatchObject({ result_cd: 200 })
    const token = joined.resumetoken as string
    proxy.cut()
    // Away in Redis: its grace runs.
    await expect
      .poll(async () => {
        const all = await admin.hGetAll(`gb:s:${sid}`)
        return Object.values(all)
          .map((v) => JSON.parse(v) as { u?: string; a?: number })
          .filter((p) => p.u === 'W-stall-resume')
          .map((p) => (p.a ?? 0) > 0)
      }, WAIT)
      .toEqual([true])

    const back = await authed('W-stall-resume')
    const since = await stall()
    await unanswered(back, { operation: 'join_session', sessionid: sid, resumetoken: token }, 'T:late', since)
    await stallOver(since)

    const retried = await back.request({
      msgtype: 'request',
      operation: 'join_session',
      sessionid: sid,
      resumetoken: token
    })
    expect(retried).toMatchObject({ result_cd: 200, resumed: true, resumetoken: token })
    expect(await storedUuids(sid)).toEqual(['K-stall-resume', 'W-stall-resume'])
    device.send({ msgtype: 'data', sessionid: sid, data: { n: 2 } })
    expect(await back.next((f) => f.msgtype === 'data', WAIT.timeout)).toMatchObject({
      sessionid: sid,
      data: { n: 2 }
    })
    expect(device.frames.some((f) => f.operation === 'leave_session')).toBe(false)
  }, 40_000)
})
