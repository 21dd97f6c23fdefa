/**
 * A minimal client of Node's inspector protocol, for a server started with
 * `--inspect=127.0.0.1:0`: forces a full garbage collection and reads the heap in use. RSS alone
 * cannot tell a leak from a heap that has not been collected yet, or from pages V8 keeps after a
 * collection; the heap in use right after a full collection can.
 */
import WebSocket from 'ws'

export class Inspector {
  private nextId = 1
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } }
      if (msg.id === undefined) return
      const waiter = this.pending.get(msg.id)
      this.pending.delete(msg.id)
      if (msg.error) waiter?.reject(new Error(msg.error.message))
      else waiter?.resolve(msg.result)
    })
    ws.on('close', () => {
      for (const w of this.pending.values()) w.reject(new Error('inspector connection closed'))
      this.pending.clear()
    })
  }

  /** `url` is the ws:// address the process prints on stderr ("Debugger listening on …"). */
  static connect(url: string, timeoutMs = 10_000): Promise<Inspector> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false })
      const timer = setTimeout(() => {
        ws.terminate()
        reject(new Error(`no inspector at ${url} within ${timeoutMs} ms`))
      }, timeoutMs)
      ws.once('open', () => {
        clearTimeout(timer)
        ws.on('error', () => ws.terminate())
        resolve(new Inspector(ws))
      })
      ws.once('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
    })
  }

  call(method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<unknown> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`inspector: no answer to ${method} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        }
      })
      this.ws.send(JSON.stringify({ id, method, params }))
    })
  }

  /** Bytes of JavaScript heap in use right after a full garbage collection. */
  async heapUsedAfterGc(): Promise<number> {
    await this.call('HeapProfiler.collectGarbage')
    const usage = (await this.call('Runtime.getHeapUsage')) as { usedSize: number }
    return usage.usedSize
  }

  close(): void {
    this.ws.close()
  }
}
