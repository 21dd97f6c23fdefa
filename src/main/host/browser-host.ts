/**
 * The browser host: the same core as the Electron app, with the renderer served over HTTP on
 * loopback and the bridge contract carried over a WebSocket (/bridge). A random token in the URL
 * guards the control plane (/bridge and /api); the static files are the public app code.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { WebSocketServer, type WebSocket } from 'ws'
import {
  type BridgeClientMessage,
  type BridgeHostMessage,
  type Events,
  isFireAndForget
} from '../../shared/contract'
import { ResultCode } from '../../shared/protocol'
import type { AppCore } from '../core/app-core'
import { type ListenerError, ListenerFaults, isOutOfDescriptors } from '../channel/listener-faults'
import { CONTENT_SECURITY_POLICY } from '../electron/security'

export interface BrowserHostOptions {
  core: AppCore
  /** The built renderer (out/renderer). */
  rendererDir: string
  host?: string
  port?: number
  token?: string
  /** See BRIDGE_DEFER_MS. */
  deferMs?: number
  limits?: Partial<HostLimits>
}

/** What one page, and all pages together, may cost the host; each one named and overridable. */
export interface HostLimits {
  /** Largest bridge message accepted from a page (signaling payloads are a few KB). */
  maxMessageBytes: number
  /**
   * Bytes queued for a page that does not read before it is cut off (close 4429): a page that
   * asks and never reads its answers would otherwise hold them all in the host's memory.
   */
  maxBufferedBytes: number
  /** Commands of one page being handled at once; the excess is answered 429 straight away. */
  maxPendingCalls: number
  /** Open /bridge sockets in all; further upgrades get HTTP 503. */
  maxPages: number
  /** A page cut off that does not answer the close is dropped after this long. */
  closeTimeoutMs: number
}

export const HOST_LIMITS: Readonly<HostLimits> = Object.freeze({
  maxMessageBytes: 256 * 1024,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxPendingCalls: 256,
  maxPages: 32,
  closeTimeoutMs: 2_000
})

/** Largest bridge message accepted from a page (kept for callers of the old name). */
export const BRIDGE_MAX_MESSAGE_BYTES = HOST_LIMITS.maxMessageBytes

/** Close codes a page may see, with a reason it can show. */
export const BridgeClose = {
  BAD_MESSAGE: 1008,
  HOST_ERROR: 1011,
  SLOW_READER: 4429
} as const

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wav': 'audio/wav',
  '.woff2': 'font/woff2'
}

/**
 * How long a page's messages that nobody waits on (see `canWait`) may wait for one that matters:
 * they then travel with it, instead of costing a WebSocket message (a write here, a task on the
 * page's main thread) each while a call is being set up.
 */
export const BRIDGE_DEFER_MS = 250

/**
 * Messages nobody waits on: the success of a fire-and-forget command, and the echo of a frame the
 * page's own connection sent (it feeds the signaling view). Failures and everything else go at once.
 */
function canWait(msg: BridgeHostMessage, command?: string): boolean {
  if (msg.kind === 'result') return msg.outcome.ok && command !== undefined && isFireAndForget(command)
  return msg.name === 'channel:frame' && (msg.payload as Events['channel:frame']).direction === 'out'
}

/**
 * A page's outgoing messages, sent together once the current turn of the event loop is over: a
 * command's result and the frame event it caused, or a burst of candidates, cost one WebSocket
 * message. Messages that can wait are held up to `deferMs` for the next one that cannot; the order
 * of all messages is kept.
 */
class PageOutbox {
  /** The batch's messages, each already JSON: its size is known as it grows. */
  private batch: string[] = []
  private batchBytes = 0
  private immediate: NodeJS.Immediate | null = null
  private timer: NodeJS.Timeout | null = null
  private closed = false

  constructor(
    private readonly ws: WebSocket,
    private readonly deferMs: number,
    private readonly maxBufferedBytes: number,
    /** The page cannot be served any more: cut it off with this close code and reason. */
    private readonly cutOff: (code: number, reason: string) => void
  ) {}

  /**
   * Called from command results and from events of sockets and timers: a message that cannot be
   * encoded, or a page that lets its messages pile up, ends this page, never the host.
   */
  send(msg: BridgeHostMessage, command?: string): void {
    if (this.closed) return
    let text: string
    try {
      text = JSON.stringify(msg)
    } catch (e) {
      console.error(`browser host: a message for a page could not be encoded: ${String(e)}`)
      return this.cutOff(BridgeClose.HOST_ERROR, 'the host could not encode a message for this page')
    }
    this.batchBytes += text.length + 1
    if (this.ws.bufferedAmount + this.batchBytes > this.maxBufferedBytes) {
      return this.cutOff(
        BridgeClose.SLOW_READER,
        `the page did not read its messages (over ${this.maxBufferedBytes} bytes waiting)`
      )
    }
    this.batch.push(text)
    if (this.immediate) return
    if (!canWait(msg, command)) this.immediate = setImmediate(() => this.flush())
    else this.timer ??= setTimeout(() => this.flush(), this.deferMs)
  }

