/**
 * Presence and GET /metrics on the Redis registry. A process tells its operator connections of
 * the sessions created on it (session_started, not when a device takes its session back) and of
 * their end (session_ended), wherever the end happens; a session created on another process is
 * that process's to announce. Its counters count the sessions created and the frames relayed on
 * it. A real redis-server, channel servers in this process on the Redis registry, real sockets on
 * 127.0.0.1.
 */
import type { RedisClientType } from 'redis'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import type { ServerLimits } from '../../src/main/channel/limits'
import type { RedisMetrics } from '../../src/main/channel/metrics'
import type { RedisRegistry, RedisRegistryLimits } from '../../src/main/channel/redis/redis-registry'
import type { ChannelServer } from '../../src/main/channel/server'
import { type Json, RawClient, settle } from '../helpers/raw-client'
import { RedisServer, adminClient, describeWithRedis, serverOnRedis } from '../helpers/redis-server'
import { TcpProxy } from '../helpers/tcp-proxy'

const OPERATOR_TOKEN = 'operator-secret-1'
const GRACE_MS = 1_500
const WAIT = { timeout: 15_000, interval: 20 }

describeWithRedis('presence and metrics on the Redis registry', () => {
  let redis: RedisServer
  let admin: RedisClientType
  const cleanups: (() => unknown)[] = []
  /** A key prefix of each test's own, so that no test sees another's sessions or processes. */
  let prefix = ''
  let tests = 0

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

  /** A channel server on the Redis registry, the registry, and its Redis round trips by script. */
  async function start(
    limits: Partial<ServerLimits> = {},
    own: Partial<RedisRegistryLimits> = {}
  ): Promise<{ server: ChannelServer; store: RedisRegistry; trips: string[] }> {
    const trips: string[] = []
    const metrics: RedisMetrics = { observeRoundTrip: (command) => trips.push(command), countError: () => {} }
    const { server, store } = await serverOnRedis(
      { url: redis.url, prefix, metrics, ...own },
      {
        operatorToken: OPERATOR_TOKEN,
        limits: { reconnectGraceMs: GRACE_MS, sweepIntervalMs: 200, ...limits }
      }
    )
    cleanups.push(() => server.close())
    return { server, store, trips }
  }

  function newPrefix(): void {
    prefix = `presence${++tests}-${process.pid}:`
  }

  async function authed(port: number, uuid: string): Promise<RawClient> {
    const c = await RawClient.authed(`ws://127.0.0.1:${port}/channel`, uuid)
    cleanups.push(() => c.close())
    return c
  }

  async function proxied(server: ChannelServer): Promise<TcpProxy> {
    const proxy = new TcpProxy(server.listeningPort)
    await proxy.start()
    cleanups.push(() => proxy.stop())
    return proxy
  }

  /** An operator connection following sessions; resolves once its list reply is in. */
  async function operator(server: ChannelServer, uuid: string): Promise<RawClient> {
    const op = await authed(server.listeningPort, uuid)
    const reply = await op.request({
      msgtype: 'request',
      operation: 'list_sessions',
      channeltype: 'system',
      operator_token: OPERATOR_TOKEN,
      subscribe: true
    })
    expect(reply).toMatchObject({ result_cd: 200, operation: 'list_sessions' })
    return op
  }

  const presenceOf = (op: RawClient, sessionid?: string): Json[] =>
    op.frames.filter(
      (f) =>
        (f.operation === 'session_started' || f.operation === 'session_ended') &&
        (sessionid === undefined || f.sessionid === sessionid)
    )

  function told(op: RawClient, operation: string, sessionid: string): Promise<Json> {
    return op.next((f) => f.operation === operation && f.sessionid === sessionid, WAIT.timeout, 0)
  }

  async function get(server: ChannelServer, path: string): Promise<[number, string]> {
    const res = await fetch(`http://127.0.0.1:${server.listeningPort}${path}`)
    return [res.status, await res.text()]
  }

  /** The value of one sample line of the Prometheus text, e.g. `genie_bridge_sessions`. */
  function sample(text: string, name: string): number | undefined {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `))
    return line === undefined ? undefined : Number(line.slice(name.length + 1))
  }

  it('lists live sessions to an operator and tells it as sessions start and end', async () => {
    newPrefix()
    const { server } = await start()
    const port = server.listeningPort
    const speaker = await authed(port, 'K-LOBBY')
    const first = await speaker.request({
      msgtype: 'request',
      operation: 'create_session',
      sessionid: 'K-LOBBY'
    })
    expect(first.result_cd).toBe(200)
    const operator = await authed(port, 'console-1')
    const reply = await operator.request({
      msgtype: 'request',
      operation: 'list_sessions',
      channeltype: 'system',
      operator_token: OPERATOR_TOKEN,
      subscribe: true
    })
    expect(reply).toMatchObject({
      result_cd: 200,
      operation: 'list_sessions',
      sessions: [{ sessionid: 'K-LOBBY', uuid: 'K-LOBBY', channeltype: 'webrtcaudio', members: 1 }]
    })

    const second = await authed(port, 'K-HALL')
    const created = await second.request({ msgtype: 'request', operation: 'create_session' })
    const started = await operator.next((f) => f.operation === 'session_started')
    expect(started).toEqual({
      msgtype: 'notify',
      operation: 'session_started',
      channeltype: 'system',
      sessionid: created.sessionid,
      uuid: 'K-HALL'
    })
    second.close() // the owner's connection closing ends its session
    const ended = await operator.next((f) => f.operation === 'session_ended')
    expect(ended).toMatchObject({ sessionid: created.sessionid, uuid: 'K-HALL' })
    await speaker.request({ msgtype: 'request', operation: 'destroy_session', sessionid: 'K-LOBBY' })
    // The end comes through the process's inbox: before or after the reply to the speaker, which
    // is another connection's.
    expect(await told(operator, 'session_ended', 'K-LOBBY')).toMatchObject({
      sessionid: 'K-LOBBY'
    })
    await settle(300)
    expect(presenceOf(operator).map((f) => [f.operation, f.sessionid])).toEqual([
      ['session_started', created.sessionid],
      ['session_ended', created.sessionid],
      ['session_ended', 'K-LOBBY']
    ])
  }, 40_000)

  it('says nothing when a device takes its session back, and tells the end once its grace runs out', async () => {
    newPrefix()
    const { server } = await start()
    const operator_ = await operator(server, 'console-2')
    const proxy = await proxied(server)
    const sid = 'K-BACK'
    const device = await authed(proxy.port, sid)
    expect(
      await device.request({ msgtype: 'request', operation: 'create_session', sessionid: sid })
    ).toMatchObject({ result_cd: 200, sessionid: sid })
    expect(await told(operator_, 'session_started', sid)).toMatchObject({ uuid: sid })

    proxy.cut() // no close frame: the device's place waits out the grace
    proxy.restore()
    const back = await authed(proxy.port, sid)
    const resumed = await back.request({ msgtype: 'request', operation: 'create_session', sessionid: sid })
    expect(resumed).toMatchObject({ result_cd: 200, sessionid: sid, resumed: true })
    await settle(300)
    expect(presenceOf(operator_, sid).map((f) => f.operation)).toEqual(['session_started'])

    proxy.cut()
    const cutAt = Date.now()
    expect(await told(operator_, 'session_ended', sid)).toEqual({
      msgtype: 'notify',
      operation: 'session_ended',
      channeltype: 'system',
      sessionid: sid,
      uuid: sid
    })
    expect(Date.now() - cutAt).toBeGreaterThan(GRACE_MS - 500)
    expect(presenceOf(operator_, sid).map((f) => f.operation)).toEqual(['session_started', 'session_ended'])
  }, 40_000)

  it('reports the sessions created and the frames relayed on GET /metrics, with exact counts', async () => {
    newPrefix()
    const { server } = await start()
    const proxy = await proxied(server)
    const device = await authed(proxy.port, 'K-METRICS')
    const web = await authed(server.listeningPort, 'W-METRICS')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    expect((await web.request({ msgtype: 'request', operation: 'join_session', sessionid })).result_cd).toBe(
      200
    )
    const frame = JSON.stringify({ msgtype: 'data', sessionid, data: { n: 1 } })
    for (let i = 0; i < 5; i++) device.send(frame)
    // Without a sessionid: the sender's only session.
    const reply = JSON.stringify({ msgtype: 'data', data: { reply: true } })
    for (let i = 0; i < 2; i++) web.send(reply)
    await expect.poll(() => web.frames.filter((f) => f.msgtype === 'data').length, WAIT).toBe(5)
    await expect.poll(() => device.frames.filter((f) => f.msgtype === 'data').length, WAIT).toBe(2)

    // Neither a refused frame nor a refused or resumed create counts.
    const outsider = await authed(server.listeningPort, 'W-OUTSIDER')
    outsider.send({ msgtype: 'data', sessionid, data: { n: 0 } })
    expect(await outsider.next((f) => f.msgtype === 'reply')).toMatchObject({ result_cd: 403 })
    const rival = await authed(server.listeningPort, 'K-RIVAL')
    expect(await rival.request({ msgtype: 'request', operation: 'create_session', sessionid })).toMatchObject(
      { result_cd: 409 }
    )
    proxy.cut()
    proxy.restore()
    const back = await authed(proxy.port, 'K-METRICS')
    expect(await back.request({ msgtype: 'request', operation: 'create_session', sessionid })).toMatchObject({
      result_cd: 200,
      resumed: true
    })
    back.send(frame)
    await expect.poll(() => web.frames.filter((f) => f.msgtype === 'data').length, WAIT).toBe(6)

    const [status, text] = await get(server, '/metrics')
    expect(status).toBe(200)
    expect(sample(text, 'genie_bridge_sessions_created_total')).toBe(1)
    expect(sample(text, 'genie_bridge_frames_relayed_total')).toBe(6 + 2)
    expect(sample(text, 'genie_bridge_relayed_bytes_total')).toBe(
      6 * Buffer.byteLength(frame) + 2 * Buffer.byteLength(reply)
    )
    expect(server.counters()).toMatchObject({ sessionsCreated: 1, framesRelayed: 8 })

    const other = await authed(server.listeningPort, 'K-METRICS-2')
    expect((await other.request({ msgtype: 'request', operation: 'create_session' })).result_cd).toBe(200)
    expect(sample((await get(server, '/metrics'))[1], 'genie_bridge_sessions_created_total')).toBe(2)
  }, 40_000)

  it('two processes: each announces the sessions created on it, and their end wherever it happens', async () => {
    newPrefix()
    // A sweeps too rarely to run in this test: whatever runs out a grace here is B's sweep.
    const a = await start({ sweepIntervalMs: 600_000 })
    const b = await start()
    const opA = await operator(a.server, 'console-A')
    const opB = await operator(b.server, 'console-B')

    // Created on B: B's to announce, not A's.
    const onB = await authed(b.server.listeningPort, 'K-ON-B')
    const createdOnB = await onB.request({ msgtype: 'request', operation: 'create_session' })
    const sidB = createdOnB.sessionid as string
    await told(opB, 'session_started', sidB)

    // Created on A and destroyed by a member on B: A tells of the end.
    const onA = await authed(a.server.listeningPort, 'K-ON-A')
    const sidA = (await onA.request({ msgtype: 'request', operation: 'create_session' })).sessionid as string
    await told(opA, 'session_started', sidA)
    const webB = await authed(b.server.listeningPort, 'W-ON-B')
    expect(
      (await webB.request({ msgtype: 'request', operation: 'join_session', sessionid: sidA })).result_cd
    ).toBe(200)
    expect(
      (await webB.request({ msgtype: 'request', operation: 'destroy_session', sessionid: sidA })).result_cd
    ).toBe(200)
    expect(await told(opA, 'session_ended', sidA)).toMatchObject({ uuid: 'K-ON-A' })

    // Created on A, its device cut off: B's sweep runs out the grace, and A tells of the end.
    const proxy = await proxied(a.server)
    const away = await authed(proxy.port, 'K-AWAY')
    const sidAway = (await away.request({ msgtype: 'request', operation: 'create_session' }))
      .sessionid as string
    await told(opA, 'session_started', sidAway)
    proxy.cut()
    expect(await told(opA, 'session_ended', sidAway)).toMatchObject({ uuid: 'K-AWAY' })
    expect(b.trips).toContain('expire')
    expect(a.trips).not.toContain('expire')

    // B's own session ends on B: B tells of it.
    onB.close()
    await told(opB, 'session_ended', sidB)
    await settle(300)
    expect(presenceOf(opA).map((f) => [f.operation, f.sessionid])).toEqual([
      ['session_started', sidA],
      ['session_ended', sidA],
      ['session_started', sidAway],
      ['session_ended', sidAway]
    ])
    expect(presenceOf(opB).map((f) => [f.operation, f.sessionid])).toEqual([
      ['session_started', sidB],
      ['session_ended', sidB]
    ])
  }, 60_000)

  it('tells the end of the sessions created on it as it shuts down', async () => {
    newPrefix()
    const { server } = await start()
    const op = await operator(server, 'console-down')
    const device = await authed(server.listeningPort, 'K-DOWN')
    const sid = (await device.request({ msgtype: 'request', operation: 'create_session' }))
      .sessionid as string
    await told(op, 'session_started', sid)
    await server.close()
    expect(await told(op, 'session_ended', sid)).toMatchObject({ uuid: 'K-DOWN' })
    expect(await op.closed()).toBe(1001)
  }, 40_000)

  it('Redis lost its data: a session whose device was away is told ended, one whose device is here lives on', async () => {
    newPrefix()
    const { server, store } = await start({ reconnectGraceMs: 60_000 }, { refreshIntervalMs: 300 })
    const op = await operator(server, 'console-flush')
    const here = await authed(server.listeningPort, 'K-HERE')
    const createdHere = await here.request({ msgtype: 'request', operation: 'create_session' })
    const sidHere = createdHere.sessionid as string
    const proxy = await proxied(server)
    const away = await authed(proxy.port, 'K-GONE')
    const sidAway = (await away.request({ msgtype: 'request', operation: 'create_session' }))
      .sessionid as string
    await told(op, 'session_started', sidHere)
    await told(op, 'session_started', sidAway)
    proxy.cut() // its place waits out the grace (a minute), in Redis only
    await expect.poll(() => admin.zCard(`${prefix}away`), WAIT).toBe(1)

    await admin.flushAll()
    // Nothing can end the away session in Redis any more: it went with the data.
    expect(await told(op, 'session_ended', sidAway)).toMatchObject({ uuid: 'K-GONE' })
    // The device that is here has its place written back, as the one of the session's creator.
    await expect
      .poll(async () => {
        const place = await admin.hGet(`${prefix}s:${sidHere}`, `p:${createdHere.resumetoken as string}`)
        return place == null ? null : (JSON.parse(place) as { o?: string }).o
      }, WAIT)
      .toBe(store.node)
    await settle(1_000) // past several checks
    expect(presenceOf(op, sidHere).map((f) => f.operation)).toEqual(['session_started'])
    // Its end is told as before the loss.
    expect(
      (await here.request({ msgtype: 'request', operation: 'destroy_session', sessionid: sidHere })).result_cd
    ).toBe(200)
    expect(await told(op, 'session_ended', sidHere)).toMatchObject({ uuid: 'K-HERE' })
  }, 40_000)
})
