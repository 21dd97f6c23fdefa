/**
 * The channel server: the WebSocket relay of PROTOCOL.md §1–5 and §7.
 * Plain Node (no electron): embedded by both hosts and runnable headless (`npm run serve`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { type IncomingMessage, type Server as HttpServer, createServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { memorySocketPair } from './memory-socket'
import { type RawData, type WebSocket, WebSocketServer } from 'ws'
import {
  type ChannelType,
  type Frame,
  LEAVE_SESSION,
  type RequestFrame,
  ResultCode,
  SUBPROTOCOL,
  frames,
  isDevModeOperation,
  parseFrame
} from '../../shared/protocol'
import { FALL_BACK, readDataEnvelope } from './data-envelope'
import { CloseCode, type ServerLimits, resolveLimits } from './limits'
import { LIST_SESSIONS, Presence } from './presence'

export interface ChannelServerOptions {
  /** Interface to bind; loopback by default so that nothing is exposed unless asked. */
  host?: string
  /** 0 picks a free port. */
  port?: number
  limits?: Partial<ServerLimits>
  /** Answer each ras_alive with the same notify (PROTOCOL.md §3: "may"). */
  echoKeepalive?: boolean
  /** Paths a client may connect to; the public service uses /channel. */
  paths?: readonly string[]
  /** Observes every frame in and out (for the signaling view); costs nothing when absent. */
  tap?: (event: TapEvent) => void
  /**
   * Access token a client must present at upgrade, as `?token=` in the URL (browsers cannot set
   * headers on a WebSocket) or as `Authorization: Bearer`. Refused upgrades get HTTP 401.
   */
  token?: string | null
  /**
   * Origins (`https://example.com`, or `null` for opaque origins) whose pages may connect.
   * Absent or empty: any origin, as the public service allows. A client that sends no Origin
   * header is not a browser page and is let through (it could claim any origin anyway).
   */
  allowOrigins?: readonly string[]
  /** Uuids that may authenticate; others get result_cd 403. Absent or empty: any uuid. */
  allowUuids?: readonly string[]
  /**
   * Bound beyond loopback with neither `token` nor `allowUuids`, the server makes up a token
   * (see `accessToken`); `openAccess: true` accepts anyone instead.
   */
  openAccess?: boolean
  /**
   * Apply the per-address caps (maxConnectionsPerIp, handshakesPerIpPerWindow) to loopback
   * clients too. Off by default: every local process, and every client behind a reverse proxy
   * on this machine, shares the loopback address, so a per-address cap there would cap the
   * whole server. maxConnections still applies.
   */
  limitLoopback?: boolean
  /** Serve wss:// with this PEM certificate (chain) and private key. */
  tls?: { cert: string | Buffer; key: string | Buffer }
  /** Token of operator connections: they may list sessions and follow them (see presence.ts). */
  operatorToken?: string | null
}

export interface TapEvent {
  direction: 'in' | 'out'
  connectionId: number
  uuid: string | null
  text: string
  at: number
}

export interface SessionInfo {
  sessionid: string
  channeltype: ChannelType
  ownerUuid: string
  /** Members connected now (the owner included while it is connected). */
  memberUuids: string[]
  /** Members whose connection was lost and whose slot is held for the grace period. */
  awayUuids: string[]
  createdAt: number
}

/** Counters for monitoring and leak checks. */
export interface ServerStats {
  /** Authenticated or not, connections that take part in the protocol. */
  connections: number
  /** Sockets still open, including ones being closed. */
  sockets: number
  sessions: number
  /** Member slots held for a lost connection within its grace period. */
  awaySlots: number
  /** Bytes held for absent members. */
  heldBytes: number
  /** Bytes written to sockets and not yet taken by the peer. */
  bufferedBytes: number
  /** Client addresses with open sockets or handshakes in the current window. */
  trackedAddresses: number
}

interface Session {
  id: string
  channeltype: ChannelType
  ownerUuid: string
  /** The owner's connection; while the owner is away, its lost connection. */
  owner: Connection
  /** Connected members only: the relay writes to each of them. */
  members: Set<Connection>
  /** Slots of members that are away (null when none: the relay checks one field). */
  away: AwaySlot[] | null
  createdAt: number
}

/** A member slot kept for a lost connection, with what was sent to it meanwhile. */
interface AwaySlot {
  uuid: string
  session: Session
  owner: boolean
  deadline: number
  held: (string | Buffer)[]
  heldBytes: number
}

interface AddressEntry {
  key: string
  open: number
  handshakes: number
}

interface Connection {
  id: number
  ws: WebSocket
  /** The per-address counters it counts against (null: exempt). */
  address: AddressEntry | null
  uuid: string | null
  connectedAt: number
  lastSeen: number
  framesInWindow: number
  rateNoticeSent: boolean
  /** Bytes read since the event loop last turned to other connections (see maxReadBurstBytes). */
  burstBytes: number
  /** Not read from until the next sweep: over framesPerWindow. */
  throttled: boolean
  /** Not read from until the next turn of the event loop: over maxReadBurstBytes. */
  yielding: boolean
  /** Its socket holds what is sent to it until the current burst of frames is handled. */
  corked: boolean
  badFrames: number
  /** Null until the connection first takes part in a session: most never do at a time. */
  sessions: Set<Session> | null
  closed: boolean
}

export const DEFAULT_PATHS = ['/channel', '/'] as const

/** Options of every send: relayed frames are Buffers but go out as text, as they came in. */
const TEXT_MESSAGE = { binary: false } as const

