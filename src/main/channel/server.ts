/**
 * The channel server: the WebSocket relay of PROTOCOL.md §1–5 and §7.
 * Plain Node (no electron): embedded by both hosts and runnable headless (`npm run serve`).
 */
import { type IncomingMessage, type Server as HttpServer, createServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { type RawData, type WebSocket, WebSocketServer } from 'ws'
import {
  type Frame,
  type RequestFrame,
  ResultCode,
  SUBPROTOCOL,
  frames,
  isDevModeOperation,
  parseFrame
} from '../../shared/protocol'
import { identifierProblem } from '../../shared/input-rules'
import { AccessControl } from './access'
import { type Connection, FrameWriter, type TapEvent, hasMoreInRead } from './connection'
import { type Logger, silentLogger } from '../log'
import { httpEndpoints } from './http-endpoints'
import { CloseCode, type ServerLimits, resolveLimits } from './limits'
import { type ListenerError, ListenerFaults, isOutOfDescriptors } from './listener-faults'
import { ChannelMetrics } from './metrics'
import { LIST_SESSIONS, Presence } from './presence'
import { memorySocketPair } from './memory-socket'
import { MemoryRegistry, type RegistryContext } from './memory-registry'
import type { SessionInfo, SessionRegistry } from './registry'

export type { SessionInfo } from './registry'
export type { TapEvent } from './connection'
export { addressKey, isLoopbackHost } from './access'

export interface ChannelServerOptions {
  /** Interface to bind; loopback by default so that nothing is exposed unless asked. */
  host?: string
  /** 0 picks a free port. */
  port?: number
  limits?: Partial<ServerLimits>
  /** Answer each ras_alive with the same notify (PROTOCOL.md §3: "may"). */
  echoKeepalive?: boolean
  /**
   * Paths a client may connect to (others get HTTP 404); absent or empty: any path. KT's guide
   * shows /channel and, in its connection example, a numbered path, so any is the default.
   */
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
  /**
   * Where sessions live, made once the server's limits and writer exist: the in-memory registry
   * by default, the Redis one to share sessions between processes.
   */
  registry?: (ctx: RegistryContext) => SessionRegistry
  /**
   * Structured logs of connections, sessions, refusals and faults (pino). Default: none, so that
   * the embedded server and the tests stay quiet. Tokens and URL queries are never logged.
   */
  logger?: Logger
  /** Checks `GET /readyz` asks besides shutdown (see `addReadinessCheck`). */
  readiness?: readonly ReadinessCheck[]
  /** Where `GET /metrics` reads from; default: the server's own, made at the first scrape. */
  metrics?: ChannelMetrics
  /** Token of operator connections: they may list sessions and follow them (see presence.ts). */
  operatorToken?: string | null
}

/**
 * Whether the server can take new sessions, as `GET /readyz` reports it. A store that depends on
 * something outside the process (Redis) registers one; `check` must be synchronous and cheap
 * (it runs on every probe): it reads state the store keeps, it does not ask Redis.
 */
export interface ReadinessCheck {
  /** Short name shown in the reason, e.g. "redis". */
  name: string
  /** True when ready, or a sentence saying why not (e.g. "unreachable since 12:00:03"). */
  check: () => true | string
}

export interface Readiness {
  ready: boolean
  /** Why not, one entry per failing check ("shutting down", "redis: …"); empty when ready. */
  reasons: string[]
}

/**
 * Running totals since the server started, for `GET /metrics`: plain integers the server bumps
 * where things happen (the relay adds to two), read by the metrics at scrape time only.
 */
export interface ServerCounters {
  connectionsAccepted: number
  sessionsCreated: number
  framesReceived: number
  bytesReceived: number
  /** Data frames relayed to their session, counted once each as received. */
  framesRelayed: number
  bytesRelayed: number
  /** Error replies sent, by result_cd. */
  refusedByResultCode: ReadonlyMap<number, number>
  /** Upgrades refused, by HTTP status. */
  upgradesRefusedByStatus: ReadonlyMap<number, number>
}

export type { RegistryContext } from './memory-registry'

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
  /** Frames held for absent members. */
  heldFrames: number
  /** Bytes written to sockets and not yet taken by the peer. */
  bufferedBytes: number
  /** Client addresses with open sockets or handshakes in the current window. */
  trackedAddresses: number
}

