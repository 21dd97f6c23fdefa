/**
 * The test Redis (tests/helpers/redis-server.ts) and the server's Redis client factory against
 * it: PING, a crash (SIGKILL) with the client failing fast and reporting it, a restart on the same
 * port with the client back by itself, nothing persisted.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Registry } from 'prom-client'
import { registerRedisMetrics } from '../../src/main/channel/metrics'
import {
  type RedisClient,
  createRedisClient,
  reconnectDelay,
  redisReadiness
} from '../../src/main/channel/redis-client'
import { RedisServer, describeWithRedis } from '../helpers/redis-server'

describeWithRedis('a redis-server of the test’s own', () => {
  let redis: RedisServer
  let client: RedisClient
  const registry = new Registry()
  const metrics = registerRedisMetrics(registry)

  beforeAll(async () => {
    redis = await RedisServer.start()
    client = createRedisClient({ url: redis.url, name: 'genie-bridge-test', metrics, commandTimeoutMs: 1000 })
    await client.connect()
  })

  afterAll(async () => {
    client?.destroy()
    await redis?.stop()
  })

  it('listens on loopback with nothing persisted, and answers PING', async () => {
    expect(redis.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/)
    expect(await client.ping()).toBe('PONG')
    expect(await client.configGet('save')).toEqual({ save: '' })
    expect(await client.configGet('appendonly')).toEqual({ appendonly: 'no' })
    expect(await client.configGet('bind')).toEqual({ bind: '127.0.0.1' })
    expect((await client.configGet('dir'))['dir']).toBe(redis.dir)
    expect(await client.clientGetName()).toBe('genie-bridge-test')
  })

  it('dies on kill: the client is unready and refuses commands at once; after restart it is back by itself', async () => {
    await client.set('k', 'v')
    const port = redis.port
    const check = redisReadiness(client)
    expect(check.check()).toBe(true)

    await redis.kill()
    expect(redis.running).toBe(false)
    await expect.poll(() => check.check(), { timeout: 5000, interval: 20 }).toBe('no connection to Redis')
    const asked = Date.now()
    await expect(client.ping()).rejects.toThrow(/offline/i)
    const refusedIn = Date.now() - asked
    expect(refusedIn).toBeLessThan(1000) // no offline queue: rejected, not held until a timeout
    expect(await registry.getSingleMetricAsString('genie_bridge_redis_errors_total')).toMatch(
      /genie_bridge_redis_errors_total\{kind="connection"\} [1-9]/
    )

    const restarted = Date.now()
    await redis.restart()
    expect(redis.port).toBe(port)
    await expect.poll(() => client.isReady, { timeout: 10_000, interval: 20 }).toBe(true)
    console.log(`redis: client ready again ${Date.now() - restarted} ms after the restart began`)
    expect(await client.ping()).toBe('PONG')
    expect(await client.get('k')).toBeNull() // nothing survived: no persistence
    expect(check.check()).toBe(true)
  })
})

it('backs off reconnections exponentially, capped, with jitter', () => {
  const limits = { reconnectMinDelayMs: 50, reconnectMaxDelayMs: 2000 }
  for (let i = 0; i < 50; i++) {
    const first = reconnectDelay(0, limits)
    expect(first).toBeGreaterThanOrEqual(37)
    expect(first).toBeLessThanOrEqual(63)
    expect(reconnectDelay(3, limits)).toBeGreaterThanOrEqual(300)
    expect(reconnectDelay(3, limits)).toBeLessThanOrEqual(500)
    expect(reconnectDelay(1000, limits)).toBeLessThanOrEqual(2500)
    expect(reconnectDelay(1000, limits)).toBeGreaterThanOrEqual(1500)
  }
})
