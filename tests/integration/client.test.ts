import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { WebSocketServer } from 'ws'
import {
  CLIENT_DEFAULTS,
  ChannelClient,
  ChannelError,
  backoffDelay,
  type ClientState
} from '../../src/main/channel/client'
import { ChannelServer } from '../../src/main/channel/server'
import { RawClient } from '../helpers/raw-client'
import { TcpProxy } from '../helpers/tcp-proxy'

let server: ChannelServer
let url: string
const disposables: { dispose(): void }[] = []

function client(
  uuid: string,
  extra: Partial<ConstructorParameters<typeof ChannelClient>[0]> = {}
): ChannelClient {
  const c = new ChannelClient({ url, uuid, reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...extra })
  disposables.push(c)
  return c
}

function waitFor<T>(subscribe: (done: (v: T) => void) => () => void, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error('event did not come in time'))
    }, timeoutMs)
    const off = subscribe((v) => {
      clearTimeout(timer)
      off()
      resolve(v)
    })
  })
}

beforeEach(async () => {
  server = new ChannelServer()
  url = await server.listen()
})

afterEach(async () => {
  for (const d of disposables.splice(0)) d.dispose()
  vi.useRealTimers()
  await server.close()
})

describe('ChannelClient', () => {
  it('connects with ws-channel-v1, authenticates, creates, joins and relays', async () => {
    const device = client('K1')
    const web = client('W1')
    const states: ClientState[] = []
    device.on('state', (s) => states.push(s))
    await Promise.all([device.connect(), web.connect()])
    expect(states).toEqual(['connecting', 'authenticating', 'ready'])
    const sessionid = await device.createSession()
    const joinNotify = waitFor<string>((done) =>
      device.on('notify', (f) => f.operation === 'join_session' && done(f.sessionid!))
    )
    await web.joinSession(sessionid)
    expect(await joinNotify).toBe(sessionid)
    const got = waitFor<unknown>((done) => web.on('data', (f) => done(f.data)))
    device.sendData(sessionid, { type: 'offer', sdp: 'v=0' })
    expect(await got).toEqual({ type: 'offer', sdp: 'v=0' })
  })

  it('rejects a refused request with the result code', async () => {
    const web = client('W1')
    await web.connect()
    const err = await web.joinSession('no-such-session').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ChannelError)
    expect((err as ChannelError).result_cd).toBe(404)
  })

  it('times out a request the server never answers', async () => {
    const mute = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    mute.on('connection', (ws) => ws.send('{"msgtype":"notify","operation":"iam","channeltype":"system"}'))
    await new Promise((r) => mute.once('listening', r))
    const port = (mute.address() as { port: number }).port
    const c = client('K1', {
      url: `ws://127.0.0.1:${port}/channel`,
      requestTimeoutMs: 200,
      reconnect: { enabled: false }
    })
    const err = await c.connect().catch((e: unknown) => e)
    expect(String(err)).toMatch(/no reply to auth within 200 ms/)
    expect(c.state).toBe('closed')
    mute.close()
  })

  it('sends ras_alive every 30 s by default and resolves keepalive() with the echo', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const c = client('K1')
    await c.connect()
    const sent: string[] = []
    c.on('sent', (f) => f.operation && sent.push(f.operation))
    await vi.advanceTimersByTimeAsync(CLIENT_DEFAULTS.keepaliveIntervalMs * 3)
    expect(sent.filter((op) => op === 'ras_alive')).toHaveLength(3)
    vi.useRealTimers()
    expect(await c.keepalive()).toEqual({ msgtype: 'notify', operation: 'ras_alive', channeltype: 'system' })
  })

  it('reconnects after a cut, re-authenticates and re-takes its place without the device noticing', async () => {
    const proxy = new TcpProxy(server.listeningPort)
    await proxy.start()
    const device = client('K1')
    await device.connect()
    const sessionid = await device.createSession()
    const web = client('W1', { url: `ws://127.0.0.1:${proxy.port}/channel` })
    await web.connect()
    await web.joinSession(sessionid)
    const deviceSide = await RawClient.authed(url, 'observer') // untouched by the cut
    disposables.push({ dispose: () => deviceSide.close() })

    const notifies: string[] = []
    device.on('notify', (f) => notifies.push(f.operation))
    const restored = waitFor<string>((done) => web.on('sessionRestored', done))
    proxy.cut()
    // The server sees a connection lost without a close frame: it holds the web client's slot.
    await vi.waitFor(() => expect(server.listSessions()[0]?.awayUuids).toEqual(['W1']))
    // Sent while away: delivered once the session is back.
    web.sendData(sessionid, { type: 'answer', sdp: 'queued' })
    setTimeout(() => proxy.restore(), 100)
    expect(await restored).toBe(sessionid)
    const queued = waitFor<unknown>((done) => device.on('data', (f) => done(f.data)))
    expect(await queued).toEqual({ type: 'answer', sdp: 'queued' })
    expect(web.state).toBe('ready')
    expect(server.listSessions()).toMatchObject([{ sessionid, memberUuids: ['K1', 'W1'], awayUuids: [] }])
    // Nothing changed for the device: no leave_session, no second join_session.
    expect(notifies).toEqual([])
    await proxy.stop()
  })

  it('a device that reconnects takes back the same session id', async () => {
    const proxy = new TcpProxy(server.listeningPort)
    await proxy.start()
    const device = client('K1', { url: `ws://127.0.0.1:${proxy.port}/channel` })
    await device.connect()
    const sessionid = await device.createSession()
    const restored = waitFor<string>((done) => device.on('sessionRestored', done))
    proxy.cut()
    setTimeout(() => proxy.restore(), 50)
    expect(await restored).toBe(sessionid)
    expect(server.listSessions().map((s) => s.sessionid)).toEqual([sessionid])
    await proxy.stop()
  })

  it('backs off exponentially with jitter, capped', () => {
    const p = { ...CLIENT_DEFAULTS.reconnect, initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 }
    expect([1, 2, 3, 4, 5, 9].map((a) => backoffDelay(a, p, 0.5))).toEqual([100, 200, 400, 800, 1000, 1000])
    expect(backoffDelay(1, p, 0)).toBe(50)
    expect(backoffDelay(1, p, 1)).toBe(150)
  })

  it('dispose() leaves no timer or socket behind', async () => {
    const c = client('K1')
    await c.connect()
    await c.createSession()
    expect(c.activeHandles).toBeGreaterThan(0)
    c.dispose()
    expect(c.activeHandles).toBe(0)
    expect(c.listenerCount()).toBe(0)
    await vi.waitFor(() => expect(server.connectionCount).toBe(0))
    expect(server.sessionCount).toBe(0)
  })

  it('a first connection that fails rejects with a clear message', async () => {
    const c = client('K1', { url: 'ws://127.0.0.1:1/channel' })
    await expect(c.connect()).rejects.toThrow(/connection closed|ECONNREFUSED/)
    expect(c.state).toBe('closed')
  })
})