/** The server's own close code for a socket that ended without a close frame. */
const ABNORMAL_CLOSURE = 1006

export class ChannelServer {
  readonly limits: ServerLimits
  private readonly host: string
  private readonly port: number
  private readonly echoKeepalive: boolean
  private readonly paths: ReadonlySet<string>
  private readonly tap: ((event: TapEvent) => void) | undefined
  private readonly token: string | null
  private readonly tokenDigest: Buffer | null
  private readonly tokenGenerated: boolean
  private readonly allowOrigins: ReadonlySet<string> | null
  private readonly allowUuids: ReadonlySet<string> | null
  private readonly tls: { cert: string | Buffer; key: string | Buffer } | null
  private readonly limitLoopback: boolean
  private http: HttpServer | null = null
  /** Reads the upgrade requests of in-process connections (never listens on a port). */
  private inProcessHttp: HttpServer | null = null
  private wss: WebSocketServer | null = null
  private sweepTimer: ReturnType<typeof setInterval> | null = null
  private readonly connections = new Set<Connection>()
  /** Sockets still open, including ones being closed, with their connection. */
  private readonly sockets = new Map<WebSocket, Connection>()
  private readonly addresses = new Map<string, AddressEntry>()
  private readonly sessions = new Map<string, Session>()
  private readonly sessionsByUuid = new Map<string, Set<Session>>()
  private readonly awaySlots = new Set<AwaySlot>()
  private heldBytes = 0
  private nextConnectionId = 1
  /** Coarse clock, advanced by the sweep: the relay path never reads the system clock. */
  private now = Date.now()
  private address: AddressInfo | null = null
  /**
   * One set of socket listeners for all connections: closures per connection would cost every
   * idle connection three functions and their scope (about 250 B); a socket finds its
   * connection in `sockets` instead.
   */
  private readonly listeners = this.socketListeners()
  private readonly presence: Presence<Connection>
  private readonly operatorTokenValue: string | null
  /** Connections whose sockets are corked until the next tick (see `cork`). */
  private corkedConnections: Connection[] = []
  private readonly uncorkAll = (): void => {
    const corked = this.corkedConnections
    this.corkedConnections = []
    for (const conn of corked) {
      conn.corked = false
      socketOf(conn.ws)?.uncork()
    }
  }

  constructor(options: ChannelServerOptions = {}) {
    this.limits = resolveLimits(options.limits)
    this.host = options.host ?? '127.0.0.1'
    this.port = options.port ?? 0
    this.echoKeepalive = options.echoKeepalive ?? true
    this.paths = new Set(options.paths ?? DEFAULT_PATHS)
    this.tap = options.tap
    this.limitLoopback = options.limitLoopback ?? false
    this.operatorTokenValue = options.operatorToken || null
    this.presence = new Presence(
      this.operatorTokenValue,
      (conn, frame) => this.send(conn, frame),
      () => this.sessions.values()
    )
    this.allowOrigins = options.allowOrigins?.length
      ? new Set(options.allowOrigins.map(normalizeOrigin))
      : null
    this.allowUuids = options.allowUuids?.length ? new Set(options.allowUuids.map(checkUuidEntry)) : null
    let token = options.token ?? null
    if (token !== null) checkToken(token)
    // A server reachable from other machines must not be open to anyone by accident.
    this.tokenGenerated =
      token === null && this.allowUuids === null && !options.openAccess && !isLoopbackHost(this.host)
    if (this.tokenGenerated) token = randomBytes(24).toString('base64url')
    this.token = token
    this.tokenDigest = token === null ? null : digest(token)
    if (options.tls) {
      if (!options.tls.cert || !options.tls.key) throw new Error('TLS needs both a certificate and a key')
      this.tls = { cert: options.tls.cert, key: options.tls.key }
    } else {
      this.tls = null
    }
  }

