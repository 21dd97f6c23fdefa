/**
 * The channel service on Redis when parts of it die: a server process killed with SIGKILL
 * mid-session, and Redis itself killed and restarted. Real processes, a real redis-server.
 */
import { afterEach, expect, it } from 'vitest'
import { ChannelClient } from '../../src/main/channel/client'
import type { DataFrame } from '../../src/shared/protocol'
import { type Json, RawClient, settle } from '../helpers/raw-client'
import { RedisServer, describeWithRedis } from '../helpers/redis-server'
import { ServeProcess, buildEntry } from '../helpers/topology'
import { TcpProxy } from '../helpers/tcp-proxy'

const GRACE_MS = 7_000
const cleanups: (() => Promise<void> | void)[] = []

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function redisAndTwo(limits: Record<string, number> = {}): Promise<{
  redis: RedisServer
  a: ServeProcess
  b: ServeProcess
}> {
  buildEntry()
  const redis = await RedisServer.start()
  cleanups.push(() => redis.stop())
  const a = await ServeProcess.start(redis.url, limits)
  const b = await ServeProcess.start(redis.url, limits)
  cleanups.push(
    () => a.stop(),
    () => b.stop()
  )
  return { redis, a, b }
}

async function authed(url: string, uuid: string): Promise<RawClient> {
  const c = await RawClient.authed(url, uuid)
  cleanups.push(() => c.close())
  return c
}

describeWithRedis('a server process killed with SIGKILL mid-session', () => {
  it('the web client on B is told the session ended, within the grace plus a sweep', async () => {
    const { a, b } = await redisAndTwo({ reconnectGraceMs: GRACE_MS })
    const device = await authed(a.url, 'K-kill-1')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    const web = await authed(b.url, 'W-kill-1')
    await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    await a.kill()
    const killedAt = Date.now()
    const notify = await web.next((f) => f.operation === 'destroy_session', GRACE_MS + 8_000)
    const after = Date.now() - killedAt
    expect(notify).toEqual({
      msgtype: 'notify',
      operation: 'destroy_session',
      sessionid,
      channeltype: 'webrtcaudio'
    })
    process.stdout.write(
      `destroy_session reached the web client ${after} ms after the kill (grace ${GRACE_MS} ms)\n`
    )
    // The grace counts from the dead process's last heartbeat (once a second); then one sweep.
    expect(after).toBeGreaterThan(GRACE_MS - 1_500)
    expect(after).toBeLessThan(GRACE_MS + 2_500)
  }, 30_000)

  it('a device that reconnects to B within the grace takes its session back, and data flows in order', async () => {
    const { a, b } = await redisAndTwo({ reconnectGraceMs: GRACE_MS })
    const device = await authed(a.url, 'K-kill-2')
    const created = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sessionid = created.sessionid as string
    const web = await authed(b.url, 'W-kill-2')
    await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    await a.kill()
    await settle(300)
    const back = await authed(b.url, 'K-kill-2')
    const resumed = await back.request({
      msgtype: 'request',
      operation: 'create_session',
      sessionid,
      resumetoken: created.resumetoken
    })
    expect(resumed).toMatchObject({ result_cd: 200, sessionid, resumed: true })
    for (let n = 1; n <= 50; n++) back.send({ msgtype: 'data', sessionid, data: { n } })
    for (let n = 1; n <= 50; n++) web.send({ msgtype: 'data', sessionid, data: { m: n } })
    const got = (c: RawClient, key: string): number[] =>
      c.frames
        .filter((f) => f.msgtype === 'data' && key in (f.data as Json))
        .map((f) => (f.data as Json)[key] as number)
    await expect.poll(() => got(web, 'n').length).toBe(50)
    await expect.poll(() => got(back, 'm').length).toBe(50)
    expect(got(web, 'n')).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(got(back, 'm')).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    // Past the grace, nothing ends: the session is the new connection's.
    await settle(GRACE_MS + 1_500)
    expect(web.frames.some((f) => f.operation === 'destroy_session')).toBe(false)
  }, 40_000)

  it("with the app's clients, no frame is lost or duplicated across the kill", async () => {
    const { a, b } = await redisAndTwo({ reconnectGraceMs: GRACE_MS })
    const proxy = new TcpProxy(a.port)
    const proxyPort = await proxy.start()
    cleanups.push(() => proxy.stop())
    const reconnect = { initialDelayMs: 100, maxDelayMs: 500 }
    const device = new ChannelClient({ url: `ws://127.0.0.1:${proxyPort}/channel`, uuid: 'K-app', reconnect })
    const web = new ChannelClient({ url: b.url, uuid: 'W-app', reconnect })
    cleanups.push(
      () => device.dispose(),
      () => web.dispose()
    )
    const losses: string[] = []
    for (const c of [device, web]) {
      c.on('missed', (_s, n) => losses.push(`missed ${n}`))
      c.on('dropped', (_s, n) => losses.push(`dropped ${n}`))
      c.on('expired', (f) => losses.push(`expired ${f.length}`))
    }
    const received = { device: [] as number[], web: [] as number[] }
    device.on('data', (f: DataFrame) => received.device.push((f.data as Json).n as number))
    web.on('data', (f: DataFrame) => received.web.push((f.data as Json).n as number))
    await device.connect()
    await web.connect()
    const sessionid = await device.createSession()
    await web.joinSession(sessionid)
    await settle(200)
    let sent = 0
    const send = (): void => {
      sent++
      device.sendData(sessionid, { n: sent })
      web.sendData(sessionid, { n: sent })
    }
    for (let i = 0; i < 40; i++) {
      send()
      await settle(25)
    }
    // Process A dies; the device's next connection lands on B.
    proxy.retarget(b.port)
    await a.kill()
    for (let i = 0; i < 80; i++) {
      send()
      await settle(25)
    }
    const all = Array.from({ length: sent }, (_, i) => i + 1)
    await expect.poll(() => received.web.length, { timeout: 15_000 }).toBe(sent)
    await expect.poll(() => received.device.length, { timeout: 15_000 }).toBe(sent)
    await settle(500)
    expect(received.web).toEqual(all)
    expect(received.device).toEqual(all)
    expect(losses).toEqual([])
  }, 40_000)
})