describe('a client that sends no keep-alive of its own (strict KT mode)', () => {
  async function shortIdleServer(): Promise<void> {
    await server.close()
    server = new ChannelServer({ limits: { idleTimeoutMs: 1_200, sweepIntervalMs: 100 } })
    url = await server.listen()
  }

  it('loses its channel at the cut-off, and does not bring it back by itself', async () => {
    await shortIdleServer()
    const device = client('K0000000', { keepaliveIntervalMs: 0 })
    await device.connect()
    const id = await device.createSession({ sessionid: 'K0000000' })
    const lost = waitFor<[string, string]>((done) => device.on('sessionLost', (...a) => done(a)))
    expect(await lost).toEqual([id, 'released by the channel server: keep-alive timeout'])
    await waitFor<ClientState>((done) => device.on('state', (s) => s === 'ready' && done(s)))
    expect(device.sessionIds).toEqual([])
    expect(server.sessionCount).toBe(0)
  })

  it('keeps its channel while the application calls keepalive', async () => {
    await shortIdleServer()
    const device = client('K0000000', { keepaliveIntervalMs: 0 })
    await device.connect()
    await device.createSession({ sessionid: 'K0000000' })
    const lost = vi.fn()
    device.on('sessionLost', lost)
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 400))
      expect(await device.keepalive()).toMatchObject({ operation: 'ras_alive' })
    }
    expect(lost).not.toHaveBeenCalled()
    expect(server.listSessions().map((s) => s.sessionid)).toEqual(['K0000000'])
  })
})
