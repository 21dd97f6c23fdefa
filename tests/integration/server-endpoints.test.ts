/** The channel server's own HTTP endpoints (/healthz, /readyz, /metrics) and its structured logs. */
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { ChannelServer, type ChannelServerOptions } from '../../src/main/channel/server'
import { createLogger } from '../../src/main/log'
import { RawClient } from '../helpers/raw-client'
import { RawSocket } from '../helpers/raw-socket'

let server: ChannelServer | null = null
const clients: RawClient[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await server?.close()
  server = null
})

async function start(options: ChannelServerOptions = {}): Promise<ChannelServer> {
  server = new ChannelServer(options)
  await server.listen()
  return server
}

function httpBase(s: ChannelServer): string {
  return `http://127.0.0.1:${s.listeningPort}`
}

async function get(s: ChannelServer, path: string, init: RequestInit = {}): Promise<[number, string]> {
  const res = await fetch(`${httpBase(s)}${path}`, init)
  return [res.status, await res.text()]
}

/** The value of one sample line of the Prometheus text, e.g. `genie_bridge_sessions` or `x{a="1"}`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

async function authed(s: ChannelServer, uuid: string): Promise<RawClient> {
  const c = await RawClient.authed(s.url, uuid)
  clients.push(c)
  return c
}

describe('GET /healthz and /readyz', () => {
  it('answers 200 while up, 503 with the reason while a readiness check says no, and 426 elsewhere', async () => {
    const s = await start()
    expect(await get(s, '/healthz')).toEqual([200, 'ok\n'])
    expect(await get(s, '/readyz')).toEqual([200, 'ready\n'])

    let redisUp: true | string = 'unreachable for 3 s'
    const remove = s.addReadinessCheck({ name: 'redis', check: () => redisUp })
    expect(await get(s, '/readyz')).toEqual([503, 'not ready: redis: unreachable for 3 s\n'])
    expect(await get(s, '/healthz')).toEqual([200, 'ok\n']) // alive all the same
    redisUp = true
    expect((await get(s, '/readyz'))[0]).toBe(200)
    redisUp = 'down'
    remove()
    expect((await get(s, '/readyz'))[0]).toBe(200)

    s.addReadinessCheck({
      name: 'broken',
      check: () => {
        throw new Error('check failed')
      }
    })
    expect(await get(s, '/readyz')).toEqual([503, 'not ready: broken: check failed\n'])

    expect((await get(s, '/channel'))[0]).toBe(426)
    expect((await get(s, '/'))[0]).toBe(426)
    expect((await get(s, '/healthz', { method: 'POST' }))[0]).toBe(405)
    const head = await fetch(`${httpBase(s)}/healthz`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('cache-control')).toBe('no-store')
  })

  it('takes readiness checks as an option too', async () => {
    const s = await start({ readiness: [{ name: 'store', check: () => 'not connected yet' }] })
    expect(await get(s, '/readyz')).toEqual([503, 'not ready: store: not connected yet\n'])
  })

  it('goes unready the moment shutdown begins, and refuses new upgrades while members are told', async () => {
    const s = await start({ limits: { closeTimeoutMs: 1500 } })
    // A member that never answers the close frame keeps the shutdown open for closeTimeoutMs.
    const stuck = await RawSocket.authed(s.listeningPort, 'STUCK')
    const { sessionid } = await stuck.request({ msgtype: 'request', operation: 'create_session' })
    const web = await authed(s, 'W1')
    await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    stuck.stopReading()
    const closing = s.close()
    expect(await get(s, '/readyz')).toEqual([503, 'not ready: shutting down\n'])
    expect((await get(s, '/healthz'))[0]).toBe(200)
    const late = await RawSocket.open(s.listeningPort)
    expect(late.status).toBe(503)
    late.destroy()
    expect((await web.next((f) => f.operation === 'destroy_session', 5000, 0)).sessionid).toBe(sessionid)
    expect(await web.closed()).toBe(1001)
    await closing
    stuck.destroy()
    server = null
  })
})

describe('GET /metrics', () => {
  it('reports connections, sessions, relayed and refused frames, bytes and held frames', async () => {
    const s = await start({ limits: { reconnectGraceMs: 10_000 }, paths: ['/channel'] })
    const device = await authed(s, 'K1')
    const web = await RawSocket.authed(s.listeningPort, 'W1')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    const frame = JSON.stringify({ msgtype: 'data', sessionid, data: { n: 1 } })
    for (let i = 0; i < 5; i++) device.send(frame)
    await expect.poll(() => web.texts.filter((f) => f['msgtype'] === 'data').length).toBe(5)
    await web.request({ msgtype: 'request', operation: 'join_session', sessionid: 'nope' }) // 404
    expect((await RawSocket.open(s.listeningPort, { path: '/elsewhere' })).status).toBe(404)

    const [status, text] = await get(s, '/metrics')
    expect(status).toBe(200)
    expect(sample(text, 'genie_bridge_ready')).toBe(1)
    expect(sample(text, 'genie_bridge_connections')).toBe(2)
    expect(sample(text, 'genie_bridge_sessions')).toBe(1)
    expect(sample(text, 'genie_bridge_sessions_created_total')).toBe(1)
    expect(sample(text, 'genie_bridge_connections_total')).toBe(2)
    expect(sample(text, 'genie_bridge_frames_relayed_total')).toBe(5)
    expect(sample(text, 'genie_bridge_relayed_bytes_total')).toBe(5 * Buffer.byteLength(frame))
    expect(sample(text, 'genie_bridge_frames_refused_total{result_cd="404"}')).toBe(1)
    expect(sample(text, 'genie_bridge_upgrades_refused_total{status="404"}')).toBe(1)
    expect(sample(text, 'genie_bridge_frames_received_total')).toBeGreaterThanOrEqual(5 + 2 + 2 + 1)
    expect(sample(text, 'genie_bridge_held_frames')).toBe(0)
    // The Redis metrics exist before anything feeds them, and Node's own metrics are there.
    expect(text).toContain('# TYPE genie_bridge_redis_round_trip_seconds histogram')
    expect(text).toContain('# TYPE genie_bridge_redis_errors_total counter')
    expect(text).toContain('genie_bridge_process_resident_memory_bytes')

    // The web client's connection is lost: what the device sends meanwhile is held for it.
    web.destroy()
    await expect.poll(() => s.stats().awaySlots).toBe(1)
    device.send(frame)
    device.send(frame)
    await expect.poll(async () => sample((await get(s, '/metrics'))[1], 'genie_bridge_held_frames')).toBe(2)
    const after = (await get(s, '/metrics'))[1]
    expect(sample(after, 'genie_bridge_away_slots')).toBe(1)
    expect(sample(after, 'genie_bridge_held_bytes')).toBe(2 * Buffer.byteLength(frame))
  })

  it("starts Node's process metrics at the first scrape, with measured event-loop figures", async () => {
    const s = await start()
    const lagP50 = 'genie_bridge_nodejs_eventloop_lag_p50_seconds'
    // Until then nothing samples the event loop: an unscraped server is not woken for it.
    expect(s.metrics.registry.getSingleMetric(lagP50)).toBeUndefined()
    // Two scrapes at once start them once (a second registration would throw).
    const [first, second] = await Promise.all([get(s, '/metrics'), get(s, '/metrics')])
    expect([first[0], second[0]]).toEqual([200, 200])
    // The one collected first has the monitor's samples (the other, an instant later, none yet).
    const lagMin = 'genie_bridge_nodejs_eventloop_lag_min_seconds'
    const [measured] = [first[1], second[1]].sort((a, b) => sample(a, lagMin)! - sample(b, lagMin)!)
    expect(sample(measured!, lagMin)).toBeLessThan(1)
    expect(sample(measured!, lagP50)).toBeGreaterThan(0)
    for (const [, text] of [first, second])
      expect(sample(text, 'genie_bridge_process_resident_memory_bytes')).toBeGreaterThan(0)
    expect(s.metrics.registry.getSingleMetric(lagP50)).toBeDefined()
  })

  it('feeds the Redis metrics through the registration hook', async () => {
    const s = await start()
    s.metrics.redis.observeRoundTrip('eval', 0.0007)
    s.metrics.redis.countError('timeout')
    s.metrics.redis.countError('timeout')
    const text = (await get(s, '/metrics'))[1]
    expect(sample(text, 'genie_bridge_redis_round_trip_seconds_count{command="eval"}')).toBe(1)
    expect(sample(text, 'genie_bridge_redis_round_trip_seconds_bucket{le="0.001",command="eval"}')).toBe(1)
    expect(sample(text, 'genie_bridge_redis_errors_total{kind="timeout"}')).toBe(2)
  })

  it('needs the access token when the server has one', async () => {
    const token = 'metrics-token-0123456789abcdef'
    const s = await start({ token })
    expect((await get(s, '/metrics'))[0]).toBe(401)
    expect(
      (await get(s, '/metrics', { headers: { authorization: 'Bearer wrong-token-000000000' } }))[0]
    ).toBe(401)
    expect((await get(s, '/metrics', { headers: { authorization: `Bearer ${token}` } }))[0]).toBe(200)
    expect((await get(s, `/metrics?token=${token}`))[0]).toBe(200)
    expect((await get(s, '/readyz'))[0]).toBe(200) // probes need none
  })
})

describe('structured logs', () => {
  it('logs connections, sessions, refusals and faults as JSON, and never the token', async () => {
    const lines: string[] = []
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean))
        done()
      }
    })
    const token = 'log-secret-token-0123456789abcdef'
    const s = await start({
      token,
      paths: ['/channel'],
      logger: createLogger({ level: 'trace', destination })
    })
    const device = await RawClient.authed(`${s.url}?token=${token}`, 'K1')
    clients.push(device)
    await device.request({ msgtype: 'request', operation: 'create_session' })
    await device.request({ msgtype: 'request', operation: 'join_session', sessionid: 'missing' })
    // Refused upgrades with the token in the wrong place, a wrong token, and a right one as a header.
    expect((await RawSocket.open(s.listeningPort, { path: `/nowhere?token=${token}` })).status).toBe(404)
    const wrong = await RawSocket.open(s.listeningPort, { path: `/channel?token=${token}x` })
    expect(wrong.status).toBe(401)
    const bearer = await RawSocket.open(s.listeningPort, { headers: { Authorization: `Bearer ${token}` } })
    expect(bearer.status).toBe(101)
    bearer.write({ opcode: 1, payload: Buffer.from([0xff, 0xfe]) }) // bad UTF-8: a protocol fault
    await bearer.closed()
    await get(s, `/metrics?token=${token}`)
    await s.close()
    server = null
    await expect.poll(() => lines.some((l) => l.includes('channel server stopped'))).toBe(true)

    for (const line of lines) {
      expect(line).not.toContain(token)
      expect(line).not.toContain(token.slice(0, 16))
    }
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    const messages = entries.map((e) => e['msg'])
    for (const m of [
      'channel server listening',
      'connection opened',
      'session created',
      'refused',
      'upgrade refused',
      'connection fault: protocol error',
      'connection closed',
      'session ended',
      'channel server stopped'
    ])
      expect(messages).toContain(m)
    expect(entries.find((e) => e['msg'] === 'refused')).toMatchObject({
      level: 'info',
      result_cd: 404,
      uuid: 'K1'
    })
    expect(entries.find((e) => e['msg'] === 'upgrade refused' && e['status'] === 401)).toMatchObject({
      path: '/channel'
    })
    expect(entries.find((e) => e['msg'] === 'connection fault: protocol error')).toMatchObject({
      level: 'warn'
    })
    expect(typeof entries[0]!['time']).toBe('string')
  })
})