/** The server's own close code for a socket that ended without a close frame. */
const ABNORMAL_CLOSURE = 1006

export class ChannelServer {
  readonly limits: ServerLimits
  private readonly host: string
  private readonly port: number
  private readonly echoKeepalive: boolean
  private readonly tap: ((event: TapEvent) => void) | undefined
  private readonly access: AccessControl
  private readonly writer: FrameWriter
  private readonly registry: SessionRegistry
  private readonly tls: { cert: string | Buffer; key: string | Buffer } | null
  private readonly log: Logger
  private readonly readinessChecks: ReadinessCheck[]
  private metricsRegistry: ChannelMetrics | null
  /** Set when close() begins: /readyz answers 503 and new upgrades are refused from then on. */
  private shuttingDown = false
  private closing: Promise<void> | null = null
  // Counters for /metrics (see ServerCounters): plain fields, so the relay pays an increment.
  private connectionsAccepted = 0
  private framesReceived = 0
  private bytesReceived = 0
  private readonly registryCounters = { sessionsCreated: 0, framesRelayed: 0, bytesRelayed: 0 }
  private readonly upgradesRefusedByStatus = new Map<number, number>()
  private readonly presence: Presence<Connection>
  private readonly operatorTokenValue: string | null
  private http: HttpServer | null = null
  /** Reads the upgrade requests of in-process connections (never listens on a port). */
  private inProcessHttp: HttpServer | null = null
  private wss: WebSocketServer | null = null
  private sweepTimer: ReturnType<typeof setInterval> | null = null
  private readonly connections = new Set<Connection>()
  /** Sockets still open, including ones being closed, with their connection. */
  private readonly sockets = new Map<WebSocket, Connection>()
  private nextConnectionId = 1
  /** Coarse clock, advanced by the sweep: the relay path never reads the system clock. */
  private now = Date.now()
  private address: AddressInfo | null = null
  private readonly listenerFaults = new ListenerFaults()
  /**
   * One set of socket listeners for all connections: closures per connection would cost every
   * idle connection three functions and their scope (about 250 B); a socket finds its
   * connection in `sockets` instead.
   */
  private readonly listeners = this.socketListeners()
  constructor(options: ChannelServerOptions = {}) {
    this.limits = resolveLimits(options.limits)
    this.host = options.host ?? '127.0.0.1'
    this.port = options.port ?? 0
    this.echoKeepalive = options.echoKeepalive ?? true
    this.tap = options.tap
    this.log = options.logger ?? silentLogger
    this.readinessChecks = [...(options.readiness ?? [])]
    this.metricsRegistry = options.metrics ?? null
    this.access = new AccessControl(
      {
        host: this.host,
        token: options.token,
        allowOrigins: options.allowOrigins,
        allowUuids: options.allowUuids,
        openAccess: options.openAccess,
        limitLoopback: options.limitLoopback,
        paths: options.paths
      },
      this.limits
    )
    this.writer = new FrameWriter(
      this.limits,
      this.tap,
      (conn, code, reason) => this.drop(conn, code, reason),
      this.log
    )
    this.operatorTokenValue = options.operatorToken || null
    this.presence = new Presence(
      this.operatorTokenValue,
      (conn, frame) => this.send(conn, frame),
      () =>
        this.registry.listSessions().map((s) => ({
          id: s.sessionid,
          ownerUuid: s.ownerUuid,
          channeltype: s.channeltype,
          members: { size: s.memberUuids.length }
        })),
      this.limits.maxPresenceSubscribers
    )
    const ctx: RegistryContext = {
      limits: this.limits,
      writer: this.writer,
      log: this.log,
      counters: this.registryCounters,
      now: () => this.now,
      sessionStarted: (s) => this.presence.started(s),
      sessionEnded: (s) => this.presence.ended(s)
    }
    this.registry = options.registry ? options.registry(ctx) : new MemoryRegistry(ctx)
    if (options.tls) {
      if (!options.tls.cert || !options.tls.key) throw new Error('TLS needs both a certificate and a key')
      this.tls = { cert: options.tls.cert, key: options.tls.key }
    } else {
      this.tls = null
    }
    this.metricsRegistry?.watch(this)
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
    const refuse = httpEndpoints({
      readiness: () => this.readiness(),
      metrics: () => this.metrics,
      mayReadMetrics: (req) => this.access.presentsToken(req),
      logger: this.log
    })
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
    // Node reports a failed accept (EMFILE, ENFILE) as an 'error' of the listening server: with
    // no listener that would end the process. The listening socket stays open, so serve on.
    http.on('error', (e) => this.listenerFault(e))
    this.address = http.address() as AddressInfo
    this.now = Date.now()
    this.log.info({ url: this.url, tls: this.tls !== null }, 'channel server listening')
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
    return this.access.token
  }

