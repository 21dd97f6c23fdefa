/**
 * An inbox reader that goes deaf: its connection to Redis stays up but nothing comes back (here a
 * proxy that stops forwarding, as a half-dead NAT or a wedged connection would). The process's
 * probe is not read back, readiness goes false and says why, the reader is replaced, and frames
 * from the other process arrive again. The new reader's connection faults are logged and counted
 * like the first one's. A real redis-server, two channel servers in this process on the Redis
 * registry, real sockets on 127.0.0.1.
 */
import type { RedisClientType } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { RedisMetrics } from '../../src/main/channel/metrics'
import type { RedisRegistry } from '../../src/main/channel/redis/redis-registry'
import type { ChannelServer } from '../../src/main/channel/server'
import { type Json, RawClient } from '../helpers/raw-client'
import { capturedLogger } from '../helpers/log-capture'
import { RedisServer, adminClient, describeWithRedis, serverOnRedis } from '../helpers/redis-server'
import { TcpProxy } from '../helpers/tcp-proxy'

/** The probe's period and deadline on process A (defaults 2 s and 5 s). */
const PROBE_MS = 100
const PROBE_TIMEOUT_MS = 600
const WAIT = { timeout: 10_000, interval: 10 }

describeWithRedis('an inbox reader that goes deaf', () => {
  let redis: RedisServer
  let admin: RedisClientType
  let proxy: TcpProxy
  let storeA: RedisRegistry
  let serverA: ChannelServer
  let serverB: ChannelServer
  const faults: string[] = []
  let logs: Json[] = []
  const open: RawClient[] = []

  beforeAll(async () => {
    redis = await RedisServer.start()
    admin = await adminClient(redis)
    proxy = new TcpProxy(redis.port)
    const proxied = `redis://127.0.0.1:${await proxy.start()}`
    const metrics: RedisMetrics = { observeRoundTrip: () => undefined, countError: (k) => faults.push(k) }
    const { logger, lines } = capturedLogger('info')
    logs = lines
    ;({ server: serverA, store: storeA } = await serverOnRedis({
      url: proxied,
      metrics,
      logger,
      probeIntervalMs: PROBE_MS,
      probeTimeoutMs: PROBE_TIMEOUT_MS,
      inboxBlockMs: 200
    }))
    ;({ server: serverB } = await serverOnRedis({ url: redis.url }))
  }, 30_000)
  afterAll(async () => {
    for (const c of open.splice(0)) c.close()
    await serverA?.close()
    await serverB?.close()
    await proxy?.stop()
    await admin?.close()
    await redis?.stop()
  }, 30_000)

  async function authed(server: ChannelServer, uuid: string): Promise<RawClient> {
    const c = await RawClient.authed(`ws://127.0.0.1:${server.listeningPort}/channel`, uuid)
    open.push(c)
    return c
  }

  /** The port Redis sees A's inbox connection come from. */
  async function readerPort(): Promise<number> {
    const list = (await admin.sendCommand(['CLIENT', 'LIST'])) as string
    const line = list.split('\n').find((l) => l.includes(`name=genie-bridge:${storeA.node}:inbox `))
    const port = /addr=[\d.]+:(\d+)/.exec(line ?? '')?.[1]
    if (port === undefined) throw new Error(`no inbox connection of A in CLIENT LIST:\n${list}`)
    return Number(port)
  }

  /** A frame from the web client on B reaches the device on A (through A's inbox). */
  async function crosses(web: RawClient, device: RawClient, sid: string, n: number): Promise<void> {
    web.send({ msgtype: 'data', sessionid: sid, data: { n } })
    await device.next((f) => f.msgtype === 'data' && (f.data as { n: number }).n === n, WAIT.timeout, 0)
  }

  const logged = (msg: string, connection?: string): Json[] =>
    logs.filter((l) => l.msg === msg && (connection === undefined || l.connection === connection))

  it('is noticed by its probe and replaced, and frames from the other process arrive again', async () => {
    // A device and its web client with the same uuid (KT's flow): the device on A, the web client on B.
    const device = await authed(serverA, 'K-deaf-reader')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sid = sessionid as string
    const web = await authed(serverB, 'K-deaf-reader')
    expect(
      await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    ).toMatchObject({
      result_cd: 200
    })
    await crosses(web, device, sid, 1)

    const silencedAt = Date.now()
    expect(proxy.silence(await readerPort())).toBe(true)
    await expect.poll(() => storeA.readinessCheck().check(), WAIT).toBe('the inbox reader is not receiving')
    expect(Date.now() - silencedAt).toBeLessThan(PROBE_TIMEOUT_MS + 4 * PROBE_MS + 1_000)
    expect(faults).toContain('subscriber')
    expect(logged('inbox reader is deaf: replacing it')).toHaveLength(1)

    // The new reader reads the probe back, and what B relays to A is delivered again.
    await expect.poll(() => storeA.ready, WAIT).toBe(true)
    expect(logged('inbox reader receiving again')).toHaveLength(1)
    await crosses(web, device, sid, 2)
    // The session was never lost on either side.
    expect(serverA.listSessions().map((s) => s.sessionid)).toEqual([sid])

    // The new reader's faults are reported as the first one's were, under its name.
    const inbox = `genie-bridge:${storeA.node}:inbox`
    const before = faults.filter((k) => k === 'connection').length
    proxy.cut()
    await expect.poll(() => logged('redis connection fault', inbox).length, WAIT).toBe(1)
    expect(logged('redis connection fault', `genie-bridge:${storeA.node}`)).toHaveLength(1)
    // Both connections' faults are counted.
    expect(faults.filter((k) => k === 'connection').length).toBeGreaterThanOrEqual(before + 2)
    proxy.restore()
    await expect.poll(() => logged('redis connection restored', inbox).length, WAIT).toBe(1)
    await expect.poll(() => storeA.ready, WAIT).toBe(true)
    await crosses(web, device, sid, 3)
    // Exactly one replacement: the reader that came back after the cut is not taken for deaf.
    expect(logged('inbox reader is deaf: replacing it')).toHaveLength(1)
  }, 40_000)
})
