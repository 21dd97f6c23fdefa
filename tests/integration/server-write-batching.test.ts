/**
 * How the relay writes to the kernel: frames read together from one socket go out to their
 * member in one write, and a frame read on its own goes out at once, without waiting for a tick.
 * Counted on the real sockets (net.Socket's _write and _writev) of a server in this process.
 */
import { Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { hasMoreInRead, textFrame } from '../../src/main/channel/connection'
import { ChannelServer } from '../../src/main/channel/server'
import { RawClient } from '../helpers/raw-client'

type WriteFn = (...args: unknown[]) => unknown
const proto = Socket.prototype as unknown as { _write: WriteFn; _writev: WriteFn }
const original = { _write: proto._write, _writev: proto._writev }
/** Writes handed to the kernel by every socket of this process while counting. */
let writes = 0

function countWrites(): void {
  proto._write = function (this: Socket, ...args: unknown[]) {
    writes++
    return original._write.apply(this, args)
  }
  proto._writev = function (this: Socket, ...args: unknown[]) {
    writes++
    return original._writev.apply(this, args)
  }
}

function stopCounting(): void {
  proto._write = original._write
  proto._writev = original._writev
}

/** Sends the texts from one socket in a single write, so that the server reads them together. */
function sendTogether(ws: WebSocket, texts: string[]): void {
  const socket = (ws as unknown as { _socket: Socket })._socket
  socket.cork()
  for (const text of texts) ws.send(text)
  socket.uncork()
}

describe('hasMoreInRead', () => {
  let wss: WebSocketServer
  afterEach(() => new Promise<void>((resolve) => wss.close(() => resolve())))

  it('is true for every message of a read but the last', async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    const seen: boolean[] = []
    const done = new Promise<void>((resolve) =>
      wss.on('connection', (ws: WebSocket) =>
        ws.on('message', () => {
          seen.push(hasMoreInRead(ws))
          if (seen.length === 3) resolve()
        })
      )
    )
    const port = (wss.address() as { port: number }).port
    const client = new WebSocket(`ws://127.0.0.1:${port}/`)
    await new Promise((resolve) => client.once('open', resolve))
    sendTogether(client, ['a', 'b', 'c'])
    await done
    client.close()
    expect(seen).toEqual([true, true, false])
  })
})

describe('relay writes', () => {
  let server: ChannelServer
  const open: RawClient[] = []

  beforeEach(() => {
    server = new ChannelServer()
  })
  afterEach(async () => {
    stopCounting()
    for (const c of open.splice(0)) c.close()
    await server.close()
  })

  async function pair(): Promise<{ device: RawClient; web: RawClient; sessionid: string }> {
    const url = await server.listen()
    const device = await RawClient.authed(url, 'K-BATCH')
    const web = await RawClient.authed(url, 'W-BATCH')
    open.push(device, web)
    const created = await device.request({ msgtype: 'request', operation: 'create_session' })
    const sessionid = created.sessionid as string
    await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    await device.next((f) => f.operation === 'join_session' && f.msgtype === 'notify')
    return { device, web, sessionid }
  }

  const candidate = (sessionid: string, n: number): string =>
    JSON.stringify({
      msgtype: 'data',
      sessionid,
      data: { type: 'candidate', candidate: `candidate:${n} 1 udp` }
    })

  it('gathers the frames of one read into one write to the member', async () => {
    const { device, web, sessionid } = await pair()
    const burst = Array.from({ length: 20 }, (_, n) => candidate(sessionid, n))
    const count = web.frames.length
    writes = 0
    countWrites()
    sendTogether(device.ws, burst)
    await web.next(() => web.frames.length - count >= 20, 5000, count)
    stopCounting()
    expect(web.frames.slice(count).map((f) => JSON.stringify(f))).toEqual(burst)
    // The device's one write, and one from the server to the web client: not one per frame.
    expect(writes).toBeLessThanOrEqual(3)
  })

  it('writes a frame read on its own once, as it came', async () => {
    const { device, web, sessionid } = await pair()
    const count = web.frames.length
    countWrites()
    writes = 0
    device.send(candidate(sessionid, 1))
    await web.next((f) => f.msgtype === 'data', 5000, count)
    stopCounting()
    expect(writes).toBe(2)
  })
})

describe('textFrame', () => {
  it("is read back by ws's own receiver as the same text, at every length class", async () => {
    const { Receiver } = (await import('ws')) as unknown as {
      Receiver: new (options: { isServer: boolean }) => NodeJS.WritableStream & {
        on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): void
      }
    }
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 300_000]) {
      const payload = Buffer.alloc(length, 'a')
      const receiver = new Receiver({ isServer: false })
      const got = new Promise<{ data: Buffer; isBinary: boolean }>((resolve) =>
        receiver.on('message', (data, isBinary) => resolve({ data, isBinary }))
      )
      receiver.write(textFrame(payload))
      const { data, isBinary } = await got
      expect(isBinary).toBe(false)
      expect(data.equals(payload)).toBe(true)
    }
  })
})
