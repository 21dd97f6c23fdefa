/**
 * The channel client: one WebSocket to a channel server, owned by the main process
 * (renderer timers are throttled in hidden windows; a missed keep-alive costs the channel).
 * Answers iam with auth, matches replies to requests by trxid, keeps the connection alive,
 * reconnects with capped exponential backoff and jitter, and afterwards re-authenticates and
 * re-creates / re-joins its sessions. Plain Node: no electron import.
 */
import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import WebSocket from 'ws'
import { Emitter } from '../../shared/emitter'
import {
  MAX_ID_LENGTH,
  MAX_NESTING_DEPTH,
  identifierProblem,
  nestsDeeperThan
} from '../../shared/input-rules'
import {
  type ChannelType,
  type DataFrame,
  type Frame,
  type NotifyFrame,
  type ReplyFrame,
  type RequestFrame,
  RESUME_TOKEN_KEY,
  ResultCode,
  SUBPROTOCOL,
  frames,
  parseFrame
} from '../../shared/protocol'
import { CloseCode } from './limits'
import { DELIVERY_KEY, DELIVERY_TYPE, SessionDelivery, isObject, readControl, readStamp } from './delivery'

export type ClientState = 'idle' | 'connecting' | 'authenticating' | 'ready' | 'reconnecting' | 'closed'

export interface ReconnectPolicy {
  enabled: boolean
  initialDelayMs: number
  maxDelayMs: number
  factor: number
  /** 0..1: each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number
}

export interface ChannelClientOptions {
  url: string
  uuid: string
  channeltype?: ChannelType
  /**
   * Period of ras_alive (PROTOCOL.md §3 recommends 30–60 s; reference clients use 30 s); 0 sends
   * none of its own (`keepalive()` still sends one when asked).
   */
  keepaliveIntervalMs?: number
  requestTimeoutMs?: number
  /** Give up on a connection attempt (TCP + WebSocket handshake + iam) after this long. */
  connectTimeoutMs?: number
  /** If a server sends no iam, authenticate anyway after this long. */
  iamWaitMs?: number
  reconnect?: Partial<ReconnectPolicy>
  /** Data frames sent while disconnected wait at most this long, then expire with a notice. */
  outboxTtlMs?: number
  outboxMaxFrames?: number
  /**
   * Data frames written per second at most (the server drops frames beyond its own rate,
   * 200 per second by default; windows are not aligned, so half of it is safe).
   */
  maxDataFramesPerSecond?: number
  /** Containers a received frame may nest; deeper ones are refused and reported (`refused`). */
  maxNestingDepth?: number
  /**
   * Opens the connection's socket instead of TCP (e.g. ChannelServer.connectInProcess for the
   * app's own embedded server); the WebSocket and everything above it stay the same.
   */
  connect?: () => Duplex
  /** Access token of a server that requires one, sent as `Authorization: Bearer`. */
  token?: string
  /** For wss:// with a private certificate authority (or a self-signed certificate). */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean }
  /** Offer the public service's sub-protocol (default true). */
  subprotocol?: string | null
  random?: () => number
}

export const CLIENT_DEFAULTS = {
  keepaliveIntervalMs: 30_000,
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  iamWaitMs: 2_000,
  outboxTtlMs: 30_000,
  outboxMaxFrames: 2_000,
  maxDataFramesPerSecond: 90,
  maxNestingDepth: MAX_NESTING_DEPTH,
  reconnect: {
    enabled: true,
    initialDelayMs: 500,
    maxDelayMs: 30_000,
    factor: 2,
    jitter: 0.3
  } as ReconnectPolicy
} as const

/** Delay before reconnect attempt `attempt` (1-based): capped exponential, scaled by jitter. */
export function backoffDelay(attempt: number, policy: ReconnectPolicy, random: number): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1))
  return Math.round(base * (1 - policy.jitter + 2 * policy.jitter * random))
}

