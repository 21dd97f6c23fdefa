/**
 * A process's inbox stream does not keep what the process has read: Redis streams keep every
 * entry until trimmed, so without it each live process's inbox would grow with every frame
 * relayed to it, up to its length cap (100 000 entries), and Redis's memory with it.
 */
import { createClient } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type Json, RawClient, settle } from '../helpers/raw-client'
import { describeWithRedis } from '../helpers/redis-server'
import { type RedisTopology, redisTopology } from '../helpers/topology'

const FRAMES = 1000

describeWithRedis('the inbox streams on Redis', () => {
  let top: RedisTopology
  const open: RawClient[] = []

  beforeAll(async () => {
    top = await redisTopology({ framesPerWindow: 5_000 })
  }, 30_000)
  afterAll(async () => {
    for (const c of open.splice(0)) c.close()
    await top?.stop()
  }, 30_000)

  it('are trimmed of what their process has read', async () => {
    const device = await RawClient.authed(top.deviceUrl, `K-inbox-${process.pid}`)
    const web = await RawClient.authed(top.webUrl, `W-inbox-${process.pid}`)
    open.push(device, web)
    const created = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sid = created.sessionid as string
    expect(
      (await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })).result_cd
    ).toBe(200)
    for (let n = 1; n <= FRAMES; n++) {
      device.send({ msgtype: 'data', sessionid: sid, data: { n } })
      web.send({ msgtype: 'data', sessionid: sid, data: { n } })
    }
    const count = (c: RawClient): number =>
      c.frames.filter((f) => f.msgtype === 'data' && (f.data as Json).n).length
    await expect.poll(() => count(web), { timeout: 20_000 }).toBe(FRAMES)
    await expect.poll(() => count(device), { timeout: 20_000 }).toBe(FRAMES)

    const redis = createClient({ url: top.redis.url })
    redis.on('error', () => undefined)
    await redis.connect()
    try {
      const inboxes = await redis.keys('gb:in:*')
      expect(inboxes).toHaveLength(2)
      // Each process trims at its probe (every 2 s), approximately (whole stream nodes of 100).
      await settle(4_500)
      const lengths = await Promise.all(inboxes.map((k) => redis.xLen(k)))
      for (const length of lengths) expect(length).toBeLessThan(FRAMES / 4)
    } finally {
      await redis.close()
    }
  }, 60_000)
})
