/**
 * The channel server: the WebSocket relay of PROTOCOL.md §1–5 and §7.
 * Plain Node (no electron): embedded by both hosts and runnable headless (`npm run serve`).
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import {
  type ChannelType,
  type Frame,
  type RequestFrame,
  LEAVE_SESSION,
  ResultCode,
  SUBPROTOCOL,
  frames,
  isDevModeOperation,
  parseFrame
} from '../../shared/protocol'
import { CloseCode, type ServerLimits, resolveLimits } from './limits'

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
  memberUuids: string[]
  createdAt: number
}

interface Session {
  id: string
  channeltype: ChannelType
  ownerUuid: string
  owner: Connection
  members: Set<Connection>
  createdAt: number
}

interface Connection {
  id: number
  ws: WebSocket
  uuid: string | null
  connectedAt: number
  lastSeen: number
  framesInWindow: number
  rateNoticeSent: boolean
  badFrames: number
  sessions: Set<Session>
  closed: boolean
}

export const DEFAULT_PATHS = ['/channel', '/'] as const

export class ChannelServer {
  readonly limits: ServerLimits
  private readonly host: string
  private readonly port: number
  private readonly echoKeepalive: boolean
  private readonly paths: ReadonlySet<string>
  private readonly tap: ((event: TapEvent) => void) | undefined
  private http: HttpServer | null = null
  private wss: WebSocketServer | null = null
  private sweepTimer: ReturnType<typeof setInterval> | null = null
  private readonly connections = new Set<Connection>()
  private readonly sessions = new Map<string, Session>()
  private readonly sessionsByUuid = new Map<string, Set<Session>>()
  private nextConnectionId = 1
  /** Coarse clock, advanced by the sweep: the relay path never reads the system clock. */
  private now = Date.now()
  private address: AddressInfo | null = null

  constructor(options: ChannelServerOptions = {}) {
    this.limits = resolveLimits(options.limits)
    this.host = options.host ?? '127.0.0.1'
    this.port = options.port ?? 0
    this.echoKeepalive = options.echoKeepalive ?? true
    this.paths = new Set(options.paths ?? DEFAULT_PATHS)
    this.tap = options.tap
  }

  /** Starts listening; resolves with the ws:// URL clients use. */
  async listen(): Promise<string> {
    if (this.http) throw new Error('channel server is already listening')
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxPayloadBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (offered) => pickSubprotocol(offered)
    })
    const http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('this is a WebSocket channel server\n')
    })
    http.on('upgrade', (req, socket, head) => this.upgrade(wss, req, socket, head))
    http.on('clientError', (_err, socket) => socket.destroy())
    wss.on('connection', (ws) => this.accept(ws))
    this.http = http
    this.wss = wss
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject)
      http.listen(this.port, this.host, () => {
        http.off('error', reject)
        resolve()
      })
    })
    this.address = http.address() as AddressInfo
    this.now = Date.now()
    this.sweepTimer = setInterval(() => this.sweep(), this.limits.sweepIntervalMs)
    this.sweepTimer.unref?.()
    return this.url
  }

  get url(): string {
    if (!this.address) throw new Error('channel server is not listening')
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address
    return `ws://${host}:${this.address.port}/channel`
  }

  get listeningPort(): number {
    if (!this.address) throw new Error('channel server is not listening')
    return this.address.port
  }

  get connectionCount(): number {
    return this.connections.size
  }

  get sessionCount(): number {
    return this.sessions.size
  }

  listSessions(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => ({
      sessionid: s.id,
      channeltype: s.channeltype,
      ownerUuid: s.ownerUuid,
      memberUuids: [...s.members].map((m) => m.uuid ?? ''),
      createdAt: s.createdAt
    }))
  }

  /** Graceful shutdown: members learn that their sessions end, then every socket is closed. */
  async close(): Promise<void> {
    if (!this.http) return
    if (this.sweepTimer) clearInterval(this.sweepTimer)
    this.sweepTimer = null
    for (const session of [...this.sessions.values()]) this.endSession(session, null)
    const closing = [...this.connections].map(
      (conn) =>
        new Promise<void>((resolve) => {
          conn.ws.once('close', () => resolve())
          this.drop(conn, CloseCode.GOING_AWAY, 'server shutting down')
          // A peer that never answers the close handshake must not hold the shutdown.
          setTimeout(() => {
            conn.ws.terminate()
            resolve()
          }, 1000).unref?.()
        })
    )
    await Promise.all(closing)
    const http = this.http
    this.http = null
    this.wss?.close()
    this.wss = null
    await new Promise<void>((resolve) => http.close(() => resolve()))
    http.closeAllConnections?.()
  }

  // ------------------------------------------------------------------------------------------
  // Connections

  private upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy())
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (!this.paths.has(path)) return rejectUpgrade(socket, 404, 'Not Found')
    if (this.connections.size >= this.limits.maxConnections) {
      return rejectUpgrade(socket, 503, 'Service Unavailable')
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  }

  private accept(ws: WebSocket): void {
    const conn: Connection = {
      id: this.nextConnectionId++,
      ws,
      uuid: null,
      connectedAt: this.now,
      lastSeen: this.now,
      framesInWindow: 0,
      rateNoticeSent: false,
      badFrames: 0,
      sessions: new Set(),
      closed: false
    }
    this.connections.add(conn)
    // Never leave a socket without an error listener: an unhandled 'error' kills the process.
    ws.on('error', () => this.cleanup(conn))
    ws.on('close', () => this.cleanup(conn))
    ws.on('message', (data, isBinary) => this.receive(conn, data, isBinary))
    this.send(conn, frames.iam())
  }

  private receive(conn: Connection, data: RawData, isBinary: boolean): void {
    if (conn.closed) return
    conn.lastSeen = this.now
    if (++conn.framesInWindow > this.limits.framesPerWindow) {
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
    const buf = data as Buffer
    if (buf.length > this.limits.maxFrameBytes) {
      return this.sendError(
        conn,
        null,
        ResultCode.TOO_LARGE,
        `frame of ${buf.length} bytes exceeds the limit of ${this.limits.maxFrameBytes}`
      )
    }
    if (isBinary) return this.badFrame(conn, 'binary frames are not supported; send JSON text')
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
        // The same device asks again (e.g. after reconnecting): it takes its session back.
        this.reclaim(existing, conn)
        return this.send(conn, frames.createReply({ sessionid: existing.id, trxid: req.trxid }))
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
      createdAt: this.now
    }
    this.sessions.set(id, session)
    if (owned) owned.add(session)
    else this.sessionsByUuid.set(uuid, new Set([session]))
    conn.sessions.add(session)
    this.send(conn, frames.createReply({ sessionid: id, trxid: req.trxid }))
  }

  private joinSession(conn: Connection, req: RequestFrame): void {
    const id = req.sessionid
    if (!id) return this.sendError(conn, req, ResultCode.BAD_REQUEST, 'missing field "sessionid"')
    const session = this.sessions.get(id)
    if (!session) return this.sendError(conn, req, ResultCode.NOT_FOUND, `session "${id}" not found`)
    if (session.members.has(conn)) return this.send(conn, frames.successReply('join_session', req.trxid))
    if (session.members.size - 1 >= this.limits.maxJoinersPerSession) {
      return this.sendError(conn, req, ResultCode.CONFLICT, `session "${id}" is full`)
    }
    session.members.add(conn)
    conn.sessions.add(session)
    this.send(conn, frames.successReply('join_session', req.trxid))
    this.notifyOthers(session, conn, 'join_session')
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

  /** The hot path: forward the received bytes unchanged to every other member. */
  private relay(conn: Connection, frame: Frame, raw: Buffer): void {
    if (conn.uuid === null)
      return this.sendError(conn, frame, ResultCode.UNAUTHORIZED, 'not authenticated: send auth first')
    let session: Session | undefined
    if (frame.sessionid !== undefined) {
      session = this.sessions.get(frame.sessionid)
      if (!session || !session.members.has(conn)) {
        return this.sendError(
          conn,
          frame,
          ResultCode.FORBIDDEN,
          `not a member of session "${frame.sessionid}"; nothing was forwarded`
        )
      }
    } else if (conn.sessions.size === 1) {
      session = conn.sessions.values().next().value as Session
    } else {
      return this.sendError(
        conn,
        frame,
        conn.sessions.size === 0 ? ResultCode.FORBIDDEN : ResultCode.BAD_REQUEST,
        conn.sessions.size === 0
          ? 'not a member of any session; nothing was forwarded'
          : 'missing field "sessionid" (member of several sessions)'
      )
    }
    for (const member of session.members) {
      if (member !== conn) this.sendRaw(member, raw)
    }
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
      session.owner.sessions.delete(session)
      session.owner = conn
    }
    session.members.add(conn)
    conn.sessions.add(session)
  }

  /** Removes a session and tells every member except `by` (null: tell everyone). */
  private endSession(session: Session, by: Connection | null): void {
    if (this.sessions.get(session.id) !== session) return
    this.sessions.delete(session.id)
    const owned = this.sessionsByUuid.get(session.ownerUuid)
    owned?.delete(session)
    if (owned && owned.size === 0) this.sessionsByUuid.delete(session.ownerUuid)
    for (const member of session.members) {
      member.sessions.delete(session)
      if (member !== by)
        this.send(member, frames.sessionNotify('destroy_session', session.id, session.channeltype))
    }
    session.members.clear()
  }

  private notifyOthers(session: Session, except: Connection, operation: string): void {
    const notify = frames.sessionNotify(operation, session.id, session.channeltype)
    for (const member of session.members) if (member !== except) this.send(member, notify)
  }

  /** A closed connection: its own sessions end; sessions it joined learn that it left. */
  private cleanup(conn: Connection): void {
    if (!this.connections.delete(conn)) return
    conn.closed = true
    for (const session of [...conn.sessions]) {
      if (session.owner === conn) {
        this.endSession(session, conn)
      } else {
        session.members.delete(conn)
        conn.sessions.delete(session)
        this.notifyOthers(session, conn, LEAVE_SESSION)
      }
    }
  }

  private drop(conn: Connection, code: number, reason: string): void {
    this.cleanup(conn)
    if (conn.ws.readyState === conn.ws.OPEN || conn.ws.readyState === conn.ws.CONNECTING)
      conn.ws.close(code, reason)
  }

  private sweep(): void {
    this.now = Date.now()
    const { authTimeoutMs, idleTimeoutMs } = this.limits
    for (const conn of this.connections) {
      conn.framesInWindow = 0
      conn.rateNoticeSent = false
      if (conn.uuid === null && this.now - conn.connectedAt >= authTimeoutMs) {
        this.drop(conn, CloseCode.AUTH_TIMEOUT, 'authentication timeout')
      } else if (this.now - conn.lastSeen >= idleTimeoutMs) {
        this.drop(conn, CloseCode.IDLE_TIMEOUT, 'keep-alive timeout')
      }
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
      // A client that stops reading is cut off rather than buffered without bound.
      return this.drop(conn, CloseCode.SLOW_READER, 'not reading: send buffer limit exceeded')
    }
    if (this.tap) {
      const text = typeof payload === 'string' ? payload : payload.toString('utf8')
      this.tap({ direction: 'out', connectionId: conn.id, uuid: conn.uuid, text, at: Date.now() })
    }
    conn.ws.send(payload, { binary: false })
  }
}

/** Prefer the public service's sub-protocol; accept any other offer rather than fail the client. */
function pickSubprotocol(offered: Set<string>): string | false {
  if (offered.has(SUBPROTOCOL)) return SUBPROTOCOL
  const first = offered.values().next()
  return first.done ? false : first.value
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}