/** A request answered with anything but 200, or one that could not be completed. */
export class ChannelError extends Error {
  constructor(
    readonly result_cd: number,
    readonly result_msg: string,
    readonly reply?: ReplyFrame
  ) {
    super(`${result_cd} ${result_msg}`)
    this.name = 'ChannelError'
  }
}

export type ClientEvents = {
  state: [state: ClientState, detail?: string]
  /**
   * Every frame received, parsed; data frames only once each and in order (duplicates and
   * delivery control frames of delivery.ts are consumed here).
   */
  frame: [frame: Frame]
  /** Every frame sent (for the signaling view). */
  sent: [frame: Frame]
  notify: [frame: NotifyFrame]
  data: [frame: DataFrame]
  /** After a reconnect, a session this client had could not be taken back. */
  sessionLost: [sessionid: string, reason: string]
  /** A session was re-created or re-joined after a reconnect. */
  sessionRestored: [sessionid: string]
  /** Data frames that waited in the outbox too long and were not sent. */
  expired: [frames: DataFrame[]]
  /** A peer's frames that will not arrive: they were no longer kept for resending. */
  missed: [sessionid: string, count: number]
  /** This client's frames a peer did not get and that were no longer kept for resending. */
  dropped: [sessionid: string, count: number]
  /** A received frame that was refused unread (unreadable, or nested too deeply). */
  refused: [reason: string, sessionid: string | null]
  error: [error: Error]
}

interface Pending {
  operation: string
  resolve: (reply: ReplyFrame) => void
  reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout>
}

type SessionRole = 'owner' | 'member'

interface HeldSession {
  role: SessionRole
  delivery: SessionDelivery
  /** The server's resume token for our place (ours): presented again when we come back. */
  token: string | undefined
}

/** What waits to be written: new data (numbered when written) or frames already numbered. */
type Outgoing =
  | { kind: 'data'; sessionid: string; data: Record<string, unknown>; at: number }
  | { kind: 'again'; sessionid: string; text: string }

/** HTTP statuses at upgrade that retrying will not change. */
const REFUSED_STATUSES = new Set([401, 403, 404])

export class ChannelClient extends Emitter<ClientEvents> {
  readonly uuid: string
  readonly url: string
  readonly channeltype: ChannelType
  /** Names this client's streams of data frames (see delivery.ts); random, per instance. */
  readonly streamId = randomBytes(9).toString('base64url')
  private readonly opts: Required<
    Omit<
      ChannelClientOptions,
      'reconnect' | 'random' | 'subprotocol' | 'channeltype' | 'token' | 'tls' | 'connect'
    >
  >
  private readonly policy: ReconnectPolicy
  private readonly random: () => number
  private readonly subprotocol: string | null
  private readonly wsOptions: WebSocket.ClientOptions
  private ws: WebSocket | null = null
  private _state: ClientState = 'idle'
  private seq = 0
  private attempt = 0
  private readonly pending = new Map<string, Pending>()
  private readonly sessions = new Map<string, HeldSession>()
  private outbox: Outgoing[] = []
  private keepaliveTimer: ReturnType<typeof setInterval> | null = null
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null
  private connectTimer: ReturnType<typeof setTimeout> | null = null
  private iamTimer: ReturnType<typeof setTimeout> | null = null
  private paceTimer: ReturnType<typeof setTimeout> | null = null
  private paceWindowStart = 0
  private paceUsed = 0
  private keepaliveWaiters: ((frame: NotifyFrame | null) => void)[] = []
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = []
  private disposed = false
  private authInFlight = false
  /** Sessions are being re-created / re-joined after a reconnect: data waits until they are. */
  private restoring = false
  /** The server refused the upgrade in a way retrying will not change (e.g. 401: token). */
  private refusal: { status: number; message: string } | null = null

