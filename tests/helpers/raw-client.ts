/** A plain `ws` client for tests: records every frame and waits for the ones a test expects. */
import WebSocket from 'ws'

export type Json = Record<string, unknown>

export class RawClient {
  readonly frames: Json[] = []
  readonly ws: WebSocket
  closeCode: number | null = null
  closeReason = ''
  private waiters: { pred: (f: Json) => boolean; resolve: (f: Json) => void; from: number }[] = []
  private closeWaiters: ((code: number) => void)[] = []

  constructor(url: string, protocols?: string | string[]) {
    this.ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols)
    this.ws.on('error', () => undefined)
    this.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Json
      this.frames.push(frame)
      this.waiters = this.waiters.filter((w) => {
        if (w.pred(frame)) {
          w.resolve(frame)
          return false
        }
        return true
      })
    })
    this.ws.on('close', (code, reason) => {
      this.closeCode = code
      this.closeReason = reason.toString()
      for (const w of this.closeWaiters) w(code)
    })
  }

  static async open(url: string, protocols?: string | string[]): Promise<RawClient> {
    const c = new RawClient(url, protocols)
    await c.next((f) => f.operation === 'iam')
    return c
  }

  /** Opens, waits for iam and authenticates as `uuid`. */
  static async authed(url: string, uuid: string): Promise<RawClient> {
    const c = await RawClient.open(url, 'ws-channel-v1')
    const reply = await c.request({ msgtype: 'request', operation: 'auth', uuid, channeltype: 'webrtcaudio' })
    if (reply.result_cd !== 200) throw new Error(`auth failed: ${JSON.stringify(reply)}`)
    return c
  }

  send(frame: Json | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** Resolves with the first frame (received from now on, or already received after `fromIndex`) matching. */
  next(pred: (f: Json) => boolean, timeoutMs = 5000, fromIndex = this.frames.length): Promise<Json> {
    const earlier = this.frames.slice(fromIndex).find(pred)
    if (earlier) return Promise.resolve(earlier)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms`)), timeoutMs)
      this.waiters.push({
        pred,
        from: fromIndex,
        resolve: (f) => {
          clearTimeout(timer)
          resolve(f)
        }
      })
    })
  }

  private trx = 0
  /** Sends a request with a fresh trxid and resolves with the reply echoing it. */
  request(frame: Json): Promise<Json> {
    const trxid = `T:${++this.trx}`
    const from = this.frames.length
    this.send({ ...frame, trxid })
    return this.next((f) => f.msgtype === 'reply' && f.trxid === trxid, 5000, from)
  }

  /** Sends anything and resolves with the next reply (for frames that carry no trxid). */
  sendAndReply(frame: Json | string): Promise<Json> {
    const from = this.frames.length
    this.send(frame)
    return this.next((f) => f.msgtype === 'reply', 5000, from)
  }

  closed(timeoutMs = 5000): Promise<number> {
    if (this.closeCode !== null) return Promise.resolve(this.closeCode)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket not closed in time')), timeoutMs)
      this.closeWaiters.push((code) => {
        clearTimeout(timer)
        resolve(code)
      })
    })
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  close(): void {
    this.ws.close()
  }
}

/** Lets pending socket events run (for asserting that nothing arrived). */
export async function settle(ms = 100): Promise<void> {
  await new Promise((r) => setTimeout(r, ms))
}
