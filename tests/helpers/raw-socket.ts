/**
 * A WebSocket client over node:net that builds every frame by hand, so tests can send what no
 * library would (bad UTF-8, reserved bits, unmasked frames, oversized control frames) and can
 * stop reading altogether (a slow reader).
 */
import { randomBytes } from 'node:crypto'
import { type Socket, connect } from 'node:net'

export interface FrameOptions {
  opcode: number
  payload?: Buffer | string
  fin?: boolean
  /** Reserved bits as a number 0–7 (RSV1 = 4, RSV2 = 2, RSV3 = 1). */
  rsv?: number
  /** Clients must mask; false builds a frame a server has to refuse. */
  mask?: boolean
}

export const Opcode = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const

export function buildFrame(o: FrameOptions): Buffer {
  const payload = typeof o.payload === 'string' ? Buffer.from(o.payload) : (o.payload ?? Buffer.alloc(0))
  const mask = o.mask ?? true
  const len = payload.length
  const head: number[] = [((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | o.opcode]
  const maskBit = mask ? 0x80 : 0
  if (len < 126) head.push(maskBit | len)
  else if (len < 65536) head.push(maskBit | 126, len >> 8, len & 0xff)
  else {
    head.push(maskBit | 127, 0, 0, 0, 0)
    head.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff)
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload])
  const key = randomBytes(4)
  const body = Buffer.alloc(len)
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ key[i & 3]!
  return Buffer.concat([Buffer.from(head), key, body])
}

export interface ServerFrame {
  opcode: number
  payload: Buffer
}

export class RawSocket {
  readonly socket: Socket
  /** HTTP status of the handshake. */
  status = 0
  readonly texts: Record<string, unknown>[] = []
  /** Close code the server sent (1005 when its close frame had none), or 1006 if it sent none. */
  closeCode: number | null = null
  /** The reason in the server's close frame ('' when it had none). */
  closeReason = ''
  ended = false
  private buffer = Buffer.alloc(0)
  private handshakeDone = false
  private readonly waiters: (() => void)[] = []

  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('error', () => undefined)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('close', () => {
      this.ended = true
      if (this.closeCode === null) this.closeCode = 1006
      this.wake()
    })
  }

  /** Opens a TCP connection and performs the upgrade; resolves once the status line is read. */
  static async open(
    port: number,
    options: { path?: string; headers?: Record<string, string>; host?: string } = {}
  ): Promise<RawSocket> {
    const socket = connect(port, options.host ?? '127.0.0.1')
    const raw = new RawSocket(socket)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    const lines = [
      `GET ${options.path ?? '/channel'} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`)
    ]
    socket.write(`${lines.join('\r\n')}\r\n\r\n`)
    await raw.until(() => raw.handshakeDone || raw.ended)
    return raw
  }

  /** Opens, waits for iam and authenticates as `uuid`. */
  static async authed(port: number, uuid: string): Promise<RawSocket> {
    const raw = await RawSocket.open(port)
    if (raw.status !== 101) throw new Error(`upgrade refused: ${raw.status}`)
    await raw.next((f) => f.operation === 'iam')
    const reply = await raw.request({ msgtype: 'request', operation: 'auth', uuid })
    if (reply.result_cd !== 200) throw new Error(`auth failed: ${JSON.stringify(reply)}`)
    return raw
  }

  write(frame: FrameOptions): void {
    this.socket.write(buildFrame(frame))
  }

  sendText(value: Record<string, unknown> | string): void {
    this.write({ opcode: Opcode.TEXT, payload: typeof value === 'string' ? value : JSON.stringify(value) })
  }

  private trx = 0
  async request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    const trxid = `R:${++this.trx}`
    const from = this.texts.length
    this.sendText({ ...frame, trxid })
    return this.next((f) => f.msgtype === 'reply' && f.trxid === trxid, 5000, from)
  }

  async next(
    pred: (f: Record<string, unknown>) => boolean,
    timeoutMs = 5000,
    from = 0
  ): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined
    await this.until(() => {
      found = this.texts.slice(from).find(pred)
      return found !== undefined || this.ended
    }, timeoutMs)
    if (!found) throw new Error('socket ended before a matching frame came')
    return found
  }

  /** Resolves with the close code once the server has closed the connection. */
  async closed(timeoutMs = 5000): Promise<number> {
    await this.until(() => this.ended, timeoutMs)
    return this.closeCode ?? 1006
  }

  /** Stops reading: the kernel buffers fill, then the server's send buffer grows. */
  stopReading(): void {
    this.socket.pause()
  }

  resumeReading(): void {
    this.socket.resume()
  }

  destroy(): void {
    this.socket.destroy()
  }

  private until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
    if (cond()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(check)
        if (i >= 0) this.waiters.splice(i, 1)
        reject(new Error(`condition not met within ${timeoutMs} ms`))
      }, timeoutMs)
      const check = (): void => {
        if (!cond()) return
        clearTimeout(timer)
        const i = this.waiters.indexOf(check)
        if (i >= 0) this.waiters.splice(i, 1)
        resolve()
      }
      this.waiters.push(check)
    })
  }

  private wake(): void {
    for (const w of [...this.waiters]) w()
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk])
    if (!this.handshakeDone) {
      const end = this.buffer.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = this.buffer.subarray(0, end).toString('latin1')
      this.status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0)
      this.buffer = this.buffer.subarray(end + 4)
      this.handshakeDone = true
    }
    for (;;) {
      const frame = this.parse()
      if (!frame) break
      if (frame.opcode === Opcode.TEXT) {
        try {
          this.texts.push(JSON.parse(frame.payload.toString('utf8')) as Record<string, unknown>)
        } catch {
          this.texts.push({ unparsable: frame.payload.toString('utf8') })
        }
      } else if (frame.opcode === Opcode.CLOSE) {
        this.closeCode = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005
        this.closeReason = frame.payload.subarray(2).toString('utf8')
      }
    }
    this.wake()
  }

  private parse(): ServerFrame | null {
    const b = this.buffer
    if (b.length < 2) return null
    const opcode = b[0]! & 0x0f
    let len = b[1]! & 0x7f
    let offset = 2
    if (len === 126) {
      if (b.length < 4) return null
      len = b.readUInt16BE(2)
      offset = 4
    } else if (len === 127) {
      if (b.length < 10) return null
      len = Number(b.readBigUInt64BE(2))
      offset = 10
    }
    if (b.length < offset + len) return null
    const payload = b.subarray(offset, offset + len)
    this.buffer = b.subarray(offset + len)
    return { opcode, payload }
  }
}