  constructor(options: ChannelClientOptions) {
    super()
    // The server would refuse it at auth; refused here, the caller learns why at once.
    const problem = identifierProblem(options.uuid, 'uuid', MAX_ID_LENGTH)
    if (problem) throw new ChannelError(ResultCode.BAD_REQUEST, problem)
    this.url = options.url
    this.uuid = options.uuid
    this.channeltype = options.channeltype ?? 'webrtcaudio'
    this.opts = {
      url: options.url,
      uuid: options.uuid,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? CLIENT_DEFAULTS.keepaliveIntervalMs,
      requestTimeoutMs: options.requestTimeoutMs ?? CLIENT_DEFAULTS.requestTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? CLIENT_DEFAULTS.connectTimeoutMs,
      iamWaitMs: options.iamWaitMs ?? CLIENT_DEFAULTS.iamWaitMs,
      outboxTtlMs: options.outboxTtlMs ?? CLIENT_DEFAULTS.outboxTtlMs,
      outboxMaxFrames: options.outboxMaxFrames ?? CLIENT_DEFAULTS.outboxMaxFrames,
      maxDataFramesPerSecond: options.maxDataFramesPerSecond ?? CLIENT_DEFAULTS.maxDataFramesPerSecond,
      maxNestingDepth: options.maxNestingDepth ?? CLIENT_DEFAULTS.maxNestingDepth
    }
    if (!(this.opts.maxDataFramesPerSecond >= 1)) {
      throw new RangeError('maxDataFramesPerSecond must be at least 1')
    }
    this.policy = { ...CLIENT_DEFAULTS.reconnect, ...options.reconnect }
    this.random = options.random ?? Math.random
    this.subprotocol = options.subprotocol === undefined ? SUBPROTOCOL : options.subprotocol
    this.wsOptions = {
      handshakeTimeout: this.opts.connectTimeoutMs,
      // ws runs over any Duplex; its types name only net.Socket.
      ...(options.connect
        ? { createConnection: options.connect as unknown as WebSocket.ClientOptions['createConnection'] }
        : {}),
      ...(options.token ? { headers: { authorization: `Bearer ${options.token}` } } : {}),
      ...(options.tls?.ca !== undefined ? { ca: options.tls.ca } : {}),
      ...(options.tls?.rejectUnauthorized !== undefined
        ? { rejectUnauthorized: options.tls.rejectUnauthorized }
        : {})
    }
  }

  get state(): ClientState {
    return this._state
  }

  /** Sessions this client holds (created or joined), restored after a reconnect. */
  get sessionIds(): string[] {
    return [...this.sessions.keys()]
  }

