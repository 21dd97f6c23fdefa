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
import type { ChannelServer } from '../../src/main/channel/server'
import { type Json, RawClient } from '../helpers/raw-client'
import { RedisServer, adminClient, describeWithRedis, serverOnRedis } from '../helpers/redis-server'
import { TcpProxy } from '../helpers/tcp-proxy'

/** The registry's deadline for a reply (commandTimeoutMs), and how long Redis stalls. */
const DEADLINE_MS = 500
const STALL_MS = 2_500
/** What a reply may take past the deadline. */
const MARGIN_MS = 400
const GRACE_MS = 10_000
const WAIT = { timeout: 15_000, interval: 5 }
/** What the test sends at most to a stopped Redis to fill the socket buffers on the way. */
const MAX_UNREAD_BYTES = 256 * 1024 * 1024
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

  async function start(
    options: { commandQueueMax?: number; framesPerWindow?: number; timersMs?: number; sweepMs?: number } = {}
  ): Promise<void> {
    faults = []
    const metrics: RedisMetrics = {
      observeRoundTrip: () => undefined,
      countError: (kind) => faults.push(kind)
    }
    ;({ server } = await serverOnRedis(
      {
        url: redis.url,
        metrics,
        commandTimeoutMs: DEADLINE_MS,
        inboxBlockMs: 200,
        ...(options.commandQueueMax !== undefined ? { commandQueueMax: options.commandQueueMax } : {}),
        ...(options.timersMs !== undefined
          ? { heartbeatIntervalMs: options.timersMs, probeIntervalMs: options.timersMs }
          : {})
      },
      {
        limits: {
          reconnectGraceMs: GRACE_MS,
          sweepIntervalMs: options.sweepMs ?? options.timersMs ?? 200,
          maxJoinersPerSession: 1,
          ...(options.framesPerWindow !== undefined ? { framesPerWindow: options.framesPerWindow } : {})
        }
      }
    ))
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

  /** A device and a web client in one session; returns both and the session id. */
  async function pair(tag: string): Promise<{ device: RawClient; web: RawClient; sid: string }> {
    const device = await authed(`K-${tag}`)
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sid = sessionid as string
    const web = await authed(`W-${tag}`)
    expect(
      await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    ).toMatchObject({
      result_cd: 200
    })
    return { device, web, sid }
  }

  /** The 503 replies `c` has had since frame `from` that say `text` (a data frame's reply has no trxid). */
  const unavailable = (c: RawClient, text: string, from = 0): Json[] =>
    c.frames.slice(from).filter((f) => f.msgtype === 'reply' && f.result_cd === 503 && f.result_msg === text)
  const dataSeen = (c: RawClient): unknown[] =>
    c.frames.filter((f) => f.msgtype === 'data').map((f) => (f.data as { n: unknown }).n)
  const notConfirmed =
    `not confirmed: no reply within ${DEADLINE_MS} ms from the shared session store (Redis); ` +
    'the frame may still be delivered'

  it('a data frame: 503 at the deadline says it may still be delivered, and it is once Redis answers', async () => {
    await start()
    const { device, web, sid } = await pair('stall-data')
    const since = await stall()
    const sentAt = Date.now()
    const from = device.frames.length
    device.send({ msgtype: 'data', sessionid: sid, data: { n: 1 } })
    const reply = await device.next((f) => f.msgtype === 'reply', STALL_MS + 2_000, from)
    expect(Date.now() - sentAt).toBeLessThan(DEADLINE_MS + MARGIN_MS)
    expect(reply).toMatchObject({ result_cd: 503, sessionid: sid, result_msg: notConfirmed })
    expect(faults).toContain('timeout')
    await stallOver(since)
    expect(await web.next((f) => f.msgtype === 'data', WAIT.timeout, 0)).toMatchObject({
      sessionid: sid,
      data: { n: 1 }
    })
  }, 40_000)

  it('commandQueueMax: frames past the backlog are refused at once, and only the queued ones arrive', async () => {
    const QUEUE = 8
    const SENT = 40
    await start({ commandQueueMax: QUEUE })
    const { device, web, sid } = await pair('stall-backlog')
    const since = await stall()
    const sentAt = Date.now()
    const from = device.frames.length
    for (let n = 0; n < SENT; n++) device.send({ msgtype: 'data', sessionid: sid, data: { n } })
    const full = `not delivered: ${UNREACHABLE} (${QUEUE} commands are already waiting for Redis (commandQueueMax))`
    // Refused at once: before the deadline that answers the queued ones.
    await expect.poll(() => unavailable(device, full, from).length, WAIT).toBeGreaterThanOrEqual(SENT - QUEUE)
    expect(Date.now() - sentAt).toBeLessThan(DEADLINE_MS)
    expect(faults).toContain('backlog')
    // The queued ones are answered at the deadline: every frame has its answer.
    await expect
      .poll(
        () => unavailable(device, full, from).length + unavailable(device, notConfirmed, from).length,
        WAIT
      )
      .toBe(SENT)
    const queued = unavailable(device, notConfirmed, from).length
    expect(queued).toBeGreaterThan(0)
    await stallOver(since)

    // Every queued frame arrives, in order; none of the refused ones.
    await expect.poll(() => dataSeen(web).length, WAIT).toBe(queued)
    const seen = dataSeen(web) as number[]
    expect(seen).toEqual([...seen].sort((a, b) => a - b))
    // And the relay goes on: a fresh frame arrives.
    device.send({ msgtype: 'data', sessionid: sid, data: { n: 'after' } })
    await expect.poll(() => dataSeen(web).at(-1), WAIT).toBe('after')
    expect(dataSeen(web)).toHaveLength(queued + 1)
  }, 40_000)

  it('a Redis that stops reading: frames not written in time are answered "not sent", and it recovers', async () => {
    // framesPerWindow lifted: enough bytes to fill the socket buffers to a Redis that is stopped.
    await start({ framesPerWindow: 100_000 })
    const { device, web, sid } = await pair('stall-unread')
    const pad = 'x'.repeat(60 * 1024)
    const unsent = `not delivered: ${UNREACHABLE} (not sent to Redis within ${DEADLINE_MS} ms (Redis is not reading))`
    let sent = 0
    process.kill(redis.pid!, 'SIGSTOP')
    try {
      // Bursts until the kernel's buffers to Redis are full (their size depends on the host) and
      // node-redis holds the next commands unwritten; at most MAX_UNREAD_BYTES.
      while (unavailable(device, unsent).length === 0 && sent * pad.length < MAX_UNREAD_BYTES) {
        for (let i = 0; i < 50; i++)
          device.send({ msgtype: 'data', sessionid: sid, data: { n: sent++, pad } })
        await new Promise((r) => setTimeout(r, 50))
      }
      await expect.poll(() => unavailable(device, unsent).length, WAIT).toBeGreaterThan(0)
      expect(faults).toContain('timeout')
      expect(faults).not.toContain('reply')
    } finally {
      process.kill(redis.pid!, 'SIGCONT')
    }
    // A frame not sent never arrives; every other one does, once Redis runs again.
    await expect.poll(() => unavailable(device, unsent).length + dataSeen(web).length, WAIT).toBe(sent)
    device.send({ msgtype: 'data', sessionid: sid, data: { n: 'after' } })
    await expect.poll(() => dataSeen(web).at(-1), WAIT).toBe('after')
  }, 60_000)

  it('the heartbeat, the probe and the sweep: one each waits for a stalled Redis, none queue behind it', async () => {
    const TICK_MS = 50
    await start({ timersMs: TICK_MS })
    const calls = async (): Promise<Record<string, number>> => {
      const info = (await admin.sendCommand(['INFO', 'commandstats'])) as string
      const out: Record<string, number> = {}
      for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2])
      return out
    }
    await admin.sendCommand(['CONFIG', 'RESETSTAT'])
    const since = await stall()
    await stallOver(since)
    const after = await calls()
    // STALL_MS / TICK_MS ticks of each passed while Redis took no writes.
    const ticks = STALL_MS / TICK_MS
    expect(after['zadd'] ?? 0).toBeLessThan(ticks / 5)
    expect(after['xadd'] ?? 0).toBeLessThan(ticks / 5)
    // And they go on once Redis answers.
    await expect.poll(async () => (await calls())['zadd'] ?? 0, WAIT).toBeGreaterThan(after['zadd'] ?? 0)
  }, 40_000)

  it('a late join whose undoing could not be sent: the retry that takes its place keeps it past the sweep', async () => {
    // The sweep retries what could not be sent; the first one comes after the stall and the retry.
    const SWEEP_MS = 4_000
    const QUEUE = 16
    await start({ commandQueueMax: QUEUE, sweepMs: SWEEP_MS })
    const startedAt = Date.now()
    const device = await authed('K-stall-twice')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sid = sessionid as string
    const web = await authed('W-stall-twice')
    const since = await stall()
    const from = web.frames.length
    web.send({ msgtype: 'request', operation: 'join_session', sessionid: sid, trxid: 'T:late' })
    // The device's frames fill the queue behind the join, so the LEAVE that would undo the late
    // join is refused at the deadline, and left to the sweep.
    for (let n = 0; n < 2 * QUEUE; n++) device.send({ msgtype: 'data', sessionid: sid, data: { n } })
    const late = await web.next((f) => f.msgtype === 'reply' && f.trxid === 'T:late', STALL_MS, from)
    expect(late).toMatchObject({ result_cd: 503 })
    expect(faults).toContain('backlog')
    await stallOver(since)

    // Redis ran the late join: the retry finds that place, this connection's, and takes it.
    const retried = await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    expect(retried).toMatchObject({ result_cd: 200 })
    expect(Date.now() - startedAt).toBeLessThan(SWEEP_MS)
    // Past the sweep, the place is still there, and frames reach it.
    await new Promise((r) => setTimeout(r, Math.max(0, startedAt + SWEEP_MS + 500 - Date.now())))
    expect(await storedUuids(sid)).toEqual(['K-stall-twice', 'W-stall-twice'])
    expect(device.frames.some((f) => f.operation === 'leave_session')).toBe(false)
    const at = web.frames.length
    device.send({ msgtype: 'data', sessionid: sid, data: { n: 'after' } })
    expect(
      await web.next(
        (f) => f.msgtype === 'data' && (f.data as { n: unknown }).n === 'after',
        WAIT.timeout,
        at
      )
    ).toBeTruthy()
  }, 40_000)
})
