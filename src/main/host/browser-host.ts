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
import type { AppCore } from '../core/app-core'
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
}

/** Largest bridge message accepted from a page (signaling payloads are a few KB). */
export const BRIDGE_MAX_MESSAGE_BYTES = 256 * 1024

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
  private batch: BridgeHostMessage[] = []
  private immediate: NodeJS.Immediate | null = null
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly ws: WebSocket,
    private readonly deferMs: number
  ) {}

  send(msg: BridgeHostMessage, command?: string): void {
    this.batch.push(msg)
    if (this.immediate) return
    if (!canWait(msg, command)) this.immediate = setImmediate(() => this.flush())
    else this.timer ??= setTimeout(() => this.flush(), this.deferMs)
  }

  /** Drops what is still held: the page is gone. */
  close(): void {
    this.cancel()
    this.batch = []
  }

  private flush(): void {
    this.cancel()
    const messages = this.batch
    this.batch = []
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(messages))
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

  constructor(private readonly options: BrowserHostOptions) {
    this.token = options.token ?? randomBytes(16).toString('hex')
    this.root = resolve(options.rendererDir)
  }

  async start(): Promise<string> {
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: BRIDGE_MAX_MESSAGE_BYTES,
      perMessageDeflate: false
    })
    const http = createServer((req, res) => void this.serve(req, res))
    http.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy())
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname !== '/bridge' || !this.tokenOk(url.searchParams.get('token'))) {
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        return
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws))
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

  private tokenOk(given: string | null): boolean {
    if (!given) return false
    const a = Buffer.from(given)
    const b = Buffer.from(this.token)
    return a.length === b.length && timingSafeEqual(a, b)
  }

  private attach(ws: WebSocket): void {
    this.sockets.add(ws)
    const outbox = new PageOutbox(ws, this.options.deferMs ?? BRIDGE_DEFER_MS)
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
      let msg: BridgeClientMessage
      try {
        if (isBinary) throw new Error('binary')
        msg = JSON.parse(data.toString()) as BridgeClientMessage
        if (msg.kind !== 'call' || typeof msg.id !== 'number') throw new Error('shape')
      } catch {
        ws.close(1008, 'bridge messages are JSON {kind:"call", id, name, req}')
        return
      }
      void scope
        .handle(msg.name, msg.req)
        .then((outcome) => outbox.send({ kind: 'result', id: msg.id, outcome }, msg.name))
    })
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('Referrer-Policy', 'no-referrer')
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
    const rel = url.pathname === '/' ? '/index.html' : decodeURIComponent(url.pathname)
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