  /** Starts listening; resolves with the ws:// (or wss://) URL clients use. */
  async listen(): Promise<string> {
    if (this.http) throw new Error('channel server is already listening')
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxPayloadBytes,
      perMessageDeflate: false,
      clientTracking: false,
      // Not in @types/ws yet; ws ≥ 8.18 reads it (its default is 30 s).
      ...({ closeTimeout: this.limits.closeTimeoutMs } as object),
      handleProtocols: (offered) => pickSubprotocol(offered)
    })
    const refuse = (_req: IncomingMessage, res: import('node:http').ServerResponse): void => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('this is a WebSocket channel server\n')
    }
    // A client that trickles its upgrade request is cut off rather than holding a socket.
    const httpOptions = {
      headersTimeout: this.limits.handshakeTimeoutMs,
      requestTimeout: this.limits.handshakeTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, this.limits.handshakeTimeoutMs)
    }
    let http: HttpServer
    if (this.tls) {
      try {
        http = createHttpsServer(
          {
            ...httpOptions,
            cert: this.tls.cert,
            key: this.tls.key,
            handshakeTimeout: this.limits.handshakeTimeoutMs
          },
          refuse
        )
      } catch (e) {
        throw new Error(
          `the TLS certificate or key cannot be used: ${e instanceof Error ? e.message : String(e)}`
        )
      }
      http.on('tlsClientError', (_err, socket) => socket.destroy())
    } else {
      http = createServer(httpOptions, refuse)
    }
    const inProcessHttp = createServer(httpOptions, refuse)
    for (const server of [http, inProcessHttp]) {
      server.on('upgrade', (req, socket, head) => this.upgrade(wss, req, socket, head))
      server.on('clientError', (_err, socket) => socket.destroy())
    }
    wss.on('connection', (ws, req) => this.accept(ws, req))
    this.http = http
    this.inProcessHttp = inProcessHttp
    this.wss = wss
    try {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject)
        http.listen(this.port, this.host, () => {
          http.off('error', reject)
          resolve()
        })
      })
    } catch (e) {
      this.http = null
      this.inProcessHttp = null
      this.wss = null
      wss.close()
      throw e
    }
    this.address = http.address() as AddressInfo
    this.now = Date.now()
    this.sweepTimer = setInterval(() => this.sweep(), this.limits.sweepIntervalMs)
    this.sweepTimer.unref?.()
    return this.url
  }

  /**
   * A connection to this server from inside its own process (the app's windows): the socket a
   * client speaks WebSocket over, exactly as over TCP, to the same checks, limits and relay.
   */
  connectInProcess(): Duplex {
    if (!this.inProcessHttp) throw new Error('channel server is not listening')
    const [client, server] = memorySocketPair()
    this.inProcessHttp.emit('connection', server)
    return client
  }

  get url(): string {
    if (!this.address) throw new Error('channel server is not listening')
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address
    return `${this.tls ? 'wss' : 'ws'}://${host}:${this.address.port}/channel`
  }

  get listeningPort(): number {
    if (!this.address) throw new Error('channel server is not listening')
    return this.address.port
  }

  /** The token clients must present (given, or made up for a server beyond loopback), or null. */
  get accessToken(): string | null {
    return this.token
  }

  /** The operator token (presence), or null when nobody may list sessions. */
  get operatorToken(): string | null {
    return this.operatorTokenValue
  }

  /** Lines that say who may connect, for a person starting the server. */
  accessNotice(): string[] {
    const lines: string[] = []
    if (this.token !== null) {
      const where = this.address ? `${this.url}?token=${encodeURIComponent(this.token)}` : '?token='
      lines.push(
        this.tokenGenerated
          ? `access token required (bound beyond loopback with neither a token nor a uuid allowlist, so one was made up): ${this.token}`
          : 'access token required',
        `  clients connect to ${where} or send the header Authorization: Bearer <token>`
      )
    }
    if (this.allowUuids) lines.push(`uuids allowed: ${[...this.allowUuids].join(', ')}`)
    if (this.allowOrigins) lines.push(`origins allowed: ${[...this.allowOrigins].join(', ')}`)
    if (this.token === null && this.allowUuids === null) {
      lines.push(
        isLoopbackHost(this.host)
          ? 'access: open to clients on this machine (loopback)'
          : 'access: open to anyone who can reach this address (--open-access)'
      )
    }
    return lines
  }

  get connectionCount(): number {
    return this.connections.size
  }

  get sessionCount(): number {
    return this.sessions.size
  }

  stats(): ServerStats {
    let bufferedBytes = 0
    for (const ws of this.sockets.keys()) bufferedBytes += ws.bufferedAmount
    return {
      connections: this.connections.size,
      sockets: this.sockets.size,
      sessions: this.sessions.size,
      awaySlots: this.awaySlots.size,
      heldBytes: this.heldBytes,
      bufferedBytes,
      trackedAddresses: this.addresses.size
    }
  }

  listSessions(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => ({
      sessionid: s.id,
      channeltype: s.channeltype,
      ownerUuid: s.ownerUuid,
      memberUuids: [...s.members].map((m) => m.uuid ?? ''),
      awayUuids: (s.away ?? []).map((slot) => slot.uuid),
      createdAt: s.createdAt
    }))
  }

  /** Graceful shutdown: members learn that their sessions end, then every socket is closed. */
  async close(): Promise<void> {
    if (!this.http) return
    if (this.sweepTimer) clearInterval(this.sweepTimer)
    this.sweepTimer = null
    for (const session of [...this.sessions.values()]) this.endSession(session, null)
    for (const conn of [...this.connections]) this.drop(conn, CloseCode.GOING_AWAY, 'server shutting down')
    // ws cuts off a peer that does not answer the close within closeTimeoutMs.
    await Promise.all(
      [...this.sockets.keys()].map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve()
            ws.once('close', () => resolve())
          })
      )
    )
    const http = this.http
    this.http = null
    this.inProcessHttp?.closeAllConnections()
    this.inProcessHttp = null
    this.wss?.close()
    this.wss = null
    await new Promise<void>((resolve) => http.close(() => resolve()))
    http.closeAllConnections?.()
  }

  // ------------------------------------------------------------------------------------------
  // Connections

  /** Every check that needs no socket happens here, before the WebSocket exists. */
  private upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // For a refused upgrade (ws has no listener on the socket yet). A shared function, not a
    // closure: a closure here would share this call's scope with the handleUpgrade callback and
    // keep the whole upgrade request alive as long as the socket.
    socket.on('error', destroyOnError)
    const entry = this.addressEntry(req)
    if (entry !== null && ++entry.handshakes > this.limits.handshakesPerIpPerWindow) {
      return rejectUpgrade(socket, 429, 'Too Many Requests', 'Retry-After: 1\r\n')
    }
    const target = req.url ?? '/'
    const q = target.indexOf('?')
    const path = q < 0 ? target : target.slice(0, q)
    if (!this.paths.has(path)) return rejectUpgrade(socket, 404, 'Not Found')
    if (this.sockets.size >= this.limits.maxConnections) {
      return rejectUpgrade(socket, 503, 'Service Unavailable', 'Retry-After: 5\r\n')
    }
    if (entry !== null && entry.open >= this.limits.maxConnectionsPerIp) {
      return rejectUpgrade(socket, 429, 'Too Many Requests', 'Retry-After: 5\r\n')
    }
    if (this.allowOrigins !== null) {
      const origin = req.headers.origin
      if (origin !== undefined && !this.allowOrigins.has(origin.toLowerCase())) {
        return rejectUpgrade(socket, 403, 'Forbidden')
      }
    }
    if (this.tokenDigest !== null && !this.tokenMatches(req, q < 0 ? '' : target.slice(q + 1))) {
      return rejectUpgrade(socket, 401, 'Unauthorized', 'WWW-Authenticate: Bearer\r\n')
    }
    // ws puts its own error listener on the socket for the rest of its life: ours would only
    // cost every connection a listener array.
    socket.off('error', destroyOnError)
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  }

  /** The per-address counters of a client, or null for an exempt (loopback) one. */
  private addressEntry(req: IncomingMessage): AddressEntry | null {
    const remote = req.socket.remoteAddress
    if (!this.limitLoopback && isLoopbackHost(remote ?? '')) return null
    const key = addressKey(remote)
    let entry = this.addresses.get(key)
    if (!entry) {
      entry = { key, open: 0, handshakes: 0 }
      this.addresses.set(key, entry)
    }
    return entry
  }

  private tokenMatches(req: IncomingMessage, query: string): boolean {
    const expected = this.tokenDigest as Buffer
    const header = req.headers.authorization
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
      if (m && timingSafeEqual(digest(m[1]!), expected)) return true
    }
    if (query.length > 0) {
      const given = new URLSearchParams(query).get('token')
      if (given !== null && timingSafeEqual(digest(given), expected)) return true
    }
    return false
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const address = this.addressEntry(req)
    if (address !== null) address.open++
    const conn: Connection = {
      id: this.nextConnectionId++,
      ws,
      address,
      uuid: null,
      connectedAt: this.now,
      lastSeen: this.now,
      framesInWindow: 0,
      rateNoticeSent: false,
      burstBytes: 0,
      throttled: false,
      yielding: false,
      corked: false,
      badFrames: 0,
      sessions: null,
      closed: false
    }
    this.sockets.set(ws, conn)
    this.connections.add(conn)
    // Never leave a socket without an error listener: an unhandled 'error' kills the process.
    // The listeners are the server's, shared by every socket (see socketListeners).
    ws.on('error', this.listeners.error)
    ws.on('close', this.listeners.close)
    ws.on('message', this.listeners.message)
    this.send(conn, frames.iam())
  }

  /** ws calls its listeners with the socket as `this`. */
  private socketListeners(): SocketListeners {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- `this` is the socket inside
    const server = this
    return {
      error(this: WebSocket) {
        server.socketError(this)
      },
      close(this: WebSocket, code: number) {
        server.socketClose(this, code)
      },
      message(this: WebSocket, data: RawData, isBinary: boolean) {
        server.socketMessage(this, data, isBinary)
      }
    }
  }

  /**
   * ws reports protocol violations (bad UTF-8, reserved bits, oversized frames) as errors and
   * closes the socket itself: the peer misbehaved, so its sessions end at once.
   */
  private socketError(ws: WebSocket): void {
    const conn = this.sockets.get(ws)
    if (conn !== undefined) this.cleanup(conn, false)
  }

  private socketClose(ws: WebSocket, code: number): void {
    const conn = this.sockets.get(ws)
    if (conn === undefined) return
    this.sockets.delete(ws)
    const entry = conn.address
    if (entry !== null && --entry.open <= 0 && entry.handshakes === 0) {
      if (this.addresses.get(entry.key) === entry) this.addresses.delete(entry.key)
    }
    // 1006: the socket ended without a close frame (cut, crash, network change). Anything
    // the server closed itself was cleaned up before, so this only sees the peer's doing.
    this.cleanup(conn, code === ABNORMAL_CLOSURE)
  }

  private socketMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
    const conn = this.sockets.get(ws)
    if (conn !== undefined) this.receive(conn, data, isBinary)
  }

  private receive(conn: Connection, data: RawData, isBinary: boolean): void {
    if (conn.closed) return
    conn.lastSeen = this.now
    const buf = data as Buffer
    if ((conn.burstBytes += buf.length) > this.limits.maxReadBurstBytes && !conn.yielding) {
      // Let other connections' frames and the timers run before reading more from this one.
      conn.yielding = true
      conn.ws.pause()
      setImmediate(() => this.unyield(conn))
    }
    if (++conn.framesInWindow > this.limits.framesPerWindow) {
      if (!conn.throttled) {
        conn.throttled = true
        conn.ws.pause()
      }
      if (!conn.rateNoticeSent) {
        conn.rateNoticeSent = true
        this.send(
          conn,
          frames.errorReply({
            result_cd: ResultCode.RATE_LIMITED,
            result_msg: `rate limited: more than ${this.limits.framesPerWindow} frames per ${this.limits.sweepIntervalMs} ms; frames dropped`
          })
        )
      }
      return
    }
    if (buf.length > this.limits.maxFrameBytes) {
      return this.sendError(
        conn,
        null,
        ResultCode.TOO_LARGE,
        `frame of ${buf.length} bytes exceeds the limit of ${this.limits.maxFrameBytes}`
      )
    }
    if (isBinary) return this.badFrame(conn, 'binary frames are not supported; send JSON text')
    // A tap sees every frame as text, so with one the relay takes the full parser's path too.
    if (this.tap === undefined && this.relayFast(conn, buf)) return
    const text = buf.toString('utf8')
    if (this.tap) this.tap({ direction: 'in', connectionId: conn.id, uuid: conn.uuid, text, at: Date.now() })
    const parsed = parseFrame(text)
    if (!parsed.ok) {
      const { error } = parsed
      if (error.field === undefined) return this.badFrame(conn, error.result_msg)
      return this.send(
        conn,
        frames.errorReply({
          result_cd: error.result_cd,
          result_msg: error.result_msg,
          operation: error.partial?.operation,
          trxid: error.partial?.trxid,
          sessionid: error.partial?.sessionid
        })
      )
    }
    const frame = parsed.frame
    if (frame.msgtype === 'data') return this.relay(conn, frame, buf)
    if (frame.msgtype === 'reply') return // clients have nothing to reply to; ignored
    if (frame.msgtype === 'notify') {
      if (frame.operation === 'ras_alive' && conn.uuid !== null && this.echoKeepalive)
        this.send(conn, frames.rasAlive())
      else if (conn.uuid === null)
        this.sendError(conn, frame, ResultCode.UNAUTHORIZED, 'not authenticated: send auth first')
      return // other notifies from clients carry nothing for the server
    }
    this.request(conn, frame)
  }

  private unyield(conn: Connection): void {
    conn.yielding = false
    conn.burstBytes = 0
    if (!conn.throttled && !conn.closed) conn.ws.resume()
  }

  private request(conn: Connection, req: RequestFrame): void {
    const op = req.operation
    if (op === 'auth') return this.auth(conn, req)
    if (conn.uuid === null)
      return this.sendError(conn, req, ResultCode.UNAUTHORIZED, 'not authenticated: send auth first')
    switch (op) {
      case 'create_session':
        return this.createSession(conn, req)
      case 'join_session':
        return this.joinSession(conn, req)
      case 'destroy_session':
        return this.destroySession(conn, req)
      case 'ras_alive':
        return this.send(conn, frames.successReply('ras_alive', req.trxid))
      case LIST_SESSIONS:
        return this.presence.request(conn, req)
      default:
        return this.sendError(
          conn,
          req,
          ResultCode.NOT_SUPPORTED,
          isDevModeOperation(op)
            ? `operation "${op}" (developer mode) is not supported`
            : `operation "${op}" is not supported`
        )
    }
  }

  private auth(conn: Connection, req: RequestFrame): void {
    const uuid = req.uuid
    if (!uuid) return this.sendError(conn, req, ResultCode.BAD_REQUEST, 'missing field "uuid"')
    if (uuid.length > this.limits.maxUuidLength) {
      return this.sendError(
        conn,
        req,
        ResultCode.BAD_REQUEST,
        `field "uuid" is longer than ${this.limits.maxUuidLength}`
      )
    }
    if (this.allowUuids !== null && !this.allowUuids.has(uuid)) {
      // The connection stays unauthenticated; the auth timeout closes it.
      return this.sendError(conn, req, ResultCode.FORBIDDEN, `uuid "${uuid}" is not allowed on this server`)
    }
    if (conn.uuid !== null && conn.uuid !== uuid) {
      return this.sendError(conn, req, ResultCode.CONFLICT, `already authenticated as another uuid`)
    }
    conn.uuid = uuid
    this.send(conn, frames.authReply({ trxid: req.trxid }))
  }

  private createSession(conn: Connection, req: RequestFrame): void {
    const uuid = conn.uuid as string
    const requested = req.sessionid
    if (requested !== undefined) {
      const problem = this.checkSessionId(requested)
      if (problem) return this.sendError(conn, req, ResultCode.BAD_REQUEST, problem)
      const existing = this.sessions.get(requested)
      if (existing) {
        if (existing.ownerUuid !== uuid) {
          return this.sendError(conn, req, ResultCode.CONFLICT, `session id "${requested}" is taken`)
        }
        // The same device asks again (after reconnecting): it takes its session back. What was
        // held for it while away comes first, so that the reply finds it caught up. Nobody else
        // is told: nothing changed for them.
        const slot = this.takeSlot(existing, uuid)
        this.reclaim(existing, conn)
        if (slot) this.deliverHeld(conn, slot)
        this.send(conn, {
          ...frames.createReply({ sessionid: existing.id, trxid: req.trxid }),
          resumed: true
        })
        return
      }
    }
    const owned = this.sessionsByUuid.get(uuid)
    if (owned && owned.size >= this.limits.maxSessionsPerUuid) {
      return this.sendError(
        conn,
        req,
        ResultCode.CONFLICT,
        `session limit reached (${this.limits.maxSessionsPerUuid} per uuid)`
      )
    }
    const id = requested ?? this.newSessionId()
    const session: Session = {
      id,
      channeltype: req.channeltype ?? 'webrtcaudio',
      ownerUuid: uuid,
      owner: conn,
      members: new Set([conn]),
      away: null,
      createdAt: this.now
    }
    this.sessions.set(id, session)
    if (owned) owned.add(session)
    else this.sessionsByUuid.set(uuid, new Set([session]))
    addMembership(conn, session)
    this.send(conn, frames.createReply({ sessionid: id, trxid: req.trxid }))
    this.presence.started(session)
  }

  private joinSession(conn: Connection, req: RequestFrame): void {
    const id = req.sessionid
    if (!id) return this.sendError(conn, req, ResultCode.BAD_REQUEST, 'missing field "sessionid"')
    const session = this.sessions.get(id)
    if (!session) return this.sendError(conn, req, ResultCode.NOT_FOUND, `session "${id}" not found`)
    const resumed = { ...frames.successReply('join_session', req.trxid), resumed: true }
    if (session.members.has(conn)) return this.send(conn, resumed)
    const uuid = conn.uuid as string
    // The same uuid already has a place here: a slot held since its connection was lost, or
    // another connection the server still believes alive (a half-open one after a network
    // change). The new connection takes that place silently: for the others nothing changed.
    const slot = this.takeSlot(session, uuid)
    const twin = slot ? undefined : this.memberWithUuid(session, uuid)
    if (slot || twin) {
      if (twin) {
        session.members.delete(twin)
        twin.sessions?.delete(session)
      }
      if (slot?.owner || session.owner === twin) session.owner = conn
      session.members.add(conn)
      addMembership(conn, session)
      if (slot) this.deliverHeld(conn, slot) // first, as for create_session
      this.send(conn, resumed)
      return
    }
    if (this.joinerCount(session) >= this.limits.maxJoinersPerSession) {
      return this.sendError(conn, req, ResultCode.CONFLICT, `session "${id}" is full`)
    }
    session.members.add(conn)
    addMembership(conn, session)
    this.send(conn, frames.successReply('join_session', req.trxid))
    this.fanOut(session, conn, JSON.stringify(frames.sessionNotify('join_session', id, session.channeltype)))
  }

  private destroySession(conn: Connection, req: RequestFrame): void {
    const id = req.sessionid
    if (!id) return this.sendError(conn, req, ResultCode.BAD_REQUEST, 'missing field "sessionid"')
    const session = this.sessions.get(id)
    if (!session) return this.sendError(conn, req, ResultCode.NOT_FOUND, `session "${id}" not found`)
    if (!session.members.has(conn)) {
      return this.sendError(conn, req, ResultCode.FORBIDDEN, `not a member of session "${id}"`)
    }
    this.send(conn, frames.successReply('destroy_session', req.trxid))
    this.endSession(session, conn)
  }

  /** Forwards the received bytes unchanged to every other member, or says why it cannot. */
  private relay(conn: Connection, frame: Frame, raw: Buffer): void {
    const session = this.relayTarget(conn, frame.sessionid)
    if (session !== null) return this.fanOut(session, conn, raw)
    if (conn.uuid === null)
      return this.sendError(conn, frame, ResultCode.UNAUTHORIZED, 'not authenticated: send auth first')
    if (frame.sessionid !== undefined) {
      return this.sendError(
        conn,
        frame,
        ResultCode.FORBIDDEN,
        `not a member of session "${frame.sessionid}"; nothing was forwarded`
      )
    }
    const count = membershipCount(conn)
    return this.sendError(
      conn,
      frame,
      count === 0 ? ResultCode.FORBIDDEN : ResultCode.BAD_REQUEST,
      count === 0
        ? 'not a member of any session; nothing was forwarded'
        : 'missing field "sessionid" (member of several sessions)'
    )
  }

  /**
   * The hot path: a data frame relayed from its bytes (see data-envelope.ts). False when the
   * frame needs the full parser: not a plain data frame, or one the relay refuses (the refusal
   * is then built from the parsed frame, exactly as for any other frame).
   */
  private relayFast(conn: Connection, raw: Buffer): boolean {
    if (conn.uuid === null || conn.sessions === null) return false // refused either way
    // A sender usually has one session: naming its id spares a copy of the id from the frame.
    const sessionid = readDataEnvelope(raw, soleSession(conn)?.id)
    if (sessionid === FALL_BACK) return false
    const session = this.relayTarget(conn, sessionid)
    if (session === null) return false
    this.fanOut(session, conn, raw)
    return true
  }

  /** The session a data frame goes to: the named one, or the only one; null if none may take it. */
  private relayTarget(conn: Connection, sessionid: string | undefined): Session | null {
    if (conn.uuid === null) return null
    if (sessionid !== undefined) {
      const session = this.sessions.get(sessionid)
      return session !== undefined && session.members.has(conn) ? session : null
    }
    return soleSession(conn)
  }

  // ------------------------------------------------------------------------------------------
  // Sessions

  private newSessionId(): string {
    let id: string
    do
      id = randomBytes(16).toString('base64url') // 128 bits, URL-safe
    while (this.sessions.has(id))
    return id
  }

  private checkSessionId(id: string): string | null {
    if (id.length === 0) return 'field "sessionid" is empty'
    if (id.length > this.limits.maxSessionIdLength)
      return `field "sessionid" is longer than ${this.limits.maxSessionIdLength}`
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(id)) return 'field "sessionid" contains control characters'
    return null
  }

  private reclaim(session: Session, conn: Connection): void {
    if (session.owner !== conn) {
      session.members.delete(session.owner)
      session.owner.sessions?.delete(session)
      session.owner = conn
    }
    session.members.add(conn)
    addMembership(conn, session)
  }

  private memberWithUuid(session: Session, uuid: string): Connection | undefined {
    for (const member of session.members) if (member.uuid === uuid) return member
    return undefined
  }

  /** Web clients in the session, connected or away (their slot is held). */
  private joinerCount(session: Session): number {
    let n = session.members.size - (session.members.has(session.owner) ? 1 : 0)
    if (session.away) for (const slot of session.away) if (!slot.owner) n++
    return n
  }

  /** Removes a session and tells every member except `by` (null: tell everyone). */
  private endSession(session: Session, by: Connection | null): void {
    if (this.sessions.get(session.id) !== session) return
    this.sessions.delete(session.id)
    this.presence.ended(session)
    const owned = this.sessionsByUuid.get(session.ownerUuid)
    owned?.delete(session)
    if (owned && owned.size === 0) this.sessionsByUuid.delete(session.ownerUuid)
    if (session.away) {
      for (const slot of session.away) this.forgetSlot(slot)
      session.away = null
    }
    const notify = JSON.stringify(frames.sessionNotify('destroy_session', session.id, session.channeltype))
    for (const member of [...session.members]) {
      member.sessions?.delete(session)
      if (member !== by) this.sendRaw(member, notify)
    }
    session.members.clear()
  }

  /** Writes to every connected member but `except`, and holds a copy for every away one. */
  private fanOut(session: Session, except: Connection | null, payload: string | Buffer): void {
    for (const member of session.members) {
      if (member !== except) this.sendRaw(member, payload)
    }
    if (session.away !== null) this.hold(session, except, payload)
  }

  /**
   * A connection is gone. A clean close (close frame), a server-side close and a protocol error
   * end its sessions at once as PROTOCOL.md §4 says; a lost one (no close frame) keeps its slots
   * for the grace period so that the same uuid can come back unnoticed.
   */
  private cleanup(conn: Connection, lost: boolean): void {
    if (!this.connections.delete(conn)) return
    conn.closed = true
    const grace = lost && conn.uuid !== null && this.limits.reconnectGraceMs > 0
    if (grace) this.now = Date.now() // off the hot path: the deadline should be exact
    const sessions = conn.sessions === null ? [] : [...conn.sessions]
    conn.sessions = null
    for (const session of sessions) {
      session.members.delete(conn)
      if (grace) this.park(session, conn)
      else if (session.owner === conn) this.endSession(session, null)
      else
        this.fanOut(
          session,
          null,
          JSON.stringify(frames.sessionNotify(LEAVE_SESSION, session.id, session.channeltype))
        )
    }
  }

  private park(session: Session, conn: Connection): void {
    if (this.sessions.get(session.id) !== session) return
    const uuid = conn.uuid as string
    const owner = session.owner === conn
    const deadline = this.now + this.limits.reconnectGraceMs
    const existing = session.away?.find((s) => s.uuid === uuid)
    if (existing) {
      existing.owner ||= owner
      existing.deadline = deadline
      return
    }
    const slot: AwaySlot = { uuid, session, owner, deadline, held: [], heldBytes: 0 }
    if (session.away) session.away.push(slot)
    else session.away = [slot]
    this.awaySlots.add(slot)
  }

  /** Keeps a frame for the away members, or ends the grace of one whose share is full. */
  private hold(session: Session, except: Connection | null, payload: string | Buffer): void {
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
    for (const slot of [...(session.away ?? [])]) {
      if (except !== null && slot.uuid === except.uuid) continue
      if (
        slot.held.length >= this.limits.graceBufferFrames ||
        slot.heldBytes + size > this.limits.graceBufferBytes ||
        this.heldBytes + size > this.limits.graceBufferTotalBytes
      ) {
        // Holding more would cost unbounded memory; dropping silently would lose frames.
        // The member is treated as gone, which everyone is told.
        this.expireSlot(slot)
        continue
      }
      // A copy: the received buffer may share memory with a whole socket read.
      slot.held.push(typeof payload === 'string' ? payload : Buffer.from(payload))
      slot.heldBytes += size
      this.heldBytes += size
    }
  }

  private takeSlot(session: Session, uuid: string): AwaySlot | undefined {
    const slot = session.away?.find((s) => s.uuid === uuid)
    if (!slot) return undefined
    this.forgetSlot(slot)
    const rest = session.away!.filter((s) => s !== slot)
    session.away = rest.length ? rest : null
    return slot
  }

  private forgetSlot(slot: AwaySlot): void {
    if (!this.awaySlots.delete(slot)) return
    this.heldBytes -= slot.heldBytes
  }

  private deliverHeld(conn: Connection, slot: AwaySlot): void {
    const held = slot.held
    slot.held = []
    slot.heldBytes = 0
    for (const payload of held) this.sendRaw(conn, payload)
  }

  /** The grace period of an away member is over: what PROTOCOL.md says for a closed one happens. */
  private expireSlot(slot: AwaySlot): void {
    const session = slot.session
    if (!this.takeSlot(session, slot.uuid)) return
    if (slot.owner) this.endSession(session, null)
    else {
      this.fanOut(
        session,
        null,
        JSON.stringify(frames.sessionNotify(LEAVE_SESSION, session.id, session.channeltype))
      )
    }
  }

  private drop(conn: Connection, code: number, reason: string): void {
    this.cleanup(conn, false)
    if (conn.ws.readyState === conn.ws.OPEN || conn.ws.readyState === conn.ws.CONNECTING)
      conn.ws.close(code, reason)
  }

  private sweep(): void {
    this.now = Date.now()
    const { authTimeoutMs, idleTimeoutMs } = this.limits
    for (const conn of this.connections) {
      conn.framesInWindow = 0
      conn.rateNoticeSent = false
      conn.burstBytes = 0
      if (conn.throttled) {
        conn.throttled = false
        if (!conn.yielding) conn.ws.resume()
      }
      if (conn.uuid === null && this.now - conn.connectedAt >= authTimeoutMs) {
        this.drop(conn, CloseCode.AUTH_TIMEOUT, 'authentication timeout')
      } else if (this.now - conn.lastSeen >= idleTimeoutMs) {
        this.drop(conn, CloseCode.IDLE_TIMEOUT, 'keep-alive timeout')
      }
    }
    for (const slot of this.awaySlots) if (this.now >= slot.deadline) this.expireSlot(slot)
    for (const [key, entry] of this.addresses) {
      entry.handshakes = 0
      if (entry.open <= 0) this.addresses.delete(key)
    }
  }

  // ------------------------------------------------------------------------------------------
  // Output

  private badFrame(conn: Connection, message: string): void {
    if (++conn.badFrames > this.limits.badFrameAllowance) {
      return this.drop(conn, CloseCode.BAD_FRAMES, 'too many malformed frames')
    }
    this.sendError(conn, null, ResultCode.BAD_REQUEST, message)
  }

  private sendError(conn: Connection, about: Frame | null, result_cd: number, result_msg: string): void {
    this.send(
      conn,
      frames.errorReply({
        result_cd,
        result_msg,
        operation: about?.msgtype === 'data' ? undefined : about?.operation,
        trxid: about?.trxid,
        sessionid: about?.msgtype === 'data' ? about.sessionid : undefined
      })
    )
  }

  private send(conn: Connection, frame: Frame): void {
    this.sendRaw(conn, JSON.stringify(frame))
  }

  private sendRaw(conn: Connection, payload: string | Buffer): void {
    if (conn.closed) return
    if (conn.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      // A client that stops reading is cut off rather than buffered without bound; the close
      // frame waits behind what it has not read, so ws destroys the socket after closeTimeoutMs.
      return this.drop(conn, CloseCode.SLOW_READER, 'not reading: send buffer limit exceeded')
    }
    if (this.tap) {
      const text = typeof payload === 'string' ? payload : payload.toString('utf8')
      this.tap({ direction: 'out', connectionId: conn.id, uuid: conn.uuid, text, at: Date.now() })
    }
    this.cork(conn)
    conn.ws.send(payload, TEXT_MESSAGE)
  }

  /**
   * Holds a connection's outgoing frames in its socket until the frames read in this turn of the
   * event loop are handled: a burst (several candidates read at once, a relay under load) then costs
   * one write to the kernel instead of one per frame. The socket is uncorked on the next tick, before
   * any I/O, so nothing waits for a timer.
   */
  private cork(conn: Connection): void {
    if (conn.corked) return
    const socket = socketOf(conn.ws)
    if (socket === undefined) return
    socket.cork()
    conn.corked = true
    if (this.corkedConnections.push(conn) === 1) process.nextTick(this.uncorkAll)
  }
}