  /** The operator token (presence), or null when nobody may list sessions. */
  get operatorToken(): string | null {
    return this.operatorTokenValue
  }

  /** Lines that say who may connect, for a person starting the server. */
  accessNotice(): string[] {
    return this.access.notice(this.address ? this.url : null)
  }

  get connectionCount(): number {
    return this.connections.size
  }

  get sessionCount(): number {
    return this.registry.sessionCount
  }

  /** Can take new sessions now (false while a shared session store is unreachable). */
  get ready(): boolean {
    return this.registry.ready
  }

  stats(): ServerStats {
    let bufferedBytes = 0
    for (const ws of this.sockets.keys()) bufferedBytes += ws.bufferedAmount
    return {
      connections: this.connections.size,
      sockets: this.sockets.size,
      ...this.registry.stats(),
      bufferedBytes,
      trackedAddresses: this.access.trackedAddresses
    }
  }

  listSessions(): SessionInfo[] {
    return this.registry.listSessions()
  }

  /** Totals since start (see ServerCounters); a copy, taken at each scrape. */
  counters(): ServerCounters {
    return {
      connectionsAccepted: this.connectionsAccepted,
      ...this.registryCounters,
      framesReceived: this.framesReceived,
      bytesReceived: this.bytesReceived,
      refusedByResultCode: new Map(this.writer.refusedByResultCode),
      upgradesRefusedByStatus: new Map(this.upgradesRefusedByStatus)
    }
  }

  /** What `GET /readyz` answers: not while shutting down, nor while any check says no. */
  readiness(): Readiness {
    const reasons: string[] = []
    if (this.shuttingDown) reasons.push('shutting down')
    for (const { name, check } of this.readinessChecks) {
      let verdict: true | string
      try {
        verdict = check()
      } catch (e) {
        verdict = e instanceof Error ? e.message : String(e)
      }
      if (verdict !== true) reasons.push(`${name}: ${verdict}`)
    }
    return { ready: reasons.length === 0, reasons }
  }

  /** Adds a readiness check (e.g. a Redis store's); returns what removes it again. */
  addReadinessCheck(check: ReadinessCheck): () => void {
    this.readinessChecks.push(check)
    return () => {
      const i = this.readinessChecks.indexOf(check)
      if (i >= 0) this.readinessChecks.splice(i, 1)
    }
  }

  /** The metrics `GET /metrics` serves (made at first use unless given as an option). */
  get metrics(): ChannelMetrics {
    if (this.metricsRegistry === null) {
      this.metricsRegistry = new ChannelMetrics()
      this.metricsRegistry.watch(this)
    }
    return this.metricsRegistry
  }

  /** Graceful shutdown: members learn that their sessions end, then every socket is closed. */
  close(): Promise<void> {
    if (!this.http) return Promise.resolve()
    // A second call (SIGTERM after SIGINT) waits for the same shutdown.
    this.closing ??= this.shutDown().finally(() => (this.closing = null))
    return this.closing
  }