describeWithRedis('Redis killed mid-run and restarted', () => {
  it('readiness, refusals within bounded time, nothing acknowledged that was not delivered, and recovery', async () => {
    const { redis, a, b } = await redisAndTwo()
    const device = await authed(a.url, 'K-outage')
    const created = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sessionid = created.sessionid as string
    const web = await authed(b.url, 'W-outage')
    await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    expect((await a.get('/readyz')).status).toBe(200)

    await redis.kill()
    const killedAt = Date.now()
    await expect
      .poll(async () => (await a.get('/readyz')).status, { timeout: 5_000, interval: 100 })
      .toBe(503)
    const readyzAfter = Date.now() - killedAt
    expect((await a.get('/readyz')).text).toContain('redis')

    // A create during the outage is refused, with the documented code, within 5 s.
    const asked = Date.now()
    const refused = await device.request({ msgtype: 'request', operation: 'create_session' })
    const refusedAfter = Date.now() - asked
    expect(refused).toMatchObject({ result_cd: 503 })
    expect(refusedAfter).toBeLessThan(5_000)
    expect(
      (await web.request({ msgtype: 'request', operation: 'join_session', sessionid: 'nope' })).result_cd
    ).toBe(503)
    // A frame that cannot be relayed is reported to its sender, never dropped silently.
    device.send({ msgtype: 'data', sessionid, data: { during: 'outage' } })
    const undelivered = await device.next(
      (f) => f.msgtype === 'reply' && f.result_cd === 503 && f.sessionid === sessionid
    )
    expect(String(undelivered.result_msg)).toContain('not delivered')

    await redis.restart()
    const restartedAt = Date.now()
    // Everything works again: the processes restore their places into the empty Redis.
    await expect
      .poll(async () => (await b.get('/readyz')).status, { timeout: 30_000, interval: 200 })
      .toBe(200)
    await expect
      .poll(async () => (await a.get('/readyz')).status, { timeout: 30_000, interval: 200 })
      .toBe(200)
    let relayed = false
    const deadline = Date.now() + 30_000
    let n = 0
    while (!relayed && Date.now() < deadline) {
      n++
      device.send({ msgtype: 'data', sessionid, data: { after: n } })
      relayed = await web
        .next((f) => f.msgtype === 'data' && (f.data as Json).after === n, 500)
        .then(() => true)
        .catch(() => false)
    }
    const recoveredAfter = Date.now() - restartedAt
    if (!relayed) process.stdout.write(`A: ${a.log.join('')}\nB: ${b.log.join('')}\n`)
    expect(relayed).toBe(true)
    expect(recoveredAfter).toBeLessThan(30_000)
    expect(web.frames.some((f) => f.msgtype === 'data' && (f.data as Json).during === 'outage')).toBe(false)
    const fresh = await device.request({ msgtype: 'request', operation: 'create_session' })
    expect(fresh.result_cd).toBe(200)
    process.stdout.write(
      `redis outage: /readyz 503 after ${readyzAfter} ms, create refused in ${refusedAfter} ms, relaying again ${recoveredAfter} ms after the restart\n`
    )
  }, 60_000)
})