interface SocketListeners {
  error: (this: WebSocket) => void
  close: (this: WebSocket, code: number) => void
  message: (this: WebSocket, data: RawData, isBinary: boolean) => void
}

function addMembership(conn: Connection, session: Session): void {
  if (conn.sessions === null) conn.sessions = new Set([session])
  else conn.sessions.add(session)
}

/** The one session a connection takes part in, or null when it has none or several. */
function soleSession(conn: Connection): Session | null {
  return conn.sessions?.size === 1 ? (conn.sessions.values().next().value as Session) : null
}

function membershipCount(conn: Connection): number {
  return conn.sessions === null ? 0 : conn.sessions.size
}

/** Prefer the public service's sub-protocol; accept any other offer rather than fail the client. */
function pickSubprotocol(offered: Set<string>): string | false {
  if (offered.has(SUBPROTOCOL)) return SUBPROTOCOL
  const first = offered.values().next()
  return first.done ? false : first.value
}

/**
 * The socket under a ws connection. ws has no public cork(); its maintainers point to this field
 * for it (websockets/ws#1999).
 */
function socketOf(ws: WebSocket): Duplex | undefined {
  return (ws as unknown as { _socket?: Duplex })._socket
}

function destroyOnError(this: Duplex): void {
  this.destroy()
}

