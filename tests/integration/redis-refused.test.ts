/**
 * Redis that is up but refuses a step: here an inbox stream whose last entry id is the largest
 * there is (a store written by hand, or corrupted), so that no entry can be appended to it. A
 * frame to that process's member is answered 503 with Redis's own words, not "unreachable"; the
 * process whose probe is refused logs why; once the key is repaired, frames and readiness come
 * back. A real redis-server, two channel servers in this process on the Redis registry, real
 * sockets on 127.0.0.1.
 */
import type { RedisClientType } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { RedisRegistry } from '../../src/main/channel/redis/redis-registry'
import type { ChannelServer } from '../../src/main/channel/server'
import { type Json, RawClient } from '../helpers/raw-client'
import { capturedLogger } from '../helpers/log-capture'
import { RedisServer, adminClient, describeWithRedis, serverOnRedis } from '../helpers/redis-server'

const PROBE_MS = 100
const WAIT = { timeout: 10_000, interval: 10 }
const LAST_ID = '18446744073709551615-18446744073709551615'

describeWithRedis('a Redis that refuses a step', () => {
  let redis: RedisServer
  let admin: RedisClientType
  let serverA: ChannelServer
  let serverB: ChannelServer
  let storeB: RedisRegistry
  let logsB: Json[] = []
  const open: RawClient[] = []

  beforeAll(async () => {
    redis = await RedisServer.start()
    admin = await adminClient(redis)
    ;({ server: serverA } = await serverOnRedis({ url: redis.url }))
    const { logger, lines } = capturedLogger('info')
    logsB = lines
    ;({ server: serverB, store: storeB } = await serverOnRedis({
      url: redis.url,
      logger,
      probeIntervalMs: PROBE_MS,
      probeTimeoutMs: 600
    }))
  }, 30_000)
  afterAll(async () => {
    for (const c of open.splice(0)) c.close()
    await serverA?.close()
    await serverB?.close()
    await admin?.close()
    await redis?.stop()
  }, 30_000)

  async function authed(server: ChannelServer, uuid: string): Promise<RawClient> {
    const c = await RawClient.authed(`ws://127.0.0.1:${server.listeningPort}/channel`, uuid)
    open.push(c)
    return c
  }

  it("answers with Redis's reason, logs the refused probe, and recovers once the key is repaired", async () => {
    const device = await authed(serverA, 'K-refused')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sid = sessionid as string
    const web = await authed(serverB, 'W-refused')
    expect(
      await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    ).toMatchObject({
      result_cd: 200
    })
    const inbox = `gb:in:${storeB.node}`
    await admin.sendCommand(['XADD', inbox, LAST_ID, 'x', 'y'])

    const from = device.frames.length
    device.send({ msgtype: 'data', sessionid: sid, data: { n: 1 } })
    const reply = await device.next((f) => f.msgtype === 'reply', WAIT.timeout, from)
    expect(reply).toMatchObject({ result_cd: 503, sessionid: sid })
    const text = String(reply.result_msg)
    expect(text).toMatch(/^not delivered: the shared session store \(Redis\) refused it: /)
    expect(text).toContain('The stream has exhausted the last possible ID')
    expect(text).not.toContain('unreachable')
    // B's probe cannot be written either: said in its log, with Redis's reason.
    await expect
      .poll(
        () =>
          logsB.some((l) => l.step === 'probe' && String(l.fault).includes('exhausted the last possible ID')),
        WAIT
      )
      .toBe(true)
    await expect.poll(() => storeB.ready, WAIT).toBe(false)

    // The operator repairs the key: probes and frames go through again.
    await admin.del(inbox)
    await expect.poll(() => storeB.ready, WAIT).toBe(true)
    const at = web.frames.length
    device.send({ msgtype: 'data', sessionid: sid, data: { n: 2 } })
    expect(await web.next((f) => f.msgtype === 'data', WAIT.timeout, at)).toMatchObject({ data: { n: 2 } })
  }, 30_000)
})
