/**
 * A create_session or join_session whose Redis step is still running when its connection ends
 * (a close frame, or a cut without one) leaves nothing behind for that connection: the place the
 * step took in Redis is given up as a disconnect gives up places. Redis holds its writes (CLIENT
 * PAUSE WRITE) from before the request is received until after the server has handled the close,
 * so the step always finishes after the disconnect. A real redis-server, a channel server in this
 * process on the Redis registry, real sockets on 127.0.0.1.
 */
import type { RedisClientType } from 'redis'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import type { RedisMetrics } from '../../src/main/channel/metrics'
import type { ChannelServer } from '../../src/main/channel/server'
import { type Json, RawClient } from '../helpers/raw-client'
import { RedisServer, adminClient, describeWithRedis, serverOnRedis } from '../helpers/redis-server'
import { TcpProxy } from '../helpers/tcp-proxy'

const GRACE_MS = 3_000
const WAIT = { timeout: 15_000, interval: 5 }

describeWithRedis('a session step whose connection ends while Redis runs it', () => {
  let redis: RedisServer
  let admin: RedisClientType
  let server: ChannelServer
  /** The registry's Redis round trips by script ("create", "join", "leave", …) and its failures. */
  let trips: string[] = []
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
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  async function start(): Promise<void> {
    trips = []
    faults = []
    const metrics: RedisMetrics = {
      observeRoundTrip: (command) => trips.push(command),
      countError: (kind) => faults.push(kind)
    }
    ;({ server } = await serverOnRedis(
      { url: redis.url, metrics },
      { limits: { reconnectGraceMs: GRACE_MS, sweepIntervalMs: 200 } }
    ))
    cleanups.push(() => server.close())
  }

  async function authed(uuid: string, port = server.listeningPort): Promise<RawClient> {
    const c = await RawClient.authed(`ws://127.0.0.1:${port}/channel`, uuid)
    cleanups.push(() => c.close())
    return c
  }

  /**
   * Sends `request` from `c` and ends the connection (`end`) while Redis holds the step: Redis
   * takes no writes until the server has received the request and then handled the close.
   */
  async function endMidStep(c: RawClient, request: Json, end: () => void): Promise<void> {
    const received = server.counters().framesReceived
    const connections = server.stats().connections
    await admin.sendCommand(['CLIENT', 'PAUSE', '60000', 'WRITE'])
    const pausedAt = Date.now()
    try {
      c.send({ msgtype: 'request', trxid: 'T:mid', ...request })
      await expect.poll(() => server.counters().framesReceived, WAIT).toBe(received + 1)
      end()
      await expect.poll(() => server.stats().connections, WAIT).toBe(connections - 1)
    } finally {
      await admin.sendCommand(['CLIENT', 'UNPAUSE'])
    }
    // Well within the registry's command timeout (2 s), so the step itself finishes.
    expect(Date.now() - pausedAt).toBeLessThan(1_500)
  }

  /** The notify, received already or within the wait. */
  function notified(c: RawClient, operation: string, sessionid: string): Promise<Json> {
    return c.next(
      (f) => f.msgtype === 'notify' && f.operation === operation && f.sessionid === sessionid,
      WAIT.timeout,
      0
    )
  }

  function placeUuids(sessionid: string): string[] {
    return server
      .listSessions()
      .filter((s) => s.sessionid === sessionid)
      .flatMap((s) => s.memberUuids)
  }

  /** The uuids of the places Redis holds for the session (its hash's p:<token> fields). */
  async function storedUuids(sessionid: string): Promise<string[]> {
    const all = await admin.hGetAll(`gb:s:${sessionid}`)
    return Object.entries(all)
      .filter(([k]) => k.startsWith('p:'))
      .map(([, v]) => (JSON.parse(v) as { u: string }).u)
      .sort()
  }

  /** A new web client joins (200), and the device's data reaches it. */
  async function anotherJoins(device: RawClient, sessionid: string, uuid: string): Promise<void> {
    const web = await authed(uuid)
    const joined = await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    expect(joined).toMatchObject({ result_cd: 200 })
    expect(joined.resumed).toBeUndefined()
    device.send({ msgtype: 'data', sessionid, data: { n: 1 } })
    const data = await web.next((f) => f.msgtype === 'data', WAIT.timeout)
    expect(data).toMatchObject({ sessionid, data: { n: 1 } })
  }

  it('join_session, then a close frame: the place is left at once and the session takes a new joiner', async () => {
    await start()
    const device = await authed('K-mid-join-close')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sid = sessionid as string
    const web = await authed('W-mid-join-close')
    await endMidStep(web, { operation: 'join_session', sessionid: sid }, () => web.close())
    // The join did happen in Redis (after the close), and was undone.
    await notified(device, 'join_session', sid)
    await notified(device, 'leave_session', sid)
    expect(await storedUuids(sid)).toEqual(['K-mid-join-close'])
    expect(placeUuids(sid)).toEqual(['K-mid-join-close'])
    await anotherJoins(device, sid, 'W-mid-join-next')
    expect(placeUuids(sid).sort()).toEqual(['K-mid-join-close', 'W-mid-join-next'])
    expect(await storedUuids(sid)).toEqual(['K-mid-join-close', 'W-mid-join-next'])
    expect(trips.filter((t) => t === 'join' || t === 'leave')).toEqual(['join', 'leave', 'join'])
    expect(faults).toEqual([])
  }, 40_000)

  it('join_session, then a cut: the place waits out the grace as a lost one does, then the session takes a new joiner', async () => {
    await start()
    const device = await authed('K-mid-join-cut')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sid = sessionid as string
    const proxy = new TcpProxy(server.listeningPort)
    cleanups.push(() => proxy.stop())
    const web = await authed('W-mid-join-cut', await proxy.start())
    await endMidStep(web, { operation: 'join_session', sessionid: sid }, () => proxy.cut())
    await notified(device, 'join_session', sid)
    const cutAt = Date.now()
    // Away in Redis (a grace deadline), not held by a live connection, and not here.
    await expect
      .poll(async () => {
        const all = await admin.hGetAll(`gb:s:${sid}`)
        return Object.values(all)
          .map((v) => JSON.parse(v) as { u?: string; a?: number })
          .filter((p) => p.u === 'W-mid-join-cut')
          .map((p) => (p.a ?? 0) > 0)
      }, WAIT)
      .toEqual([true])
    expect(placeUuids(sid)).toEqual(['K-mid-join-cut'])
    await notified(device, 'leave_session', sid)
    expect(Date.now() - cutAt).toBeGreaterThan(GRACE_MS - 500)
    expect(await storedUuids(sid)).toEqual(['K-mid-join-cut'])
    await anotherJoins(device, sid, 'W-mid-join-next2')
    expect(placeUuids(sid).sort()).toEqual(['K-mid-join-cut', 'W-mid-join-next2'])
    expect(faults).toEqual([])
  }, 40_000)

  it('create_session, then a close frame: the session is gone and the same id can be created again', async () => {
    await start()
    const sid = `closed-mid-create-${process.pid}`
    const device = await authed('K-mid-create-close')
    await endMidStep(device, { operation: 'create_session', sessionid: sid }, () => device.close())
    // Created in Redis after the close, then ended: nothing of it is left.
    await expect.poll(() => admin.exists(`gb:s:${sid}`), WAIT).toBe(0)
    expect(await admin.sIsMember('gb:u:K-mid-create-close', sid)).toBeFalsy()
    expect(server.listSessions()).toEqual([])
    expect(trips.filter((t) => t === 'create' || t === 'leave')).toEqual(['create', 'leave'])

    const web = await authed('W-mid-create-close')
    expect(
      await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    ).toMatchObject({ result_cd: 404 })
    const again = await authed('K-mid-create-close')
    const created = await again.request({ msgtype: 'request', operation: 'create_session', sessionid: sid })
    expect(created).toMatchObject({ result_cd: 200, sessionid: sid })
    expect(created.resumed).toBeUndefined()
    await anotherJoins(again, sid, 'W-mid-create-next')
    expect(faults).toEqual([])
  }, 40_000)

  it('create_session, then a cut: the session waits out the grace for its device, which takes it back', async () => {
    await start()
    const sid = `cut-mid-create-${process.pid}`
    const proxy = new TcpProxy(server.listeningPort)
    cleanups.push(() => proxy.stop())
    const device = await authed('K-mid-create-cut', await proxy.start())
    await endMidStep(device, { operation: 'create_session', sessionid: sid }, () => proxy.cut())
    await expect
      .poll(() => trips.filter((t) => t === 'create' || t === 'leave'), WAIT)
      .toEqual(['create', 'leave'])
    expect(server.listSessions()).toEqual([])
    const back = await authed('K-mid-create-cut')
    const resumed = await back.request({ msgtype: 'request', operation: 'create_session', sessionid: sid })
    expect(resumed).toMatchObject({ result_cd: 200, sessionid: sid, resumed: true })
    await anotherJoins(back, sid, 'W-mid-create-cut')
    expect(faults).toEqual([])
  }, 40_000)
})