  /** Connects and authenticates; resolves when ready. Rejects if the first attempt fails. */
  connect(): Promise<void> {
    if (this.disposed) return Promise.reject(new Error('channel client is disposed'))
    if (this._state === 'ready') return Promise.resolve()
    const ready = new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }))
    if (this._state === 'idle' || this._state === 'closed') {
      this.refusal = null
      this.open()
    }
    return ready
  }

  /** Sends a request and resolves with its 200 reply; rejects with ChannelError otherwise. */
  request(frame: RequestFrame): Promise<ReplyFrame> {
    if (this._state !== 'ready' && frame.operation !== 'auth') {
      return Promise.reject(new ChannelError(ResultCode.SYSTEM_ERROR, `not connected (${this._state})`))
    }
    const trxid = frame.trxid ?? this.nextTrxid()
    const out = { ...frame, trxid }
    return new Promise<ReplyFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(trxid)
        reject(
          new ChannelError(
            ResultCode.SYSTEM_ERROR,
            `no reply to ${frame.operation} within ${this.opts.requestTimeoutMs} ms`
          )
        )
      }, this.opts.requestTimeoutMs)
      this.pending.set(trxid, { operation: frame.operation, resolve, reject, timer })
      this.transmit(out)
    })
  }

  async createSession(options: { sessionid?: string; channeltype?: ChannelType } = {}): Promise<string> {
    const reply = await this.request(
      this.withToken(
        frames.createRequest({
          uuid: this.uuid,
          channeltype: options.channeltype ?? this.channeltype,
          ...(options.sessionid ? { sessionid: options.sessionid } : {})
        })
      )
    )
    const id = reply.sessionid ?? options.sessionid
    if (!id)
      throw new ChannelError(ResultCode.SYSTEM_ERROR, 'create_session reply carries no sessionid', reply)
    this.hold(id, 'owner', reply)
    return id
  }

  async joinSession(sessionid: string): Promise<void> {
    const reply = await this.request(
      this.withToken(frames.joinRequest({ uuid: this.uuid, sessionid, channeltype: this.channeltype }))
    )
    this.hold(sessionid, 'member', reply)
  }

  async destroySession(sessionid: string): Promise<void> {
    try {
      await this.request(frames.destroyRequest({ uuid: this.uuid, sessionid, channeltype: this.channeltype }))
    } finally {
      this.sessions.delete(sessionid)
    }
  }

  /** Forgets a session locally (e.g. the server notified its end). */
  forgetSession(sessionid: string): void {
    this.sessions.delete(sessionid)
  }

  /**
   * Relays a payload to the other members. While disconnected it waits in the outbox and is
   * sent once, in order, after the session is restored, or expires with an `expired` event.
   * Frames lost in flight around a drop are resent when the peer says what it is missing.
   */
  sendData(sessionid: string, data: Record<string, unknown>): void {
    // Refused here, not when the pacing timer writes it: there, nobody could be told.
    if (nestsDeeperThan(data, this.opts.maxNestingDepth - 1)) {
      throw new ChannelError(
        ResultCode.BAD_REQUEST,
        `data nests deeper than ${this.opts.maxNestingDepth - 1} levels (frames at most ${this.opts.maxNestingDepth})`
      )
    }
    if (this.outbox.length >= this.opts.outboxMaxFrames) {
      const index = this.outbox.findIndex((o) => o.kind === 'data')
      if (index >= 0) {
        const [oldest] = this.outbox.splice(index, 1)
        if (oldest?.kind === 'data') this.emit('expired', [this.dataFrame(oldest.sessionid, oldest.data)])
      }
    }
    if (
      !this.sessions.has(sessionid) &&
      this.canWrite() &&
      this.outbox.length === 0 &&
      this.takeBudget(Date.now())
    ) {
      // Not a session of this client: the server decides (403), as it always did.
      return this.transmit(this.dataFrame(sessionid, data))
    }
    this.outbox.push({ kind: 'data', sessionid, data, at: Date.now() })
    this.pump()
  }

  /** Sends one ras_alive now; resolves with the server's echo, or null if none comes in time. */
  keepalive(): Promise<NotifyFrame | null> {
    if (this._state !== 'ready') {
      return Promise.reject(new ChannelError(ResultCode.SYSTEM_ERROR, `not connected (${this._state})`))
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.keepaliveWaiters = this.keepaliveWaiters.filter((w) => w !== waiter)
        resolve(null)
      }, this.opts.requestTimeoutMs)
      const waiter = (frame: NotifyFrame | null): void => {
        clearTimeout(timer)
        resolve(frame)
      }
      this.keepaliveWaiters.push(waiter)
      this.transmit(frames.rasAlive())
    })
  }

  /** Closes the socket and stops every timer; the client cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.clearTimers()
    this.failPending('channel client disposed')
    for (const w of this.keepaliveWaiters) w(null)
    this.keepaliveWaiters = []
    const ws = this.ws
    this.ws = null
    if (ws) {
      ws.removeAllListeners()
      ws.on('error', () => undefined)
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate()
      else ws.close(1000, 'bye')
    }
    this.outbox = []
    this.sessions.clear()
    this.setState('closed', 'disposed')
    this.removeAllListeners()
  }

  /** Timers and sockets still held (for leak checks). */
  get activeHandles(): number {
    return (
      (this.ws ? 1 : 0) +
      (this.keepaliveTimer ? 1 : 0) +
      (this.reconnectTimer ? 1 : 0) +
      (this.connectTimer ? 1 : 0) +
      (this.iamTimer ? 1 : 0) +
      (this.paceTimer ? 1 : 0) +
      this.pending.size
    )
  }

  /** Data frames waiting to be written (disconnected, restoring, or paced). */
  get queuedFrames(): number {
    return this.outbox.length
  }

  // ------------------------------------------------------------------------------------------

  private nextTrxid(): string {
    this.seq += 1
    return `${this.uuid}:${Date.now()}:${String(this.seq).padStart(5, '0')}`
  }

  private setState(state: ClientState, detail?: string): void {
    if (this._state === state) return
    this._state = state
    this.emit('state', state, detail)
  }

  /** A create or join of a session we hold carries our place's resume token (see hold). */
  private withToken(request: RequestFrame): RequestFrame {
    const token = request.sessionid === undefined ? undefined : this.sessions.get(request.sessionid)?.token
    return token === undefined ? request : { ...request, [RESUME_TOKEN_KEY]: token }
  }

  /** Records a session after a 200 create/join; `resumed` (ours) says the server kept our place. */
  private hold(sessionid: string, role: SessionRole, reply: ReplyFrame): void {
    const given = reply[RESUME_TOKEN_KEY]
    const token = typeof given === 'string' ? given : undefined
    const held = this.sessions.get(sessionid)
    if (held && reply.resumed === true) {
      held.role = role
      held.token = token ?? held.token
      return
    }
    if (held) {
      // A new session, or a new place in it: what peers sent before is not ours to wait for.
      held.role = role
      held.token = token
      held.delivery.reset()
      return
    }
    this.sessions.set(sessionid, {
      role,
      token,
      delivery: new SessionDelivery(this.opts.outboxMaxFrames, this.opts.outboxTtlMs)
    })
  }

  private open(): void {
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting')
    let ws: WebSocket
    try {
      ws = this.subprotocol
        ? new WebSocket(this.url, this.subprotocol, this.wsOptions)
        : new WebSocket(this.url, this.wsOptions)
    } catch (e) {
      return this.lost(e instanceof Error ? e.message : String(e))
    }
    this.ws = ws
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null
      ws.terminate()
    }, this.opts.connectTimeoutMs)
    ws.on('error', (err) => {
      const status = /Unexpected server response: (\d+)/.exec(err.message)
      const code = status ? Number(status[1]) : 0
      if (REFUSED_STATUSES.has(code)) {
        const why =
          code === 401 ? ': access token missing or wrong' : code === 403 ? ': origin not allowed' : ''
        this.refusal = { status: code, message: `the server refused the connection (HTTP ${code}${why})` }
      }
      this.emit('error', err)
    })
    ws.on('open', () => {
      this.setState('authenticating')
      this.iamTimer = setTimeout(() => {
        this.iamTimer = null
        void this.authenticate()
      }, this.opts.iamWaitMs)
    })
    ws.on('message', (data, isBinary) => {
      if (isBinary) return
      this.contained('a received frame', () => this.receive(data.toString()))
    })
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return
      this.ws = null
      // The server released every place of this connection (PROTOCOL.md §3: the channel is
      // released after 70 s of silence): coming back must not bring the sessions back unasked.
      if (code === CloseCode.IDLE_TIMEOUT)
        this.releaseSessions('released by the channel server: keep-alive timeout')
      this.lost(`connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`)
    })
  }

  private async authenticate(): Promise<void> {
    if (this.iamTimer) clearTimeout(this.iamTimer)
    this.iamTimer = null
    if (this._state !== 'authenticating' || this.authInFlight) return
    this.authInFlight = true
    try {
      await this.request(frames.authRequest({ uuid: this.uuid, channeltype: this.channeltype }))
    } catch (e) {
      this.authInFlight = false
      if (this.ws === null) return // the connection dropped meanwhile: lost() handles it
      const err = e instanceof Error ? e : new Error(String(e))
      this.emit('error', err)
      // An auth refusal will not change by retrying: stop here and tell whoever waits.
      this.clearTimers()
      const ws = this.ws
      this.ws = null
      ws?.close(1000, 'auth failed')
      this.setState('closed', `authentication failed: ${err.message}`)
      this.settleReady(err)
      return
    }
    this.authInFlight = false
    if (this.connectTimer) clearTimeout(this.connectTimer)
    this.connectTimer = null
    const restoring = this.attempt > 0
    this.attempt = 0
    this.restoring = restoring
    this.setState('ready')
    this.startKeepalive()
    if (restoring) {
      try {
        await this.restoreSessions()
      } finally {
        this.restoring = false
      }
    }
    this.pump()
    this.settleReady(null)
  }

  private releaseSessions(reason: string): void {
    const ids = [...this.sessions.keys()]
    this.sessions.clear()
    for (const id of ids) this.emit('sessionLost', id, reason)
  }

  private async restoreSessions(): Promise<void> {
    for (const [id, held] of [...this.sessions]) {
      if (this._state !== 'ready') return // dropped again: the next reconnect restores
      try {
        if (held.role === 'owner') await this.createSession({ sessionid: id })
        else await this.joinSession(id)
      } catch (e) {
        if (this._state !== 'ready') return
        this.sessions.delete(id)
        this.emit('sessionLost', id, e instanceof Error ? e.message : String(e))
        continue
      }
      this.emit('sessionRestored', id)
      // Ask the peers what they have of ours, and tell them what we have of theirs: frames
      // lost in flight on either side of the drop are resent from that.
      const now = this.sessions.get(id)
      if (now) this.sendControl(id, { resume: true, ack: now.delivery.acks() })
    }
  }

  private receive(text: string): void {
    const parsed = parseFrame(text, this.opts.maxNestingDepth)
    if (!parsed.ok) {
      const reason = `unreadable frame from server: ${parsed.error.result_msg}`
      this.emit('refused', reason, parsed.error.partial?.sessionid ?? null)
      this.emit('error', new Error(reason))
      return
    }
    const frame = parsed.frame
    if (frame.msgtype === 'data' && !this.admit(frame)) return
    this.emit('frame', frame)
    switch (frame.msgtype) {
      case 'reply':
        return this.settle(frame)
      case 'data':
        return this.emit('data', frame)
      case 'notify':
        if (frame.operation === 'iam') {
          void this.authenticate()
          return
        }
        if (frame.operation === 'ras_alive') {
          const waiters = this.keepaliveWaiters
          this.keepaliveWaiters = []
          for (const w of waiters) w(frame)
        }
        if (frame.sessionid) {
          if (frame.operation === 'destroy_session') this.sessions.delete(frame.sessionid)
          else if (frame.operation === 'join_session' || frame.operation === 'leave_session') {
            // Someone else is in the session now: a newcomer starts at our next frame.
            this.sessions.get(frame.sessionid)?.delivery.newEpoch()
          }
        }
        this.emit('notify', frame)
        return
      case 'request':
        return // servers do not send requests
    }
  }

  /** Delivery bookkeeping of an incoming data frame; false when it is not for the application. */
  private admit(frame: DataFrame): boolean {
    const sessionid = frame.sessionid ?? (this.sessions.size === 1 ? this.sessionIds[0] : undefined)
    const held = sessionid === undefined ? undefined : this.sessions.get(sessionid)
    const data = frame.data
    if (isObject(data) && data.type === DELIVERY_TYPE) {
      const control = readControl(data, this.streamId)
      if (control) {
        if (held && sessionid !== undefined) this.onControl(sessionid, held, control)
        return false
      }
    }
    const stamp = readStamp(frame[DELIVERY_KEY])
    if (!stamp || !held || sessionid === undefined || stamp.from === this.streamId) return true
    const verdict = held.delivery.receive(stamp, Date.now(), this.opts.outboxTtlMs)
    if (verdict.deliver) {
      if (verdict.missed > 0) this.emit('missed', sessionid, verdict.missed)
      return true
    }
    if (verdict.nack) this.sendControl(sessionid, { ack: held.delivery.acks() })
    return false
  }

  private onControl(
    sessionid: string,
    held: HeldSession,
    control: NonNullable<ReturnType<typeof readControl>>
  ): void {
    if (control.skip !== undefined) {
      const missed = held.delivery.skip(control.from, control.skip)
      if (missed > 0) this.emit('missed', sessionid, missed)
    }
    if (control.hasAck) {
      const resend = held.delivery.resendAfter(control.ackForMe, Date.now())
      if (resend) {
        // Resent frames go before anything new, replacing a resend still waiting.
        const again: Outgoing[] = []
        if (resend.skip !== undefined) {
          const from = control.ackForMe === undefined ? held.delivery.epoch : control.ackForMe + 1
          const lost = resend.skip - from + 1
          if (lost > 0) this.emit('dropped', sessionid, lost)
          again.push({
            kind: 'again',
            sessionid,
            text: JSON.stringify(this.controlFrame(sessionid, { skip: resend.skip }))
          })
        }
        for (const text of resend.texts) again.push({ kind: 'again', sessionid, text })
        this.outbox = [
          ...again,
          ...this.outbox.filter((o) => o.kind !== 'again' || o.sessionid !== sessionid)
        ]
        this.pump()
      }
    }
    if (control.resume) this.sendControl(sessionid, { ack: held.delivery.acks() })
  }

  private controlFrame(sessionid: string, body: Record<string, unknown>): DataFrame {
    return this.dataFrame(sessionid, { type: DELIVERY_TYPE, from: this.streamId, ...body })
  }

  /** Control frames are small and rare: written at once when possible, never queued. */
  private sendControl(sessionid: string, body: Record<string, unknown>): void {
    // Allowed while other sessions are still being restored: this one is back.
    if (this._state !== 'ready' || this.ws?.readyState !== WebSocket.OPEN) return
    this.ws.send(JSON.stringify(this.controlFrame(sessionid, body)))
  }

  private dataFrame(sessionid: string, data: Record<string, unknown>): DataFrame {
    return frames.data({ sessionid, channeltype: this.channeltype, data })
  }

  private canWrite(): boolean {
    return this._state === 'ready' && !this.restoring && this.ws?.readyState === WebSocket.OPEN
  }

  /** Counts one data frame against the per-second pace; false when the second is used up. */
  private takeBudget(now: number): boolean {
    if (now - this.paceWindowStart >= 1000) {
      this.paceWindowStart = now
      this.paceUsed = 0
    }
    if (this.paceUsed >= this.opts.maxDataFramesPerSecond) return false
    this.paceUsed += 1
    return true
  }

  /** Writes what waits in the outbox, in order, as fast as the pace allows. */
  private pump(): void {
    if (this.paceTimer || !this.canWrite()) return
    const expired: DataFrame[] = []
    const now = Date.now()
    while (this.outbox.length > 0 && this.canWrite()) {
      const next = this.outbox[0]!
      if (
        !this.sessions.has(next.sessionid) ||
        (next.kind === 'data' && now - next.at > this.opts.outboxTtlMs)
      ) {
        this.outbox.shift()
        if (next.kind === 'data') expired.push(this.dataFrame(next.sessionid, next.data))
        continue // a resend for a session no longer held has nobody to reach
      }
      if (!this.takeBudget(now)) {
        this.paceTimer = setTimeout(
          () => {
            this.paceTimer = null
            this.contained('the paced outbox', () => this.pump())
          },
          Math.max(1, this.paceWindowStart + 1000 - now)
        )
        break
      }
      this.outbox.shift()
      if (next.kind === 'again') {
        this.ws!.send(next.text)
        continue
      }
      const held = this.sessions.get(next.sessionid)!
      const frame = this.dataFrame(next.sessionid, next.data)
      const stamp = held.delivery.stamp(this.streamId)
      frame[DELIVERY_KEY] = stamp
      const text = JSON.stringify(frame)
      this.ws!.send(text)
      held.delivery.sent(stamp.seq, text, now)
      this.emit('sent', frame)
    }
    if (expired.length) this.emit('expired', expired)
  }

  /**
   * Runs work that no caller waits on (a socket event, a timer): a failure in it, or in a
   * listener it calls, is logged and reported as an error of this connection, and the process
   * carries on.
   */
  private contained(what: string, work: () => void): void {
    try {
      work()
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e))
      console.error(`channel client ${this.url}: ${what} failed: ${error.message}`)
      try {
        this.emit('error', error)
      } catch {
        // a failing error listener has nobody left to tell
      }
    }
  }

  private settle(reply: ReplyFrame): void {
    let key = reply.trxid
    if (key === undefined && reply.operation !== undefined) {
      // Liberal: a server that drops trxid answers the oldest request of that operation. A reply
      // naming no operation (429, a refused data frame, 503 not delivered) or another trxid is
      // not an answer to any of them: taking it as one would settle a request still in hand.
      for (const [k, p] of this.pending) {
        if (p.operation === reply.operation) {
          key = k
          break
        }
      }
    }
    const pending = key === undefined ? undefined : this.pending.get(key)
    if (!pending || key === undefined) {
      if (reply.result_cd !== ResultCode.OK) {
        this.emit('error', new ChannelError(reply.result_cd, reply.result_msg, reply))
      }
      return
    }
    this.pending.delete(key)
    clearTimeout(pending.timer)
    if (reply.result_cd === ResultCode.OK) pending.resolve(reply)
    else pending.reject(new ChannelError(reply.result_cd, reply.result_msg, reply))
  }

  private transmit(frame: Frame): void {
    const ws = this.ws
    if (!ws || ws.readyState !== WebSocket.OPEN) return
    ws.send(JSON.stringify(frame))
    this.emit('sent', frame)
  }

  private startKeepalive(): void {
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer)
    this.keepaliveTimer = null
    if (this.opts.keepaliveIntervalMs <= 0) return // none of its own: the application sends them
    this.keepaliveTimer = setInterval(() => this.transmit(frames.rasAlive()), this.opts.keepaliveIntervalMs)
  }

  private lost(reason: string): void {
    this.authInFlight = false
    this.restoring = false
    this.clearTimers()
    this.failPending(reason)
    if (this.disposed) return
    const refusal = this.refusal
    const firstAttemptFailed = this.readyWaiters.length > 0 && this.attempt === 0 && this._state !== 'ready'
    if (refusal !== null || firstAttemptFailed || !this.policy.enabled) {
      const why = refusal?.message ?? reason
      this.settleReady(new ChannelError(refusal?.status ?? ResultCode.SYSTEM_ERROR, why))
      this.setState('closed', why)
      return
    }
    this.attempt += 1
    const delay = backoffDelay(this.attempt, this.policy, this.random())
    this.setState('reconnecting', `${reason}; retrying in ${delay} ms`)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      this.open()
    }, delay)
  }

  private settleReady(error: Error | null): void {
    const waiters = this.readyWaiters
    this.readyWaiters = []
    for (const w of waiters) {
      if (error) w.reject(error)
      else w.resolve()
    }
  }

  private failPending(reason: string): void {
    for (const [key, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new ChannelError(ResultCode.SYSTEM_ERROR, reason))
      this.pending.delete(key)
    }
  }

  private clearTimers(): void {
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer)
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.connectTimer) clearTimeout(this.connectTimer)
    if (this.iamTimer) clearTimeout(this.iamTimer)
    if (this.paceTimer) clearTimeout(this.paceTimer)
    this.keepaliveTimer = this.reconnectTimer = this.connectTimer = this.iamTimer = this.paceTimer = null
  }
}
