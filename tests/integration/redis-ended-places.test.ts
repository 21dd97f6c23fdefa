/**
 * A session that ends is gone from every process its members are on, as soon as they are told,
 * not only once each member sends something: list_sessions, the session count and stats on each
 * process no longer have it, and its id can be created again. A real redis-server, two channel
 * servers in this process on the Redis registry (one key prefix), real sockets on 127.0.0.1.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import type { ChannelServer } from '../../src/main/channel/server'
import { type Json, RawClient } from '../helpers/raw-client'
import { RedisServer, describeWithRedis, serverOnRedis } from '../helpers/redis-server'

const OPERATOR_TOKEN = 'operator-secret-ended'
const WAIT = { timeout: 10_000, interval: 20 }

describeWithRedis('ended sessions on the Redis registry', () => {
  let redis: RedisServer
  const cleanups: (() => unknown)[] = []
  let prefix = ''
  let tests = 0

  beforeAll(async () => {
    redis = await RedisServer.start()
  })
  afterAll(async () => {
    await redis?.stop()
  })
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  async function start(): Promise<ChannelServer> {
    const { server } = await serverOnRedis(
      { url: redis.url, prefix },
      { operatorToken: OPERATOR_TOKEN, limits: { sweepIntervalMs: 200 } }
    )
    cleanups.push(() => server.close())
    return server
  }

  async function authed(server: ChannelServer, uuid: string): Promise<RawClient> {
    const c = await RawClient.authed(`ws://127.0.0.1:${server.listeningPort}/channel`, uuid)
    cleanups.push(() => c.close())
    return c
  }

  /** The session ids an operator connection of `server` is given by list_sessions. */
  async function listed(server: ChannelServer): Promise<unknown[]> {
    const op = await authed(server, `console-${server.listeningPort}`)
    const reply = await op.request({
      msgtype: 'request',
      operation: 'list_sessions',
      channeltype: 'system',
      operator_token: OPERATOR_TOKEN
    })
    expect(reply).toMatchObject({ result_cd: 200, operation: 'list_sessions' })
    op.close()
    return (reply.sessions as Json[]).map((s) => s.sessionid)
  }

  function told(c: RawClient, operation: string, sessionid: string): Promise<Json> {
    return c.next(
      (f) => f.msgtype === 'notify' && f.operation === operation && f.sessionid === sessionid,
      WAIT.timeout,
      0
    )
  }

  /** A device on `a` with a session, and a web client on `b` in it; both processes list it. */
  async function joined(
    sid: string
  ): Promise<{ a: ChannelServer; b: ChannelServer; device: RawClient; web: RawClient }> {
    prefix = `ended${++tests}-${process.pid}:`
    const a = await start()
    const b = await start()
    const device = await authed(a, sid)
    expect(
      await device.request({ msgtype: 'request', operation: 'create_session', sessionid: sid })
    ).toMatchObject({ result_cd: 200, sessionid: sid })
    const web = await authed(b, `W-${sid}`)
    expect(
      await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    ).toMatchObject({ result_cd: 200 })
    await told(device, 'join_session', sid)
    expect(await listed(a)).toEqual([sid])
    expect(await listed(b)).toEqual([sid])
    return { a, b, device, web }
  }

  it('destroyed by a web client on another process: the device’s process no longer has it', async () => {
    const sid = 'K-ENDED-1'
    const { a, b, device, web } = await joined(sid)
    expect(
      await web.request({ msgtype: 'request', operation: 'destroy_session', sessionid: sid })
    ).toMatchObject({ result_cd: 200 })
    expect(await told(device, 'destroy_session', sid)).toEqual({
      msgtype: 'notify',
      operation: 'destroy_session',
      sessionid: sid,
      channeltype: 'webrtcaudio'
    })
    // The device sends nothing: being told is enough.
    await expect.poll(() => a.sessionCount, WAIT).toBe(0)
    expect(a.stats().sessions).toBe(0)
    expect(await listed(a)).toEqual([])
    expect(b.sessionCount).toBe(0)
    expect(await listed(b)).toEqual([])

    expect(
      await device.request({ msgtype: 'request', operation: 'create_session', sessionid: sid })
    ).toMatchObject({ result_cd: 200, sessionid: sid })
    expect(await listed(a)).toEqual([sid])
    expect(a.sessionCount).toBe(1)
  }, 40_000)

  it('destroyed by its device: the web client’s process on another one no longer has it', async () => {
    const sid = 'K-ENDED-2'
    const { a, b, device, web } = await joined(sid)
    expect(
      await device.request({ msgtype: 'request', operation: 'destroy_session', sessionid: sid })
    ).toMatchObject({ result_cd: 200 })
    expect(await told(web, 'destroy_session', sid)).toMatchObject({ sessionid: sid })
    await expect.poll(() => b.sessionCount, WAIT).toBe(0)
    expect(b.stats().sessions).toBe(0)
    expect(await listed(b)).toEqual([])
    expect(await listed(a)).toEqual([])

    // A new session of the same id, joined again by the same web client, is listed on both.
    expect(
      await device.request({ msgtype: 'request', operation: 'create_session', sessionid: sid })
    ).toMatchObject({ result_cd: 200, sessionid: sid })
    expect(
      await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    ).toMatchObject({ result_cd: 200 })
    expect(await listed(b)).toEqual([sid])
    expect(b.sessionCount).toBe(1)
  }, 40_000)

  it('ended by its device closing: the web client’s process no longer has it', async () => {
    const sid = 'K-ENDED-3'
    const { a, b, device, web } = await joined(sid)
    device.close()
    expect(await told(web, 'destroy_session', sid)).toMatchObject({ sessionid: sid })
    await expect.poll(() => b.sessionCount, WAIT).toBe(0)
    expect(await listed(b)).toEqual([])
    expect(a.sessionCount).toBe(0)
  }, 40_000)
})