  /** Drops what is still held: the page is gone. */
  close(): void {
    this.closed = true
    this.cancel()
    this.batch = []
    this.batchBytes = 0
  }

  private flush(): void {
    this.cancel()
    const messages = this.batch
    this.batch = []
    this.batchBytes = 0
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(`[${messages.join(',')}]`)
  }

  private cancel(): void {
    if (this.immediate) clearImmediate(this.immediate)
    if (this.timer) clearTimeout(this.timer)
    this.immediate = null
    this.timer = null
  }
}

export class BrowserHost {
  readonly token: string
  private http: Server | null = null
  private wss: WebSocketServer | null = null
  private readonly sockets = new Set<WebSocket>()
  private readonly root: string
  private address: AddressInfo | null = null
  private readonly listenerFaults = new ListenerFaults()
  readonly limits: HostLimits

  constructor(private readonly options: BrowserHostOptions) {
    this.token = options.token ?? randomBytes(16).toString('hex')
    this.root = resolve(options.rendererDir)
    this.limits = { ...HOST_LIMITS, ...options.limits }
  }

  async start(): Promise<string> {
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxMessageBytes,
      perMessageDeflate: false
    })
    const http = createServer((req, res) => {
      this.serve(req, res).catch((e: unknown) => {
        console.error(`browser host: ${req.method ?? '?'} failed: ${String(e)}`)
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('host error\n')
        else res.destroy()
      })
    })
    // Requests that Node's parser refuses (bad request line, bad headers) get 400, not a crash.
    http.on('clientError', (_err, socket) => {
      if (socket.writable)
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      else socket.destroy()
    })
    http.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy())
      const refuse = (status: string): void => {
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      }
      try {
        if (!this.hostOk(req)) return refuse('421 Misdirected Request')
        const url = requestUrl(req)
        if (url === null) return refuse('400 Bad Request')
        if (url.pathname !== '/bridge' || !this.tokenOk(url.searchParams.get('token')))
          return refuse('403 Forbidden')
        // A browser always names the page's origin: only the host's own pages may drive it.
        const origin = req.headers.origin
        if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`)
          return refuse('403 Forbidden')
        if (this.sockets.size >= this.limits.maxPages) return refuse('503 Service Unavailable')
        wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws))
      } catch (e) {
        console.error(`browser host: an upgrade failed: ${String(e)}`)
        socket.destroy()
      }
    })
    this.http = http
    this.wss = wss
    await new Promise<void>((res, rej) => {
      http.once('error', rej)
      http.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        http.off('error', rej)
        res()
      })
    })
    // A failed accept (EMFILE, ENFILE) is an 'error' of the listening server: unheard, it would
    // end the process. The listening socket stays open, so the host serves on.
    http.on('error', (e: ListenerError) => this.listenerFault(e))
    this.address = http.address() as AddressInfo
    return this.url
  }

  /** The URL a person opens (token included). */
  get url(): string {
    if (!this.address) throw new Error('browser host is not listening')
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address
    return `http://${host}:${this.address.port}/?token=${this.token}`
  }

  get connectedPages(): number {
    return this.sockets.size
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate()
    this.sockets.clear()
    this.wss?.close()
    const http = this.http
    this.http = null
    if (http) {
      http.closeAllConnections()
      await new Promise<void>((r) => http.close(() => r()))
    }
  }

  /** Logged at most once a second (ListenerFaults), so that a descriptor shortage does not flood stderr. */
  private listenerFault(err: ListenerError): void {
    if (this.listenerFaults.note() === null) return
    const advice = isOutOfDescriptors(err)
      ? 'cannot accept connections: out of file descriptors; raise the descriptor limit (ulimit -n)'
      : 'the listening socket reported an error'
    console.error(`browser host: ${advice} (${err.message}); still serving`)
  }

  private tokenOk(given: string | null): boolean {
    if (!given) return false
    const a = Buffer.from(given)
    const b = Buffer.from(this.token)
    return a.length === b.length && timingSafeEqual(a, b)
  }

  /**
   * Whether the request names this host: a loopback name (or the address it was told to bind).
   * Anything else is a page of another site that reached us through DNS rebinding.
   */
  private hostOk(req: IncomingMessage): boolean {
    const host = req.headers.host
    if (host === undefined) return false
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(host)
    if (!m) return false
    const name = m[1]!.toLowerCase()
    if (m[2] !== undefined && Number(m[2]) !== this.address?.port) return false
    return isLoopbackName(name) || name === this.options.host || `[${this.options.host ?? ''}]` === name
  }

  private attach(ws: WebSocket): void {
    this.sockets.add(ws)
    let pending = 0
    let closing = false
    const cutOff = (code: number, reason: string): void => {
      if (closing) return
      closing = true
      scope.dispose()
      outbox.close()
      ws.close(code, reason)
      // A page that does not read will not read the close either.
      setTimeout(() => ws.terminate(), this.limits.closeTimeoutMs).unref()
    }
    const outbox = new PageOutbox(
      ws,
      this.options.deferMs ?? BRIDGE_DEFER_MS,
      this.limits.maxBufferedBytes,
      cutOff
    )
    const scope = this.options.core.openScope((name, payload) =>
      outbox.send({ kind: 'event', name, payload })
    )
    ws.on('error', () => ws.terminate())
    ws.on('close', () => {
      this.sockets.delete(ws)
      outbox.close()
      scope.dispose()
    })
    ws.on('message', (data, isBinary) => {
      if (closing) return
      let msg: BridgeClientMessage
      try {
        if (isBinary) throw new Error('binary')
        msg = JSON.parse(data.toString()) as BridgeClientMessage
        if (typeof msg !== 'object' || msg === null || msg.kind !== 'call' || !Number.isSafeInteger(msg.id))
          throw new Error('shape')
      } catch {
        cutOff(BridgeClose.BAD_MESSAGE, 'bridge messages are JSON {kind:"call", id, name, req}')
        return
      }
      const { id, name } = msg
      if (pending >= this.limits.maxPendingCalls) {
        const error = {
          result_cd: ResultCode.RATE_LIMITED,
          message: `more than ${this.limits.maxPendingCalls} commands at once; wait for their answers`
        }
        outbox.send({ kind: 'result', id, outcome: { ok: false, error } })
        return
      }
      pending++
      void scope.handle(name, msg.req).then((outcome) => {
        pending--
        outbox.send({ kind: 'result', id, outcome }, typeof name === 'string' ? name : undefined)
      })
    })
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('Referrer-Policy', 'no-referrer')
    if (!this.hostOk(req)) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('this host answers to loopback names only\n')
      return
    }
    const url = requestUrl(req)
    if (url === null) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request target\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end()
      return
    }
    if (url.pathname === '/api/info') {
      if (!this.tokenOk(url.searchParams.get('token'))) {
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"error":"token required"}')
        return
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(JSON.stringify(this.options.core.info()))
      return
    }
    const rel = url.pathname === '/' ? '/index.html' : decodePath(url.pathname)
    if (rel === null) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request target\n')
      return
    }
    const file = normalize(join(this.root, rel))
    if (file !== this.root && !file.startsWith(this.root + sep)) {
      res.writeHead(403).end()
      return
    }
    try {
      const info = await stat(file)
      if (!info.isFile()) throw new Error('not a file')
      const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream'
      const headers: Record<string, string | number> = { 'content-type': type, 'content-length': info.size }
      if (type.startsWith('text/html')) {
        headers['Content-Security-Policy'] = CONTENT_SECURITY_POLICY
        headers['cache-control'] = 'no-store'
      }
      res.writeHead(200, headers)
      if (req.method === 'HEAD') res.end()
      else
        createReadStream(file)
          .on('error', () => res.destroy())
          .pipe(res)
    } catch {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end(rel === '/index.html' ? 'the renderer is not built: run `npm run build`\n' : 'not found\n')
    }
  }
}

/**
 * The request target as a URL, or null when it is not a plain path (origin-form, RFC 9112 §3.2.1):
 * `//`, `/\`, absolute URLs and anything the URL parser refuses.
 */
function requestUrl(req: IncomingMessage): URL | null {
  const target = req.url ?? ''
  if (!target.startsWith('/') || target.startsWith('//') || target.startsWith('/\\')) return null
  try {
    return new URL(target, 'http://host.invalid')
  } catch {
    return null
  }
}

/** The decoded path, or null when its escapes are malformed (`%ZZ`) or it holds a NUL. */
function decodePath(pathname: string): string | null {
  try {
    const decoded = decodeURIComponent(pathname)
    return decoded.includes('\0') ? null : decoded
  } catch {
    return null
  }
}

function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(name)
}