  private async shutDown(): Promise<void> {
    if (!this.http) return
    this.shuttingDown = true
    this.log.info(
      { sessions: this.registry.sessionCount, connections: this.connections.size },
      'channel server shutting down: ending sessions and closing connections'
    )
    if (this.sweepTimer) clearInterval(this.sweepTimer)
    this.sweepTimer = null
    await this.registry.shutdown()
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
    this.shuttingDown = false
    this.log.info('channel server stopped')
  }

  /**
   * An error of the listening socket once it listens: logged (at most once a second, so that a
   * descriptor shortage does not flood the log) and survived, as the socket keeps accepting.
   */
  private listenerFault(err: ListenerError): void {
    const count = this.listenerFaults.note()
    if (count === null) return
    this.log.error(
      { fault: err.message, code: err.code, count },
      isOutOfDescriptors(err)
        ? 'cannot accept connections: out of file descriptors; raise the descriptor limit (ulimit -n, LimitNOFILE) or lower the maxConnections limit; still serving'
        : 'the listening socket reported an error; still serving'
    )
  }

  // ------------------------------------------------------------------------------------------
  // Connections

  /** Every check that needs no socket happens here, before the WebSocket exists. */
  private upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // For a refused upgrade (ws has no listener on the socket yet). A shared function, not a
    // closure: a closure here would share this call's scope with the handleUpgrade callback and
    // keep the whole upgrade request alive as long as the socket.
    socket.on('error', destroyOnError)
    const refusal = this.access.checkUpgrade(req, this.sockets.size, this.shuttingDown)
    if (refusal !== null) {
      // Counted and logged by path, never by URL (it may carry the token).
      const { status, reason } = refusal
      this.upgradesRefusedByStatus.set(status, (this.upgradesRefusedByStatus.get(status) ?? 0) + 1)
      const target = req.url ?? '/'
      const q = target.indexOf('?')
      const path = q < 0 ? target : target.slice(0, q)
      this.log.info({ status, reason, remote: req.socket.remoteAddress, path }, 'upgrade refused')
      return rejectUpgrade(socket, status, refusal.text, refusal.headers)
    }
    // ws puts its own error listener on the socket for the rest of its life: ours would only
    // cost every connection a listener array.
    socket.off('error', destroyOnError)
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const address = this.access.addressEntry(req)
    if (address !== null) address.open++
    const conn: Connection = {
      id: this.nextConnectionId++,
      ws,
      address,
      uuid: null,
      // The exact time (once per connection), so that the login timeout never fires early.
      connectedAt: Date.now(),
      lastSeen: this.now,
      framesInWindow: 0,
      rateNoticeSent: false,
      burstBytes: 0,
      throttled: false,
      yielding: false,
      corked: false,
      badFrames: 0,
      sessions: null,
      envelope: null,
      closed: false
    }
    this.sockets.set(ws, conn)
    this.connections.add(conn)
    this.connectionsAccepted++
    this.log.info({ conn: conn.id, remote: req.socket.remoteAddress }, 'connection opened')
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
      error(this: WebSocket, err: Error) {
        server.socketError(this, err)
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
  private socketError(ws: WebSocket, err: Error): void {
    const conn = this.sockets.get(ws)
    if (conn === undefined) return
    this.log.warn({ conn: conn.id, uuid: conn.uuid, fault: err.message }, 'connection fault: protocol error')
    this.cleanup(conn, false)
  }

  private socketClose(ws: WebSocket, code: number): void {
    const conn = this.sockets.get(ws)
    if (conn === undefined) return
    this.log.info({ conn: conn.id, uuid: conn.uuid, code }, 'connection closed')
    this.sockets.delete(ws)
    this.access.released(conn.address)
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
    this.writer.moreInRead = hasMoreInRead(conn.ws)
    const buf = data as Buffer
    this.framesReceived++
    this.bytesReceived += buf.length
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
        this.writer.refused(conn, ResultCode.RATE_LIMITED, null, 'rate limited')
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
    if (this.tap === undefined && this.registry.relayFast(conn, buf)) return
    const text = buf.toString('utf8')
    if (this.tap) this.tap({ direction: 'in', connectionId: conn.id, uuid: conn.uuid, text, at: Date.now() })
    const parsed = parseFrame(text, this.limits.maxNestingDepth)
    if (!parsed.ok) {
      const { error } = parsed
      if (error.field === undefined) return this.badFrame(conn, error.result_msg)
      this.writer.refused(conn, error.result_cd, error.partial?.operation ?? null, error.result_msg)
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
    if (frame.msgtype === 'data') {
      // Here, not in each registry: before auth a frame has no sender to be a member.
      if (conn.uuid === null)
        return this.sendError(conn, frame, ResultCode.UNAUTHORIZED, 'not authenticated: send auth first')
      return this.registry.relay(conn, frame, buf)
    }
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
        return this.registry.createSession(conn, req)
      case 'join_session':
        return this.registry.joinSession(conn, req)
      case 'destroy_session':
        return this.registry.destroySession(conn, req)
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
    const problem = identifierProblem(uuid, 'uuid', this.limits.maxUuidLength)
    if (problem) return this.sendError(conn, req, ResultCode.BAD_REQUEST, problem)
    if (!this.access.uuidAllowed(uuid)) {
      // The connection stays unauthenticated; the auth timeout closes it.
      return this.sendError(conn, req, ResultCode.FORBIDDEN, `uuid "${uuid}" is not allowed on this server`)
    }
    if (conn.uuid !== null && conn.uuid !== uuid) {
      return this.sendError(conn, req, ResultCode.CONFLICT, `already authenticated as another uuid`)
    }
    conn.uuid = uuid
    this.log.debug({ conn: conn.id, uuid }, 'authenticated')
    this.send(conn, frames.authReply({ trxid: req.trxid }))
  }

  /**
   * A connection is gone. A clean close (close frame), a server-side close and a protocol error
   * end its sessions at once as PROTOCOL.md §4 says; a lost one (no close frame) keeps its slots
   * for the grace period so that the same client can come back unnoticed.
   */
  private cleanup(conn: Connection, lost: boolean): void {
    if (!this.connections.delete(conn)) return
    conn.closed = true
    this.registry.disconnected(conn, lost)
  }

  private drop(conn: Connection, code: number, reason: string): void {
    const fault = code === CloseCode.SLOW_READER || code === CloseCode.BAD_FRAMES
    this.log[fault ? 'warn' : 'info']({ conn: conn.id, uuid: conn.uuid, code, reason }, 'connection dropped')
    this.cleanup(conn, false)
    if (conn.ws.readyState === conn.ws.OPEN || conn.ws.readyState === conn.ws.CONNECTING)
      conn.ws.close(code, reason)
  }

  private sweep(): void {
    this.now = Date.now()
    const { authTimeoutMs, idleTimeoutMs } = this.limits
    for (const conn of this.connections) {
      // lastSeen is read from the coarse clock, which lags by up to a sweep: a frame that arrived
      // since the last sweep is counted as arriving now, so the idle cut-off never fires early.
      if (conn.framesInWindow > 0) conn.lastSeen = this.now
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
    this.registry.sweep(this.now)
    this.access.newWindow()
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
    this.writer.sendError(conn, about, result_cd, result_msg)
  }

  private send(conn: Connection, frame: Frame): void {
    this.writer.send(conn, frame)
  }
}

interface SocketListeners {
  error: (this: WebSocket, err: Error) => void
  close: (this: WebSocket, code: number) => void
  message: (this: WebSocket, data: RawData, isBinary: boolean) => void
}

/** Prefer the public service's sub-protocol; accept any other offer rather than fail the client. */
function pickSubprotocol(offered: Set<string>): string | false {
  if (offered.has(SUBPROTOCOL)) return SUBPROTOCOL
  const first = offered.values().next()
  return first.done ? false : first.value
}

function destroyOnError(this: Duplex): void {
  this.destroy()
}

function rejectUpgrade(socket: Duplex, status: number, text: string, headers = ''): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\n${headers}Connection: close\r\nContent-Length: 0\r\n\r\n`)
}
