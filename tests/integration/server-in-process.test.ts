import type { Duplex } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ChannelClient, type ClientState } from '../../src/main/channel/client'
import { memorySocketPair } from '../../src/main/channel/memory-socket'
import { ChannelServer } from '../../src/main/channel/server'

let server: ChannelServer
let url: string
const clients: ChannelClient[] = []

/**
 * A client of the server: in process (the app's own windows) or over loopback TCP. `onSocket` sees
 * each in-process socket the client opens.
 */
function client(uuid: string, inProcess: boolean, onSocket?: (socket: Duplex) => void): ChannelClient {
  const connect = (): Duplex => {
    const socket = server.connectInProcess()
    onSocket?.(socket)
    return socket
  }
  const c = new ChannelClient({
    url,
    uuid,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...(inProcess ? { connect } : {})
  })
  clients.push(c)
  return c
}

beforeEach(async () => {
  server = new ChannelServer()
  url = await server.listen()
})

afterEach(async () => {
  for (const c of clients.splice(0)) c.dispose()
  await server.close()
})

describe('in-process connections to the channel server', () => {
  it('speak the same protocol as TCP clients, and relay to and from them both ways, in order', async () => {
    const device = client('K1', true)
    const web = client('W1', false)
    await Promise.all([device.connect(), web.connect()])
    expect(server.connectionCount).toBe(2)
    const sessionid = await device.createSession()
    await web.joinSession(sessionid)
    const atWeb: unknown[] = []
    const atDevice: unknown[] = []
    web.on('data', (f) => atWeb.push(f.data))
    device.on('data', (f) => atDevice.push(f.data))
    for (let i = 0; i < 50; i++) {
      device.sendData(sessionid, { type: 'candidate', n: i })
      web.sendData(sessionid, { type: 'candidate', n: i })
    }
    await vi.waitFor(() => expect([atWeb.length, atDevice.length]).toEqual([50, 50]))
    expect(atWeb.map((d) => (d as { n: number }).n)).toEqual([...Array(50).keys()])
    expect(atDevice.map((d) => (d as { n: number }).n)).toEqual([...Array(50).keys()])
  })

  it('send a burst of relayed frames on in one write, in order', async () => {
    const device = client('K1', true)
    let webSocket: Duplex | null = null
    const web = client('W1', true, (socket) => (webSocket = socket))
    await Promise.all([device.connect(), web.connect()])
    const sessionid = await device.createSession()
    await web.joinSession(sessionid)
    const received: number[] = []
    web.on('data', (f) => received.push((f.data as { n: number }).n))
    let writes = 0
    webSocket!.on('data', () => writes++)
    // Five frames the server reads in one go: the web side's socket gets them in one write.
    for (let n = 0; n < 5; n++) device.sendData(sessionid, { type: 'candidate', n })
    await vi.waitFor(() => expect(received).toEqual([0, 1, 2, 3, 4]))
    expect(writes).toBe(1)
  })

  it('are counted like any client, and end with the server', async () => {
    const device = client('K1', true)
    await device.connect()
    await device.createSession()
    expect(server.connectionCount).toBe(1)
    const states: ClientState[] = []
    device.on('state', (s) => states.push(s))
    await server.close()
    await vi.waitFor(() => expect(states).toContain('reconnecting'))
    expect(server.connectionCount).toBe(0)
    // A server that is not listening has no in-process door either: the client keeps retrying.
    expect(() => server.connectInProcess()).toThrow(/not listening/)
  })

  it('a disposed client leaves no connection behind', async () => {
    const device = client('K1', true)
    await device.connect()
    await device.createSession()
    device.dispose()
    await vi.waitFor(() => expect(server.connectionCount).toBe(0))
    expect(server.sessionCount).toBe(0)
  })
})

describe('memorySocketPair', () => {
  it('carries bytes in order, never inside the writer’s call, writes of one tick as one read, and ends both sides together', async () => {
    const [a, b] = memorySocketPair()
    const got: string[] = []
    b.on('data', (d: Buffer) => got.push(d.toString()))
    a.write('one')
    a.write('two')
    expect(got).toEqual([])
    await new Promise((r) => setImmediate(r))
    expect(got).toEqual(['onetwo'])
    a.write('three')
    await new Promise((r) => setImmediate(r))
    expect(got).toEqual(['onetwo', 'three'])
    const closed = new Promise((r) => b.on('close', r))
    a.destroy()
    await closed
    expect(b.destroyed).toBe(true)
  })
})
