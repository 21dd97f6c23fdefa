/** Opening client sockets and reading the handshake frames of each protocol before the load starts. */
import WebSocket from 'ws'

export const SETUP_TIMEOUT_MS = 15_000

export interface OpenSocket {
  ws: WebSocket
  /** Attached before the handshake: a greeting can arrive in the same packet as the handshake reply. */
  reader: SetupReader
}

export function openSocket(url: string, subprotocol?: string): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    // Compression off, as on every server under test: the load must cost the same everywhere.
    const ws = new WebSocket(url, subprotocol ? [subprotocol] : [], { perMessageDeflate: false })
    const reader = new SetupReader(ws)
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`timed out connecting to ${url}`))
    }, SETUP_TIMEOUT_MS)
    ws.once('open', () => {
      clearTimeout(timer)
      ws.off('error', fail)
      // A socket without an error listener would end the whole load generator on its first error.
      ws.on('error', () => ws.terminate())
      resolve({ ws, reader })
    })
    ws.once('error', fail)
    function fail(e: Error): void {
      clearTimeout(timer)
      reader.detach()
      reject(e)
    }
  })
}

/** Queues the JSON frames a socket receives while it is being set up. */
export class SetupReader {
  private readonly queue: Record<string, unknown>[] = []
  private wake: (() => void) | null = null
  private readonly onMessage = (data: WebSocket.RawData): void => {
    this.queue.push(JSON.parse(String(data)) as Record<string, unknown>)
    this.wake?.()
  }

  constructor(private readonly ws: WebSocket) {
    ws.on('message', this.onMessage)
  }

  /** The next frame; fails when none comes in time or when it does not satisfy `check`. */
  async expect(
    what: string,
    check: (frame: Record<string, unknown>) => boolean
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + SETUP_TIMEOUT_MS
    while (this.queue.length === 0) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.wake = null
    }
    const frame = this.queue.shift()!
    if (!check(frame)) throw new Error(`expected ${what}, got ${JSON.stringify(frame)}`)
    return frame
  }

  detach(): void {
    this.ws.off('message', this.onMessage)
  }
}