function rejectUpgrade(socket: Duplex, status: number, text: string, headers = ''): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\n${headers}Connection: close\r\nContent-Length: 0\r\n\r\n`)
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/** True for a bind address that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase()
  return (
    h === 'localhost' ||
    h === '::1' ||
    h === '[::1]' ||
    /^127\.\d+\.\d+\.\d+$/.test(h) ||
    /^::ffff:127\./.test(h)
  )
}

/**
 * The key per-address limits count by: the IPv4 address (also when mapped into IPv6), or the
 * /64 prefix of an IPv6 address, since one IPv6 host usually owns a whole /64.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]!
  if (!address.includes(':')) return address
  const bare = address.split('%')[0]!.toLowerCase()
  const halves = bare.split('::')
  const head = halves[0] ? halves[0].split(':') : []
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : []
  const groups =
    halves.length > 1
      ? [...head, ...new Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail]
      : head
  return `${groups
    .slice(0, 4)
    .map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16).toString(16) : '0'))
    .join(':')}::/64`
}

function normalizeOrigin(origin: string): string {
  const o = String(origin).trim().toLowerCase()
  if (o === 'null') return o
  let url: URL
  try {
    url = new URL(o)
  } catch {
    throw new RangeError(`allowed origin "${origin}" is not an origin like https://example.com`)
  }
  if (url.origin === 'null' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new RangeError(`allowed origin "${origin}" is not an origin like https://example.com`)
  }
  return url.origin
}

function checkUuidEntry(uuid: string): string {
  if (typeof uuid !== 'string' || uuid.length === 0) throw new RangeError('an allowed uuid must not be empty')
  return uuid
}

function checkToken(token: string): void {
  if (typeof token !== 'string' || token.length < 16 || token.length > 512 || !/^[\x21-\x7e]+$/.test(token)) {
    throw new RangeError(
      'the access token must be 16 to 512 printable ASCII characters without spaces (e.g. `openssl rand -base64 24`)'
    )
  }
}
